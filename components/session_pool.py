"""The component: a resource group, a code-interpreter session pool and its Session Executor grants."""

from typing import NotRequired, TypedDict

import pulumi
from pulumi_azure_native import app, authorization, resources

from components.grants import assign_role
from components.roles import SESSION_EXECUTOR, SESSION_POOLS_CONTRIBUTOR, role_definition_id, subscription_of
from components.settings import check_inputs

TOKEN_SCOPE = "https://dynamicsessions.io/.default"  # noqa: S105 (a scope, not a secret)
"""What a caller of the pool's data plane asks Microsoft Entra ID for (the bare audience fails with AADSTS70011)."""


class ExecutorArgs(TypedDict):
    """A principal allowed to run code in the pool (for example a consuming app's managed identity)."""

    principal_id: str
    """The principal's object id (a GUID)."""
    principal_type: str
    """`User`, `Group` or `ServicePrincipal` (managed identities are service principals)."""


class SessionPoolArgs(TypedDict):
    """Inputs of a `SessionPool`; `components.settings` validates every value known when it is declared."""

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
    """Pre-warmed sessions, from 0 to the most sessions; unset leaves Azure's default."""
    egress_enabled: NotRequired[pulumi.Input[bool]]
    """Whether session code may open outbound connections; default false."""
    grant_deployer: NotRequired[bool]
    """Grant the deploying identity the Session Executor role (the smoke check runs as it); default true."""
    deployer_principal_type: NotRequired[pulumi.Input[str]]
    """The deploying identity's type: `User` (default) or `ServicePrincipal` (CI, managed identity)."""
    grant_contributor: NotRequired[bool]
    """Also grant Container Apps SessionPools Contributor to every principal granted here; default false."""
    executors: NotRequired[list[ExecutorArgs]]
    """Further principals granted the Session Executor role on the pool, by known object id. For an identity
    created in another program, declare a `SessionExecutorGrant` there instead."""
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
    container_type: pulumi.Output[str]
    """The session runtime: `NodeLTS` or `PythonLTS`."""
    executor_role_definition_id: pulumi.Output[str]
    """The Session Executor role definition id the pool's grants use (in the pool's subscription)."""

    def __init__(self, name: str, args: SessionPoolArgs, opts: pulumi.ResourceOptions | None = None):
        check_inputs(args)  # before anything is registered, as for stack settings
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
        roles = [("executor", SESSION_EXECUTOR, "Run code in the dynamic-sessions pool")]
        if args.get("grant_contributor", False):
            roles.append(("contributor", SESSION_POOLS_CONTRIBUTOR, "Manage the dynamic-sessions pool (opt-in)"))
        self.pool = pool
        self.role_assignments: list[authorization.RoleAssignment] = [
            assign_role(
                f"{name}-{role}-{label}",
                scope=pool.id,
                principal_id=principal_id,
                principal_type=principal_type,
                role_guid=role_guid,
                description=description,
                parent=self,
            )
            for role, role_guid, description in roles
            for label, principal_id, principal_type in grants
        ]

        self.pool_management_endpoint = pool.pool_management_endpoint.apply(lambda url: url.rstrip("/"))
        self.pool_name = pool.name
        self.pool_id = pool.id
        self.resource_group_name = group.name
        self.location = pool.location
        self.token_scope = pulumi.Output.from_input(TOKEN_SCOPE)
        self.container_type = pool.container_type
        self.executor_role_definition_id = pool.id.apply(
            lambda pool_id: role_definition_id(subscription_of(pool_id), SESSION_EXECUTOR)
        )
        self.register_outputs(
            {
                "pool_management_endpoint": self.pool_management_endpoint,
                "pool_name": self.pool_name,
                "pool_id": self.pool_id,
                "resource_group_name": self.resource_group_name,
                "location": self.location,
                "token_scope": self.token_scope,
                "container_type": self.container_type,
                "executor_role_definition_id": self.executor_role_definition_id,
            }
        )
