"""A dynamic-sessions pool (NodeLTS by default) for one stack.

Reads the stack's config, validates all of it before declaring anything, declares one
SessionPool component, and exports what consuming apps need.
"""

import pulumi

from components.session_pool import SessionPool, SessionPoolArgs
from components.settings import LOCATION_KEY, PROJECT_KEYS, SettingsError, parse_settings

config = pulumi.Config()
raw = {key: config.get(key) for key in PROJECT_KEYS}
raw[LOCATION_KEY] = pulumi.Config("azure-native").get("location")
# Every key the stack holds, so a misspelt one is an error instead of a silently ignored setting. The CLI
# hands them over in PULUMI_CONFIG; tests and the automation API may set them in-process.
config_keys = set(pulumi.runtime.get_config_env()) | set(pulumi.runtime.config.CONFIG.get())

try:
    settings = parse_settings(raw, pulumi.get_project(), pulumi.get_stack(), config_keys)
    args: SessionPoolArgs = {
        "location": settings.location,
        "pool_name": settings.pool_name,
        "container_type": settings.container_type,
        "max_sessions": settings.max_sessions,
        "cooldown_seconds": settings.cooldown_seconds,
        "egress_enabled": settings.egress_enabled,
        "grant_deployer": settings.grant_deployer,
        "deployer_principal_type": settings.deployer_principal_type,
        "grant_contributor": settings.grant_contributor,
        "executors": [{"principal_id": e.principal_id, "principal_type": e.principal_type} for e in settings.executors],
        "tags": dict(settings.tags),
        "protect": settings.protect,
        "lock": settings.lock,
        "identity": list(settings.identity),
        "identity_lifecycle": settings.identity_lifecycle,
        "lifecycle_type": settings.lifecycle_type,
        "mcp_server": settings.mcp_server,
    }
    optional = {
        "ready_sessions": settings.ready_sessions,
        "resource_group_name": settings.resource_group_name,
        "existing_resource_group": settings.existing_resource_group,
        "max_alive_seconds": settings.max_alive_seconds,
    }
    args.update({key: value for key, value in optional.items() if value is not None})  # type: ignore[typeddict-item]
    pool = SessionPool(pulumi.get_stack(), args)
except SettingsError as error:
    # RunError prints the message alone, without a Python traceback.
    raise pulumi.RunError(str(error)) from None

pulumi.export("poolManagementEndpoint", pool.pool_management_endpoint)
pulumi.export("poolName", pool.pool_name)
pulumi.export("poolId", pool.pool_id)
pulumi.export("resourceGroupName", pool.resource_group_name)
pulumi.export("location", pool.location)
pulumi.export("tokenScope", pool.token_scope)
pulumi.export("containerType", pool.container_type)
pulumi.export("sessionExecutorRoleDefinitionId", pool.executor_role_definition_id)
# What the stack declared, for `python -m smoke --verify` to compare with what Azure holds.
pulumi.export("maxSessions", settings.max_sessions)
pulumi.export("cooldownSeconds", settings.cooldown_seconds)
pulumi.export("egressEnabled", settings.egress_enabled)
if settings.ready_sessions is not None:
    pulumi.export("readySessions", settings.ready_sessions)
pulumi.export("grants", pool.grants)
pulumi.export("poolApiVersion", pool.pool_api_version)
pulumi.export("lifecycleType", settings.lifecycle_type)
if settings.max_alive_seconds is not None:
    pulumi.export("maxAliveSeconds", settings.max_alive_seconds)
if settings.mcp_server:
    pulumi.export("mcpServerEndpoint", pool.mcp_server_endpoint)
if "system" in settings.identity:
    pulumi.export("poolIdentityPrincipalId", pool.pool_identity_principal_id)
