"""The stack settings, declared once: one row per setting in `SETTINGS`.

Each row holds the config key, the component input it becomes, its type, its default, what is allowed, its
description, and where it lands. Everything else is derived from the table: the keys the program reads, the
defaults, the checks (`components.checks`), `Pulumi.yaml`'s `config:` block and the docs' settings table
(`components.settings_docs`), the component's arguments and the outputs `python -m smoke --verify` compares.
"""

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dynamic_sessions.azure_facts import CONTAINER_TYPES, DEFAULT_CONTAINER_TYPE

DEPLOYER_PRINCIPAL_TYPES = ("auto", "User", "ServicePrincipal")
LOCK_LEVELS = ("none", "CanNotDelete", "ReadOnly")
IDENTITY_LIFECYCLES = ("None", "Main")
LIFECYCLE_TYPES = ("Timed",)
"""Built-in (code interpreter and shell) pools end a session after its cooldown: `Timed` only. The spec's
`OnContainerExit` is for CustomContainer pools, a type this component does not deploy."""
SYSTEM_IDENTITY = "system"
USER_IDENTITY_PATTERN = re.compile(
    r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\w._()]{1,90}"
    r"/providers/Microsoft\.ManagedIdentity/userAssignedIdentities/[-\w]{3,128}$",
    re.IGNORECASE,
)
RESOURCE_GROUP_PATTERN = re.compile(r"^[-\w._()]{0,89}[-\w_()]$")
"""ARM's rule for group names: 1..90 letters, digits, `-_.()`, not ending in a period."""
DEFAULT_TAG_KEYS = ("managedBy", "stack", "project")
MAX_SESSIONS_RANGE = (1, 600)
COOLDOWN_RANGE = (300, 3600)
POOL_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]{2,31}$")
LOCATION_PATTERN = re.compile(r"^[a-z][a-z0-9]+$")
# Azure Resource Manager's tag limits.
MAX_TAGS = 50
MAX_TAG_KEY = 512
MAX_TAG_VALUE = 256
TAG_KEY_FORBIDDEN = set("<>%&\\?/")

LOCATION_KEY = "azure-native:location"
NAMESPACE = "dynamic-sessions"
"""The config namespace of the project's own keys (the project name in `Pulumi.yaml`), which is also the name of
the Pulumi package the components are published in (the first part of their type tokens)."""

ConfigType = Literal["string", "integer", "boolean", "array", "object"]


@dataclass(frozen=True)
class Setting:
    """One stack setting: everything written about it, once."""

    key: str
    """The config key (in the `dynamic-sessions` namespace unless it names its own, as `azure-native:location`)."""
    input: str
    """The `SessionPool` input it becomes (its schema name is the same in camelCase)."""
    type: ConfigType
    """Its type in `Pulumi.yaml` (the CLI checks it too)."""
    description: str
    """What it does: `Pulumi.yaml`'s description."""
    allowed: str
    """What is allowed, as the docs' settings table says it."""
    default: Any = None
    """Its default; None: unset (or derived), and then not declared in `Pulumi.yaml`."""
    lands: str = ""
    """Where the value goes: a path in the pool's ARM body (`properties.*`), or the resources it shapes."""
    choices: tuple[str, ...] = ()
    bounds: tuple[int, int] | None = None
    items: str | None = None
    """The type of an array's items, for `Pulumi.yaml`."""
    docs_type: str = ""
    """The docs' type column, when it says more than `type`."""
    docs_default: str = ""
    """The docs' default column, when the setting has no default of its own."""
    refusal: str = ""
    """What a refused value is told is allowed, when more than `one of <choices>`."""
    required: bool = False
    exported: bool = False
    """Exported under its key as declared (when set), for `python -m smoke --verify` to compare with Azure."""

    @property
    def schema_name(self) -> str:
        """The input's name in the package schema, which messages about a component's inputs use."""
        head, *rest = self.input.split("_")
        return head + "".join(word.title() for word in rest)

    @property
    def in_project(self) -> bool:
        return ":" not in self.key


SETTINGS: tuple[Setting, ...] = (
    Setting(
        key=LOCATION_KEY,
        input="location",
        type="string",
        description="required: an Azure region, such as northcentralus",
        allowed="an Azure region name, such as `northcentralus`",
        docs_default="required",
        lands="location (of the resource group and the pool)",
        required=True,
    ),
    Setting(
        key="containerType",
        input="container_type",
        type="string",
        default=DEFAULT_CONTAINER_TYPE,
        choices=CONTAINER_TYPES,
        description="Session runtime: NodeLTS (JavaScript), PythonLTS or Shell. Changing it replaces the pool and "
        "its endpoint.",
        allowed="`NodeLTS`, `PythonLTS`, `Shell` (a change replaces the pool)",
        lands="properties.containerType",
    ),
    Setting(
        key="maxSessions",
        input="max_sessions",
        type="integer",
        default=5,
        bounds=MAX_SESSIONS_RANGE,
        description="Most sessions alive at once, {}..{}.".format(*MAX_SESSIONS_RANGE),
        allowed="{}..{}".format(*MAX_SESSIONS_RANGE),
        lands="properties.scaleConfiguration.maxConcurrentSessions",
        exported=True,
    ),
    Setting(
        key="cooldownSeconds",
        input="cooldown_seconds",
        type="integer",
        default=300,
        bounds=COOLDOWN_RANGE,
        description="Idle seconds before a session ends, {}..{}.".format(*COOLDOWN_RANGE),
        allowed="{}..{}".format(*COOLDOWN_RANGE),
        lands="properties.dynamicPoolConfiguration.lifecycleConfiguration.cooldownPeriodInSeconds",
        exported=True,
    ),
    Setting(
        key="readySessions",
        input="ready_sessions",
        type="integer",
        bounds=(0, MAX_SESSIONS_RANGE[1]),
        description="pre-warmed sessions, 0..maxSessions; unset leaves Azure's default",
        allowed="0..`maxSessions`",
        docs_default="unset (Azure's default)",
        lands="properties.scaleConfiguration.readySessionInstances",
        exported=True,
    ),
    Setting(
        key="egressEnabled",
        input="egress_enabled",
        type="boolean",
        default=False,
        description="Let session code open outbound network connections. Off by default, as in Azure and the AVM "
        "module.",
        allowed="`true`/`false`; off is Azure's and the AVM module's safe default",
        lands="properties.sessionNetworkConfiguration.status",
        exported=True,
    ),
    Setting(
        key="poolName",
        input="pool_name",
        type="string",
        description="^[a-z][a-z0-9]{2,31}$; unset derives it from project and stack (dynamicsessions<stack>)",
        allowed="`^[a-z][a-z0-9]{2,31}$`",
        docs_default="`<project><stack>`, letters and digits",
        lands="name (of the pool)",
        required=True,
    ),
    Setting(
        key="grantDeployer",
        input="grant_deployer",
        type="boolean",
        default=True,
        description="Grant the deploying identity the Session Executor role, so `python -m smoke` can run as it.",
        allowed="grant the deploying identity Session Executor (the smoke runs as it)",
        lands="a role assignment on the pool",
    ),
    Setting(
        key="deployerPrincipalType",
        input="deployer_principal_type",
        type="string",
        default="auto",
        choices=DEPLOYER_PRINCIPAL_TYPES,
        description="Type of the deploying identity: auto (read from its token), User, or ServicePrincipal; a value "
        "the identity deploying contradicts stops the deploy before any resource.",
        allowed="`auto` (read from the deployer's token), `User`, `ServicePrincipal`",
        lands="the deployer's role assignment (principalType)",
    ),
    Setting(
        key="grantContributor",
        input="grant_contributor",
        type="boolean",
        default=False,
        description="Also grant Container Apps SessionPools Contributor to every principal granted Session Executor "
        "(opt-in; least privilege is Session Executor alone).",
        allowed="also grant Container Apps SessionPools Contributor to every principal above",
        lands="a second role assignment per principal",
    ),
    Setting(
        key="executors",
        input="executors",
        type="array",
        items="object",
        default=[],
        description="Principals no other stack owns, granted Session Executor: a list of {principalId: <object id "
        "GUID>, principalType: User|Group|ServicePrincipal}, each once.",
        allowed="identities no other stack owns; GUID object ids; `User`, `Group`, `ServicePrincipal`; each once",
        docs_type="list of `{principalId, principalType}`",
        lands="a role assignment on the pool per principal",
    ),
    Setting(
        key="tags",
        input="tags",
        type="object",
        default={},
        description="Tags on the resource group and the pool, over the defaults managedBy, stack, project: a map of "
        "string to string (at most 50 in all; keys without < > % & \\ ? /).",
        allowed="merged over `managedBy`, `stack`, `project`; at most 50 in all; keys without `<>%&\\?/`",
        docs_type="map of strings",
        lands="tags (of the resource group and the pool)",
    ),
    Setting(
        key="protect",
        input="protect",
        type="boolean",
        default=False,
        description="Pulumi protect on the group, the pool, its lock and its grants: destroy and replacement refuse "
        "until it is lifted.",
        allowed="Pulumi `protect` on the group, the pool, the lock and the grants",
        lands="the protect option of every resource",
    ),
    Setting(
        key="lock",
        input="lock",
        type="string",
        default="none",
        choices=LOCK_LEVELS,
        description="An Azure management lock on the pool: none, CanNotDelete, or ReadOnly (which also refuses pool "
        "updates and the MCP key's fetch).",
        allowed="`none`, `CanNotDelete`, `ReadOnly`: an Azure management lock on the pool",
        lands="a management lock on the pool",
    ),
    Setting(
        key="resourceGroupName",
        input="resource_group_name",
        type="string",
        description="an explicit name for the group this stack creates; unset derives <stack>-rg<random>",
        allowed="the name of the group this stack creates: 1..90 of letters, digits, `-_.()`, not ending in `.`",
        docs_default="unset (`<stack>-rg<random>`)",
        lands="name (of the resource group)",
    ),
    Setting(
        key="existingResourceGroup",
        input="existing_resource_group",
        type="string",
        description="a group this stack uses and never deletes (not with resourceGroupName)",
        allowed="a group this stack uses and never creates, tags or deletes; not with `resourceGroupName`",
        docs_default="unset",
        lands="the pool's resource group (none is declared)",
    ),
    Setting(
        key="identity",
        input="identity",
        type="array",
        items="string",
        default=[],
        description="The pool's managed identities: system and/or user-assigned identity resource ids, each once.",
        allowed="`system` and/or user-assigned identity resource ids, each once",
        docs_type="list of strings",
        lands="identity, properties.managedIdentitySettings",
    ),
    Setting(
        key="identityLifecycle",
        input="identity_lifecycle",
        type="string",
        default="None",
        choices=IDENTITY_LIFECYCLES,
        description="None, or Main: session code can then use the pool's identities (it is untrusted code).",
        allowed="`None`, `Main` (session code can use the identities); `Main` needs an identity",
        lands="properties.managedIdentitySettings[].lifecycle",
    ),
    Setting(
        key="lifecycleType",
        input="lifecycle_type",
        type="string",
        default="Timed",
        choices=LIFECYCLE_TYPES,
        description="Timed (a session ends cooldownSeconds after its last request), the only type built-in pools "
        "allow; OnContainerExit is for custom-container pools.",
        allowed="`Timed`, the only type built-in pools allow",
        refusal="Timed (OnContainerExit is for custom-container pools, which this component does not deploy)",
        lands="properties.dynamicPoolConfiguration.lifecycleConfiguration.lifecycleType",
        exported=True,
    ),
    Setting(
        key="mcpServer",
        input="mcp_server",
        type="boolean",
        default=False,
        description="Enable the pool's platform-managed MCP server; the stack then exports mcpServerEndpoint (never "
        "its API key).",
        allowed="enable the pool's platform-managed MCP server",
        lands="properties.mcpServerSettings.isMcpServerEnabled",
    ),
)
BY_KEY: dict[str, Setting] = {setting.key: setting for setting in SETTINGS}
BY_INPUT: dict[str, Setting] = {setting.input: setting for setting in SETTINGS}
PROJECT_KEYS = tuple(setting.key for setting in SETTINGS if setting.in_project)
"""Every key of the project's own namespace the program reads."""
DEFAULTS: dict[str, Any] = {setting.key: setting.default for setting in SETTINGS if setting.in_project}
"""The safe defaults (None: unset, or derived at deploy time)."""
INPUT_KEYS = {setting.input: setting.key for setting in SETTINGS}
"""A `SessionPool`'s inputs and the setting each one is."""


def default_of(name: str) -> Any:
    """A setting's default, by config key or input name: a copy, so no caller can change the table's."""
    setting = BY_KEY.get(name) or BY_INPUT[name]
    return copy.deepcopy(setting.default)


def with_defaults(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Every `SessionPool` input: the one given, else its default (None for one unset by default)."""
    return {s.input: inputs[s.input] if inputs.get(s.input) is not None else default_of(s.input) for s in SETTINGS}


class SettingsError(ValueError):
    """One or more config keys hold values that are not allowed."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Executor:
    principal_id: str
    principal_type: str


@dataclass(frozen=True)
class Settings:
    """A stack's validated settings: `values` holds every setting by config key (None: unset)."""

    values: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def component_args(self) -> dict[str, Any]:
        """The `SessionPool` inputs for these settings: every one that is set, in the input's own shape."""
        args: dict[str, Any] = {}
        for setting in SETTINGS:
            value = self.values[setting.key]
            if value is None:
                continue
            if setting.key == "executors":
                value = [{"principal_id": e.principal_id, "principal_type": e.principal_type} for e in value]
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            args[setting.input] = value
        return args

    def declared_outputs(self) -> dict[str, Any]:
        """The outputs that say what the stack declared, for `python -m smoke --verify` (each only when set)."""
        return {s.key: self.values[s.key] for s in SETTINGS if s.exported and self.values[s.key] is not None}
