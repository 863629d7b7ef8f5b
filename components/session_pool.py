"""The component: a resource group (or an existing one), a session pool, its grants and its guardrails."""

from typing import NotRequired, TypedDict

import pulumi
from pulumi_azure_native import authorization, resources

from components import pool_body
from components.checks import check_inputs
from components.deployer import current_deployer
from components.grants import assign_role
from components.roles import SESSION_EXECUTOR, SESSION_POOLS_CONTRIBUTOR, role_definition_id, subscription_of
from components.settings import NAMESPACE, SYSTEM_IDENTITY, with_defaults
from dynamic_sessions.azure_facts import SCOPE as TOKEN_SCOPE

MANAGED_BY = "pulumi"


class ExecutorArgs(TypedDict):
    """A principal allowed to run code in the pool (for example a consuming app's managed identity)."""

    principal_id: str
    """The principal's object id (a GUID)."""
    principal_type: str
    """`User`, `Group` or `ServicePrincipal` (managed identities are service principals)."""


class GrantOutput(TypedDict):
    """A role assignment the pool's stack declared on the pool."""

    principalId: str
    """The object id granted."""
    principalType: str
    """`User`, `Group` or `ServicePrincipal`, as sent to Azure."""
    roleDefinitionId: str
    """The role definition id, in the pool's subscription."""


class SessionPoolArgs(TypedDict):
    """Inputs of a `SessionPool`; `components.settings` validates every value known when it is declared."""

    location: pulumi.Input[str]
    """Azure region of the resource group and the pool, such as `northcentralus`."""
    pool_name: pulumi.Input[str]
    """The pool's name: 3..32 lowercase letters and digits, starting with a letter."""
    container_type: NotRequired[pulumi.Input[str]]
    """`NodeLTS` (JavaScript, the default), `PythonLTS` or `Shell`. Changing it replaces the pool and its endpoint."""
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
    deployer_principal_type: NotRequired[str]
    """`auto` (default: read from the deploying identity's token), `User` or `ServicePrincipal`; a value that
    contradicts the identity deploying stops the deployment before any resource."""
    grant_contributor: NotRequired[bool]
    """Also grant Container Apps SessionPools Contributor to every principal granted here; default false."""
    executors: NotRequired[list[ExecutorArgs]]
    """Principals no other stack owns, granted the Session Executor role by known object id. An app with its
    own stack grants itself with a `SessionExecutorGrant` there instead: one owner per grant."""
    tags: NotRequired[pulumi.Input[dict[str, str]]]
    """Tags on the resource group and the pool, merged over the defaults managedBy, stack and project."""
    protect: NotRequired[bool]
    """Pulumi `protect` on the group, the pool, the lock and the grants: destroy and replace refuse; default false."""
    lock: NotRequired[str]
    """`none` (default), `CanNotDelete` or `ReadOnly`: an Azure management lock on the pool."""
    resource_group_name: NotRequired[str]
    """An explicit name for the resource group this stack creates; unset derives `<name>-rg<random>`."""
    existing_resource_group: NotRequired[str]
    """A resource group this stack uses but does not own: never created, tagged nor deleted by it."""
    identity: NotRequired[list[str]]
    """The pool's managed identities: `system` and/or user-assigned identity resource ids; default none."""
    identity_lifecycle: NotRequired[str]
    """`None` (default) or `Main`: whether session code can use the pool's identities."""
    lifecycle_type: NotRequired[str]
    """`Timed` (default), the only one built-in pools allow: a session ends a cooldown after its last request."""
    mcp_server: NotRequired[bool]
    """Enable the pool's platform-managed MCP server; default false. Its API key is never an output."""


class SessionPool(pulumi.ComponentResource):
    """A dynamic-sessions pool in its resource group, callable by the principals granted."""

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
    """The session runtime: `NodeLTS`, `PythonLTS` or `Shell`, as Azure reports it."""
    executor_role_definition_id: pulumi.Output[str]
    """The Session Executor role definition id the pool's grants use (in the pool's subscription)."""
    pool_api_version: pulumi.Output[str]
    """The ARM api-version the pool is declared at."""
    grants: pulumi.Output[list[GrantOutput]]
    """Every role assignment this pool declares on itself (the deployer's included)."""
    mcp_server_endpoint: pulumi.Output[str | None]
    """The MCP server's URL when `mcpServer` is on, as Azure reports it."""
    pool_identity_principal_id: pulumi.Output[str | None]
    """The principal id of the pool's system-assigned identity, when it has one."""

    def __init__(self, name: str, args: SessionPoolArgs, opts: pulumi.ResourceOptions | None = None):
        check_inputs(args)  # before anything is registered, as for stack settings
        given = with_defaults(args)
        # Before any resource too: a principal type the deploying identity contradicts never reaches Azure.
        deployer = current_deployer(given["deployer_principal_type"]) if given["grant_deployer"] else None
        super().__init__(f"{NAMESPACE}:index:SessionPool", name, {}, opts)
        protect = given["protect"]
        child = pulumi.ResourceOptions(parent=self, protect=protect)
        tags = pulumi.Output.from_input(given["tags"]).apply(
            lambda given: {
                "managedBy": MANAGED_BY,
                "stack": pulumi.get_stack(),
                "project": pulumi.get_project(),
                **(given or {}),
            }
        )

        existing = given["existing_resource_group"]
        if existing:
            group_name: pulumi.Output[str] = pulumi.Output.from_input(existing)
        else:
            group = resources.ResourceGroup(
                f"{name}-rg",
                resource_group_name=given["resource_group_name"],
                location=args["location"],
                tags=tags,
                opts=child,
            )
            group_name = group.name

        identities = tuple(given["identity"])
        pool = resources.Resource(
            f"{name}-pool",
            api_version=pool_body.API_VERSION,
            resource_provider_namespace=pool_body.PROVIDER_NAMESPACE,
            resource_type=pool_body.RESOURCE_TYPE,
            parent_resource_path="",
            resource_group_name=group_name,
            resource_name_=args["pool_name"],
            location=args["location"],
            tags=tags,
            identity=pool_body.identity_args(identities),
            properties=pool_body.properties_of(given),
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=protect,
                # Azure updates neither in place, and the generic resource's schema cannot say so.
                replace_on_changes=list(pool_body.REPLACED_ON_CHANGE),
                # The name is explicit, so a replacement (new container type) must free it first.
                delete_before_replace=True,
                aliases=[pulumi.Alias(type_=pool_body.TYPED_POOL_TYPE)],
            ),
        )

        grants: list[tuple[str, str, str]] = []
        if deployer is not None:
            grants.append(("deployer", deployer.object_id, deployer.principal_type))
        for executor in given["executors"]:
            principal = executor["principal_id"].lower()
            grants.append((principal, principal, executor["principal_type"]))
        roles = [("executor", SESSION_EXECUTOR, "Run code in the dynamic-sessions pool")]
        if given["grant_contributor"]:
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
                protect=protect,
            )
            for role, role_guid, description in roles
            for label, principal_id, principal_type in grants
        ]

        level = given["lock"]
        self.lock: authorization.ManagementLockByScope | None = None
        if level != "none":
            # On the pool, not its group: a group given as existingResourceGroup holds what others own.
            # After the grants: a ReadOnly lock would refuse role assignments written at its scope later.
            self.lock = authorization.ManagementLockByScope(
                f"{name}-lock",
                scope=pool.id,
                level=level,
                lock_name=pulumi.Output.from_input(args["pool_name"]).apply(lambda pool_name: f"{pool_name}-lock"),
                notes="Declared by the dynamic-sessions stack; remove the lock setting and run `pulumi up` to lift it.",
                opts=pulumi.ResourceOptions(parent=self, protect=protect, depends_on=self.role_assignments),
            )

        properties = pool.properties
        self.pool_management_endpoint = properties.apply(lambda p: p["poolManagementEndpoint"].rstrip("/"))
        self.pool_name = pool.name
        self.pool_id = pool.id
        self.resource_group_name = group_name
        self.location = pool.location.apply(lambda location: location or "")
        self.token_scope = pulumi.Output.from_input(TOKEN_SCOPE)
        self.container_type = properties.apply(lambda p: p["containerType"])
        self.executor_role_definition_id = pool.id.apply(
            lambda pool_id: role_definition_id(subscription_of(pool_id), SESSION_EXECUTOR)
        )
        self.pool_api_version = pulumi.Output.from_input(pool_body.API_VERSION)
        self.grants = pool.id.apply(
            lambda pool_id: [
                GrantOutput(
                    principalId=principal_id,
                    principalType=principal_type,
                    roleDefinitionId=role_definition_id(subscription_of(pool_id), role_guid),
                )
                for _, role_guid, _ in roles
                for _, principal_id, principal_type in grants
            ]
        )
        mcp = given["mcp_server"]
        self.mcp_server_endpoint = properties.apply(
            lambda p: p.get("mcpServerSettings", {}).get("mcpServerEndpoint") if mcp else None
        )
        self.pool_identity_principal_id = pool.identity.apply(
            lambda identity: identity.principal_id if identity and SYSTEM_IDENTITY in identities else None
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
                "pool_api_version": self.pool_api_version,
                "grants": self.grants,
                "mcp_server_endpoint": self.mcp_server_endpoint,
                "pool_identity_principal_id": self.pool_identity_principal_id,
            }
        )
