"""The component: a resource group, a code-interpreter session pool and its Session Executor grants."""

from typing import NotRequired, TypedDict

import pulumi
from pulumi_azure_native import app, authorization, resources

from components.roles import SESSION_EXECUTOR, role_assignment_name, role_definition_id

TOKEN_SCOPE = "https://dynamicsessions.io/.default"  # noqa: S105 (a scope, not a secret)
"""What a caller of the pool's data plane asks Microsoft Entra ID for (the bare audience fails with AADSTS70011)."""


class ExecutorArgs(TypedDict):
    """A principal allowed to run code in the pool (for example a consuming app's managed identity)."""

    principal_id: str
    """The principal's object id (a GUID)."""
    principal_type: str
    """`User`, `Group` or `ServicePrincipal` (managed identities are service principals)."""


class SessionPoolArgs(TypedDict):
    """Inputs of a `SessionPool`; `components.settings` validates them when they come from stack config."""

    location: pulumi.Input[str]
    """Azure region of the resource group and the pool, such as `northcentralus`."""
    pool_name: pulumi.Input[str]
    """The pool's name: 3..32 lowercase letters and digits, starting with a letter."""
    container_type: NotRequired[pulumi.Input[str]]
    """`NodeLTS` (JavaScript, the default) or `PythonLTS`. Changing it replaces the pool and its endpoint."""
    max_sessions: NotRequired[pulumi.Input[int]]
    """Most sessions alive at once, 1..600; default 5."""
    cooldown_seconds: NotRequired[pulumi.Input[int]]
    """Idle seconds after which a session ends, 300..3600; default 300."""
    ready_sessions: NotRequired[pulumi.Input[int]]
    """Pre-warmed sessions, 0..max_sessions; unset leaves Azure's default."""
    egress_enabled: NotRequired[pulumi.Input[bool]]
    """Whether session code may open outbound connections; default false."""
    grant_deployer: NotRequired[bool]
    """Grant the deploying identity the Session Executor role (the smoke check runs as it); default true."""
    deployer_principal_type: NotRequired[pulumi.Input[str]]
    """The deploying identity's type: `User` (default) or `ServicePrincipal` (CI, managed identity)."""
    executors: NotRequired[list[ExecutorArgs]]
    """Further principals granted the Session Executor role on the pool."""
    tags: NotRequired[pulumi.Input[dict[str, str]]]
    """Tags put on the resource group and the pool."""


class SessionPool(pulumi.ComponentResource):
    """A dynamic-sessions code-interpreter pool in its own resource group, callable by the principals granted."""

    pool_management_endpoint: pulumi.Output[str]
    """The data-plane base URL, without a trailing slash."""
    pool_name: pulumi.Output[str]
    """The pool's name."""
    pool_id: pulumi.Output[str]
    """The pool's ARM resource id (the scope of its role assignments)."""
    resource_group_name: pulumi.Output[str]
    """The resource group holding the pool."""
    location: pulumi.Output[str]
    """The pool's region."""
    token_scope: pulumi.Output[str]
    """The scope callers request a token for."""

    def __init__(self, name: str, args: SessionPoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("dynamic-sessions:index:SessionPool", name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.get("tags") or {}

        group = resources.ResourceGroup(f"{name}-rg", location=args["location"], tags=tags, opts=child)

        ready = args.get("ready_sessions")
        egress = pulumi.Output.from_input(args.get("egress_enabled", False))
        pool = app.ContainerAppsSessionPool(
            f"{name}-pool",
            session_pool_name=args["pool_name"],
            resource_group_name=group.name,
            location=group.location,
            # A plain string: the SDK's ContainerType enum predates NodeLTS, but the field is open.
            container_type=args.get("container_type", "NodeLTS"),
            pool_management_type=app.PoolManagementType.DYNAMIC,
            dynamic_pool_configuration=app.DynamicPoolConfigurationArgs(
                lifecycle_configuration=app.LifecycleConfigurationArgs(
                    lifecycle_type=app.LifecycleType.TIMED,
                    cooldown_period_in_seconds=args.get("cooldown_seconds", 300),
                ),
            ),
            scale_configuration=app.ScaleConfigurationArgs(
                max_concurrent_sessions=args.get("max_sessions", 5),
                ready_session_instances=ready,
            ),
            session_network_configuration=app.SessionNetworkConfigurationArgs(
                status=egress.apply(
                    lambda on: (
                        app.SessionNetworkStatus.EGRESS_ENABLED if on else app.SessionNetworkStatus.EGRESS_DISABLED
                    )
                ),
            ),
            tags=tags,
            # The name is explicit, so a replacement (new container type) must free it first.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )

        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        grants: list[tuple[str, pulumi.Input[str], pulumi.Input[str]]] = []
        if args.get("grant_deployer", True):
            grants.append(("deployer", client.object_id, args.get("deployer_principal_type", "User")))
        for executor in args.get("executors") or []:
            principal = executor["principal_id"].lower()
            grants.append((principal, principal, executor["principal_type"]))
        self.pool = pool
        self.role_assignments: list[authorization.RoleAssignment] = [
            self._grant_executor(f"{name}-executor-{label}", pool, client.subscription_id, principal_id, principal_type)
            for label, principal_id, principal_type in grants
        ]

        self.pool_management_endpoint = pool.pool_management_endpoint.apply(lambda url: url.rstrip("/"))
        self.pool_name = pool.name
        self.pool_id = pool.id
        self.resource_group_name = group.name
        self.location = pool.location
        self.token_scope = pulumi.Output.from_input(TOKEN_SCOPE)
        self.register_outputs(
            {
                "pool_management_endpoint": self.pool_management_endpoint,
                "pool_name": self.pool_name,
                "pool_id": self.pool_id,
                "resource_group_name": self.resource_group_name,
                "location": self.location,
                "token_scope": self.token_scope,
            }
        )

    def _grant_executor(
        self,
        resource_name: str,
        pool: app.ContainerAppsSessionPool,
        subscription_id: pulumi.Input[str],
        principal_id: pulumi.Input[str],
        principal_type: pulumi.Input[str],
    ) -> authorization.RoleAssignment:
        return authorization.RoleAssignment(
            resource_name,
            role_assignment_name=pulumi.Output.all(pool.id, principal_id).apply(
                lambda parts: role_assignment_name(parts[0], parts[1], SESSION_EXECUTOR)
            ),
            scope=pool.id,
            principal_id=principal_id,
            # Without it the SDK sends `User`, which fails for service principals and new identities.
            principal_type=principal_type,
            role_definition_id=pulumi.Output.from_input(subscription_id).apply(
                lambda sub: role_definition_id(sub, SESSION_EXECUTOR)
            ),
            description="Run code in the dynamic-sessions pool",
            opts=pulumi.ResourceOptions(parent=self),
        )
