"""A dynamic-sessions pool (NodeLTS by default) for one stack.

Reads the stack's config, validates all of it before declaring anything, declares one
SessionPool component, and exports what consuming apps need.
"""

from typing import cast

import pulumi

from components.checks import parse_settings
from components.session_pool import SessionPool, SessionPoolArgs
from components.settings import LOCATION_KEY, PROJECT_KEYS, SYSTEM_IDENTITY, SettingsError

config = pulumi.Config()
raw = {key: config.get(key) for key in PROJECT_KEYS}
raw[LOCATION_KEY] = pulumi.Config("azure-native").get("location")
# Every key the stack holds, so a misspelt one is an error instead of a silently ignored setting. The CLI
# hands them over in PULUMI_CONFIG; tests and the automation API may set them in-process.
config_keys = set(pulumi.runtime.get_config_env()) | set(pulumi.runtime.config.CONFIG.get())

try:
    settings = parse_settings(raw, pulumi.get_project(), pulumi.get_stack(), config_keys)
    pool = SessionPool(pulumi.get_stack(), cast(SessionPoolArgs, settings.component_args()))
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
for name, value in settings.declared_outputs().items():
    pulumi.export(name, value)
pulumi.export("grants", pool.grants)
pulumi.export("poolApiVersion", pool.pool_api_version)
if settings["mcpServer"]:
    pulumi.export("mcpServerEndpoint", pool.mcp_server_endpoint)
if SYSTEM_IDENTITY in settings["identity"]:
    pulumi.export("poolIdentityPrincipalId", pool.pool_identity_principal_id)
