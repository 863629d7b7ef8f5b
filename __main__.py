"""A dynamic-sessions code-interpreter pool (NodeLTS by default) for one stack.

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
except SettingsError as error:
    # RunError prints the message alone, without a Python traceback.
    raise pulumi.RunError(str(error)) from None

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
}
if settings.ready_sessions is not None:
    args["ready_sessions"] = settings.ready_sessions

pool = SessionPool(pulumi.get_stack(), args)

pulumi.export("poolManagementEndpoint", pool.pool_management_endpoint)
pulumi.export("poolName", pool.pool_name)
pulumi.export("poolId", pool.pool_id)
pulumi.export("resourceGroupName", pool.resource_group_name)
pulumi.export("location", pool.location)
pulumi.export("tokenScope", pool.token_scope)
pulumi.export("containerType", pool.container_type)
pulumi.export("sessionExecutorRoleDefinitionId", pool.executor_role_definition_id)
