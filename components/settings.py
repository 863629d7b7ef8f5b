"""Stack settings: parsing and validation of every config key, before any resource exists.

The Pulumi CLI hands config values to the program as strings (objects as JSON), so every
key is parsed here from its raw form; an error names the key, the value and what is allowed.
All problems are reported together, so one `pulumi up` shows every bad setting at once.
"""

import difflib
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from components.roles import PRINCIPAL_TYPES

CONTAINER_TYPES = ("NodeLTS", "PythonLTS", "Shell")
DEPLOYER_PRINCIPAL_TYPES = ("auto", "User", "ServicePrincipal")
LOCK_LEVELS = ("none", "CanNotDelete", "ReadOnly")
IDENTITY_LIFECYCLES = ("None", "Main")
LIFECYCLE_TYPES = ("Timed", "OnContainerExit")
TIMED_ONLY_CONTAINER_TYPES = ("NodeLTS", "PythonLTS", "Shell")
"""Built-in (code interpreter and shell) pools end a session after its cooldown: `Timed` only. The spec's
`OnContainerExit` example is a CustomContainer pool, a type this component does not deploy."""
MAX_ALIVE_RANGE = (1, 86400)
"""The spec sets no bound; its OnContainerExit example's one day is the ceiling here."""
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

DEFAULTS: dict[str, Any] = {
    "containerType": "NodeLTS",
    "maxSessions": 5,
    "cooldownSeconds": 300,
    "readySessions": None,
    "egressEnabled": False,
    "grantDeployer": True,
    "deployerPrincipalType": "auto",
    "grantContributor": False,
    "executors": [],
    "tags": {},
    "protect": False,
    "lock": "none",
    "resourceGroupName": None,
    "existingResourceGroup": None,
    "identity": [],
    "identityLifecycle": "None",
    "lifecycleType": "Timed",
    "maxAliveSeconds": None,
    "mcpServer": False,
}
"""The safe defaults, stated once; `Pulumi.yaml` declares the same (a test keeps them equal)."""

PROJECT_KEYS = (
    "containerType",
    "maxSessions",
    "cooldownSeconds",
    "readySessions",
    "egressEnabled",
    "poolName",
    "grantDeployer",
    "deployerPrincipalType",
    "grantContributor",
    "executors",
    "tags",
    "protect",
    "lock",
    "resourceGroupName",
    "existingResourceGroup",
    "identity",
    "identityLifecycle",
    "lifecycleType",
    "maxAliveSeconds",
    "mcpServer",
)
LOCATION_KEY = "azure-native:location"
NAMESPACE = "dynamic-sessions"
"""The config namespace of the project's own keys (the project name in `Pulumi.yaml`)."""


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
    location: str
    pool_name: str
    container_type: str = "NodeLTS"
    max_sessions: int = 5
    cooldown_seconds: int = 300
    ready_sessions: int | None = None
    egress_enabled: bool = False
    grant_deployer: bool = True
    deployer_principal_type: str = "auto"
    grant_contributor: bool = False
    executors: tuple[Executor, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    protect: bool = False
    lock: str = "none"
    resource_group_name: str | None = None
    existing_resource_group: str | None = None
    identity: tuple[str, ...] = ()
    identity_lifecycle: str = "None"
    lifecycle_type: str = "Timed"
    max_alive_seconds: int | None = None
    mcp_server: bool = False


def default_pool_name(project: str, stack: str) -> str:
    """A valid pool name from the project and stack names: lowercase letters and digits, 3..32.

    Long names are cut and given a short hash of the full pair so two stacks never share one.
    """
    cleaned = re.sub(r"[^a-z0-9]", "", f"{project}{stack}".lower())
    if not cleaned or not cleaned[0].isalpha():
        cleaned = "pool" + cleaned
    if len(cleaned) > 32:
        digest = hashlib.sha256(f"{project}/{stack}".encode()).hexdigest()[:6]
        cleaned = cleaned[:26] + digest
    return cleaned.ljust(3, "0")


class _Collector:
    """Parses raw config values, gathering every problem instead of stopping at the first."""

    def __init__(self, raw: Mapping[str, str | None]):
        self.raw = raw
        self.problems: list[str] = []

    def fail(self, key: str, value: Any, allowed: str) -> None:
        self.problems.append(f"{key}={_show(value)} is not allowed: {allowed}")

    def string(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.raw.get(key)
        if value is None:
            return str(DEFAULTS[key])
        if value not in choices:
            self.fail(key, value, "one of " + ", ".join(choices))
        return value

    def integer(self, key: str, low: int, high: int) -> int | None:
        """The key's integer, its default when unset, or None when it is not a valid one (a problem is noted)."""
        value = self.raw.get(key)
        if value is None:
            default: int | None = DEFAULTS[key]
            return default
        try:
            number = int(str(value).strip())
        except ValueError:
            self.fail(key, value, f"an integer in {low}..{high}")
            return None
        if not low <= number <= high:
            self.problems.append(f"{key}={number} is out of range: {low}..{high}")
            return None
        return number

    def raw_integer(self, key: str) -> int | None:
        """The key's value as an integer if it is one, without judging its range."""
        try:
            return int(str(self.raw[key]).strip()) if self.raw.get(key) is not None else None
        except ValueError:
            return None

    def boolean(self, key: str) -> bool:
        value = self.raw.get(key)
        if value is None:
            return bool(DEFAULTS[key])
        text = str(value).strip().lower()
        if text not in ("true", "false"):
            self.fail(key, value, "true or false")
            return bool(DEFAULTS[key])
        return text == "true"

    def json_value(self, key: str) -> Any:
        value = self.raw.get(key)
        if value is None:
            return DEFAULTS[key]
        try:
            return json.loads(value)
        except (TypeError, ValueError):
            self.fail(key, value, "a YAML list or map in the stack file (JSON when set by CLI)")
            return DEFAULTS[key]


def _show(value: Any) -> str:
    return value if isinstance(value, str) and value != "" else json.dumps(value)


def _is_guid(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _executors(c: _Collector) -> tuple[Executor, ...]:
    entries = c.json_value("executors")
    if not isinstance(entries, list):
        c.fail("executors", entries, "a list of {principalId, principalType}")
        return ()
    result: list[Executor] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        key = f"executors[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"principalId", "principalType"}:
            c.fail(key, entry, "an object with exactly principalId and principalType")
            continue
        principal_id, principal_type = entry["principalId"], entry["principalType"]
        if not _is_guid(principal_id):
            c.fail(
                f"{key}.principalId", principal_id, "an object id (GUID) such as 00000000-0000-0000-0000-000000000000"
            )
            continue
        if principal_type not in PRINCIPAL_TYPES:
            c.fail(f"{key}.principalType", principal_type, "one of " + ", ".join(PRINCIPAL_TYPES))
            continue
        if principal_id.lower() in seen:
            c.fail(f"{key}.principalId", principal_id, "each principal once (it is listed twice)")
            continue
        seen.add(principal_id.lower())
        result.append(Executor(principal_id.lower(), principal_type))
    return tuple(result)


def _tags(c: _Collector) -> dict[str, str]:
    tags = c.json_value("tags")
    if not isinstance(tags, dict):
        c.fail("tags", tags, "a map of string keys to string values")
        return {}
    merged = set(tags) | set(DEFAULT_TAG_KEYS)
    if len(merged) > MAX_TAGS:
        c.fail(
            "tags", f"<{len(tags)} tags>", f"at most {MAX_TAGS} tags with the defaults {', '.join(DEFAULT_TAG_KEYS)}"
        )
    for key, value in tags.items():
        if not key or len(key) > MAX_TAG_KEY or TAG_KEY_FORBIDDEN & set(key):
            c.fail(f"tags.{key}", key, f"a key of 1..{MAX_TAG_KEY} characters without any of < > % & \\ ? /")
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
            c.fail(f"tags.{key}", value, f"a string of at most {MAX_TAG_VALUE} characters")
    return {str(k): str(v) for k, v in tags.items()}


def _resource_group(c: _Collector) -> tuple[str | None, str | None]:
    """An explicit name for the group this stack creates, or a group it uses and never deletes: not both."""
    names = {}
    for key in ("resourceGroupName", "existingResourceGroup"):
        value = c.raw.get(key)
        if value is None:
            continue
        if not RESOURCE_GROUP_PATTERN.match(value):
            c.fail(key, value, "1..90 letters, digits, - _ . ( ), not ending in a period")
        names[key] = value
    if len(names) == 2:
        c.problems.append(
            "resourceGroupName and existingResourceGroup are both set: set resourceGroupName for a group "
            "this stack creates, or existingResourceGroup for one it only uses, not both"
        )
    return names.get("resourceGroupName"), names.get("existingResourceGroup")


def _identity(c: _Collector) -> tuple[str, ...]:
    entries = c.json_value("identity")
    if not isinstance(entries, list):
        c.fail("identity", entries, f"a list of {SYSTEM_IDENTITY!r} and/or user-assigned identity resource ids")
        return ()
    result: list[str] = []
    for index, entry in enumerate(entries):
        ok = entry == SYSTEM_IDENTITY or (isinstance(entry, str) and USER_IDENTITY_PATTERN.match(entry))
        if not ok:
            c.fail(
                f"identity[{index}]",
                entry,
                f"{SYSTEM_IDENTITY!r}, or a user-assigned identity's resource id "
                "(/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/"
                "userAssignedIdentities/<name>)",
            )
        elif entry.lower() in (seen.lower() for seen in result):
            c.fail(f"identity[{index}]", entry, "each identity once (it is listed twice)")
        else:
            result.append(entry)
    return tuple(result)


def _lifecycle(c: _Collector, container_type: str) -> tuple[str, int | None]:
    lifecycle = c.string("lifecycleType", LIFECYCLE_TYPES)
    raw_alive = c.raw.get("maxAliveSeconds")
    alive = c.integer("maxAliveSeconds", *MAX_ALIVE_RANGE) if raw_alive is not None else None
    if lifecycle == "OnContainerExit" and container_type in TIMED_ONLY_CONTAINER_TYPES:
        c.fail(
            "lifecycleType",
            lifecycle,
            f"Timed for containerType={container_type} (OnContainerExit is for custom-container pools)",
        )
    elif lifecycle == "OnContainerExit" and raw_alive is None:
        c.problems.append("maxAliveSeconds is not set: lifecycleType=OnContainerExit needs it")
    if raw_alive is not None and lifecycle == "Timed":
        c.fail("maxAliveSeconds", raw_alive, "unset with lifecycleType=Timed (cooldownSeconds ends its sessions)")
    return lifecycle, alive


def _identity_lifecycle(c: _Collector, identities: tuple[str, ...]) -> str:
    lifecycle = c.string("identityLifecycle", IDENTITY_LIFECYCLES)
    if lifecycle != DEFAULTS["identityLifecycle"] and not identities:
        c.fail("identityLifecycle", lifecycle, "None while identity is empty (there is no identity to hand over)")
    return lifecycle


def _ready_sessions(c: _Collector, max_sessions: int | None) -> int | None:
    """readySessions is bounded by maxSessions: by its value when that is valid, else by its own upper limit,
    saying that maxSessions is wrong too, so the message never quotes a bound that is itself invalid."""
    if max_sessions is not None:
        ready = c.integer("readySessions", 0, max_sessions)
        if ready is None and c.raw_integer("readySessions") is not None:
            c.problems[-1] += f" (at most maxSessions={max_sessions})"
        return ready
    ceiling = MAX_SESSIONS_RANGE[1]
    ready = c.integer("readySessions", 0, ceiling)
    if ready is None and c.raw_integer("readySessions") is not None:
        c.problems[-1] += f" (at most maxSessions, which is itself invalid: {_show(c.raw.get('maxSessions'))})"
    return ready


def unknown_keys(config_keys: Iterable[str]) -> list[str]:
    """A problem for each `dynamic-sessions:*` key the program does not read, naming the closest known key.

    A misspelt key would otherwise be ignored and its setting silently left at its default.
    """
    known = {key.lower(): key for key in PROJECT_KEYS}
    problems = []
    for full_key in sorted(config_keys):
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        # The CLI has passed keys both as `ns:key` and as `ns:config:key`.
        key = key.removeprefix("config:")
        if key in PROJECT_KEYS:
            continue
        close = difflib.get_close_matches(key.lower(), list(known), n=1, cutoff=0.6)
        hint = f"did you mean {NAMESPACE}:{known[close[0]]}?" if close else "it is not a setting of this project"
        problems.append(
            f"{full_key} is not a known setting: {hint} Known settings: {', '.join(PROJECT_KEYS)} (and {LOCATION_KEY})"
        )
    return problems


def parse_settings(
    raw: Mapping[str, str | None], project: str, stack: str, config_keys: Iterable[str] = ()
) -> Settings:
    """Turns raw config strings (keys as in `Pulumi.yaml`) into validated `Settings`.

    `config_keys` are every key the stack's config holds; one in this project's namespace that the program
    does not know is an error. Raises `SettingsError` naming every bad key; nothing is declared before this
    returns.
    """
    c = _Collector(raw)
    c.problems.extend(unknown_keys(config_keys))
    location = raw.get(LOCATION_KEY)
    if not location:
        c.problems.append(
            f"{LOCATION_KEY} is not set: run `pulumi config set {LOCATION_KEY} <region>` (for example northcentralus)"
        )
    elif not LOCATION_PATTERN.match(location):
        c.fail(LOCATION_KEY, location, "an Azure region name in lowercase letters and digits, such as northcentralus")

    # Only an unset poolName is derived: an empty one is a value, refused like any other bad one.
    pool_name = raw.get("poolName")
    pool_name = default_pool_name(project, stack) if pool_name is None else pool_name
    if not POOL_NAME_PATTERN.match(pool_name):
        c.fail("poolName", pool_name, "3..32 lowercase letters and digits, starting with a letter")

    container_type = c.string("containerType", CONTAINER_TYPES)
    max_sessions = c.integer("maxSessions", *MAX_SESSIONS_RANGE)
    cooldown = c.integer("cooldownSeconds", *COOLDOWN_RANGE)
    ready = _ready_sessions(c, max_sessions)
    resource_group_name, existing_resource_group = _resource_group(c)
    identities = _identity(c)
    lifecycle_type, max_alive = _lifecycle(c, container_type)
    settings = Settings(
        location=location or "",
        pool_name=pool_name,
        container_type=container_type,
        max_sessions=max_sessions or DEFAULTS["maxSessions"],
        cooldown_seconds=cooldown or DEFAULTS["cooldownSeconds"],
        ready_sessions=ready,
        egress_enabled=c.boolean("egressEnabled"),
        grant_deployer=c.boolean("grantDeployer"),
        deployer_principal_type=c.string("deployerPrincipalType", DEPLOYER_PRINCIPAL_TYPES),
        grant_contributor=c.boolean("grantContributor"),
        executors=_executors(c),
        tags=_tags(c),
        protect=c.boolean("protect"),
        lock=c.string("lock", LOCK_LEVELS),
        resource_group_name=resource_group_name,
        existing_resource_group=existing_resource_group,
        identity=identities,
        identity_lifecycle=_identity_lifecycle(c, identities),
        lifecycle_type=lifecycle_type,
        max_alive_seconds=max_alive,
        mcp_server=c.boolean("mcpServer"),
    )
    if c.problems:
        raise SettingsError(c.problems)
    return settings


INPUT_KEYS = {
    "location": LOCATION_KEY,
    "pool_name": "poolName",
    "container_type": "containerType",
    "max_sessions": "maxSessions",
    "cooldown_seconds": "cooldownSeconds",
    "ready_sessions": "readySessions",
    "egress_enabled": "egressEnabled",
    "grant_deployer": "grantDeployer",
    "deployer_principal_type": "deployerPrincipalType",
    "grant_contributor": "grantContributor",
    "executors": "executors",
    "tags": "tags",
    "protect": "protect",
    "lock": "lock",
    "resource_group_name": "resourceGroupName",
    "existing_resource_group": "existingResourceGroup",
    "identity": "identity",
    "identity_lifecycle": "identityLifecycle",
    "lifecycle_type": "lifecycleType",
    "max_alive_seconds": "maxAliveSeconds",
    "mcp_server": "mcpServer",
}
"""A `SessionPool`'s inputs and the setting each one is."""
# Stand-ins for the two required inputs when they are known only at deploy time (Outputs).
_STAND_INS = {LOCATION_KEY: "northcentralus", "poolName": "unknownyet"}


def check_inputs(inputs: Mapping[str, Any]) -> None:
    """The checks of the stack settings, for a `SessionPool` given its inputs directly (by another program,
    in any language): every input whose value is known now is checked; one still unknown (an Output) is not.
    Raises `SettingsError` naming each bad input (by its name in the package schema)."""
    raw: dict[str, str | None] = dict(_STAND_INS)
    for name, key in INPUT_KEYS.items():
        value = inputs.get(name)
        if value is not None and _known(value):
            raw[key] = _config_text(key, value)
    try:
        parse_settings(raw, "", "")
    except SettingsError as error:
        raise SettingsError([problem.replace(LOCATION_KEY, "location") for problem in error.problems]) from None


def _known(value: Any) -> bool:
    if isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list):
        return all(_known(item) for item in value)
    if isinstance(value, dict):
        return all(_known(item) for item in value.values())
    return False  # an Output or another awaitable: Azure judges it at deploy time


def _config_text(key: str, value: Any) -> str:
    """The value as the CLI would hand it over as config: a string, JSON for lists and maps."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if key == "executors" and isinstance(value, list):
        camel = {"principal_id": "principalId", "principal_type": "principalType"}
        value = [{camel.get(k, k): v for k, v in e.items()} if isinstance(e, dict) else e for e in value]
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)
