"""The checks of the stack settings (`components.settings.SETTINGS`), run before any resource exists.

Two doors lead to the same rules: `parse_settings` takes the config strings the Pulumi CLI hands the program
(objects as JSON), turns each into its typed value, and checks it; `check_inputs` checks the typed inputs
another program gives a `SessionPool` directly. Every problem names the key, the value and what is allowed,
and all of them are reported together, so one `pulumi up` shows every bad setting at once.
"""

import difflib
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from components.roles import PRINCIPAL_TYPES
from components.settings import (
    BY_KEY,
    DEFAULT_TAG_KEYS,
    LOCATION_KEY,
    LOCATION_PATTERN,
    MAX_SESSIONS_RANGE,
    MAX_TAG_KEY,
    MAX_TAG_VALUE,
    MAX_TAGS,
    NAMESPACE,
    POOL_NAME_PATTERN,
    PROJECT_KEYS,
    RESOURCE_GROUP_PATTERN,
    SETTINGS,
    SYSTEM_IDENTITY,
    TAG_KEY_FORBIDDEN,
    USER_IDENTITY_PATTERN,
    Executor,
    Setting,
    Settings,
    SettingsError,
    default_of,
)

JSON_ALLOWED = "a YAML list or map in the stack file (JSON when set by CLI)"
REGION_ALLOWED = "an Azure region name in lowercase letters and digits, such as northcentralus"
GUID_ALLOWED = "an object id (GUID) such as 00000000-0000-0000-0000-000000000000"
CONFIG_FIELDS = ("principalId", "principalType")
"""An executor's fields as a stack file spells them (and as the package schema names them)."""
INPUT_FIELDS = ("principal_id", "principal_type")
"""An executor's fields as a Python program gives them to a `SessionPool`."""


class _Unknown:
    """An input known only at deploy time (an Output): Azure judges it then."""


UNKNOWN = _Unknown()


def show(value: Any) -> str:
    """A value as a message quotes it: a string as it is, anything else (and the empty string) as JSON."""
    return value if isinstance(value, str) and value != "" else json.dumps(value)


def _is_guid(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Check:
    """Checks typed values (by config key; absent: unset) against the table, gathering every problem."""

    def __init__(self, given: Mapping[str, Any], label: Callable[[Setting], str], fields: tuple[str, str], typed: bool):
        self.given = given
        self.label = label
        self.fields = fields
        # Values given typed (not as config text): a string where a number or boolean belongs is quoted.
        self.typed = typed
        self.problems: list[str] = []
        self.values: dict[str, Any] = {}

    def fail(self, label: str, value: Any, allowed: str) -> None:
        self.problems.append(f"{label}={show(value)} is not allowed: {allowed}")

    def wrong_type(self, label: str, value: Any, allowed: str) -> None:
        self.fail(label, json.dumps(value) if self.typed and isinstance(value, str) else value, allowed)

    def known(self, key: str) -> bool:
        return key in self.given and self.given[key] is not UNKNOWN

    def run(self) -> dict[str, Any]:
        """Every setting's checked value by key (its default when unset); the problems are in `problems`."""
        for setting in SETTINGS:
            value = self.given.get(setting.key)
            if value is UNKNOWN:
                self.values[setting.key] = None
                continue
            if value is None:
                value = default_of(setting.key)
            if value is None:
                self.values[setting.key] = None
                continue
            rule = RULES.get(setting.key, Check.plain)
            self.values[setting.key] = rule(self, setting, value)
        for cross in CROSS_RULES:
            cross(self)
        return self.values

    # The rules of one setting's value: each returns the value to keep (its default when refused).

    def plain(self, setting: Setting, value: Any) -> Any:
        """By type alone: one of the choices, an integer in the bounds, a boolean."""
        label = self.label(setting)
        if setting.bounds is not None:
            return self.integer(label, value, *setting.bounds)
        if setting.type == "boolean":
            if not isinstance(value, bool):
                self.wrong_type(label, value, "true or false")
                return default_of(setting.key)
            return value
        if setting.choices and value not in setting.choices:
            self.fail(label, value, setting.refusal or "one of " + ", ".join(setting.choices))
            return default_of(setting.key)
        return value

    def integer(self, label: str, value: Any, low: int, high: int) -> int | None:
        """The value if it is an integer in low..high; None (a problem noted) when not."""
        if not _is_integer(value):
            self.wrong_type(label, value, f"an integer in {low}..{high}")
            return None
        if not low <= value <= high:
            self.problems.append(f"{label}={value} is out of range: {low}..{high}")
            return None
        return int(value)

    def location(self, setting: Setting, value: Any) -> Any:
        if not isinstance(value, str) or not LOCATION_PATTERN.match(value):
            self.fail(self.label(setting), value, REGION_ALLOWED)
        return value

    def pool_name(self, setting: Setting, value: Any) -> Any:
        if not isinstance(value, str) or not POOL_NAME_PATTERN.match(value):
            self.fail(self.label(setting), value, "3..32 lowercase letters and digits, starting with a letter")
        return value

    def ready_sessions(self, setting: Setting, value: Any) -> int | None:
        """Bounded by maxSessions: by its value when that is valid, else by its own upper limit, saying that
        maxSessions is wrong too, so the message never quotes a bound that is itself invalid."""
        label = self.label(setting)
        low, ceiling = setting.bounds or (0, MAX_SESSIONS_RANGE[1])
        max_setting = BY_KEY["maxSessions"]
        if self.given.get("maxSessions") is UNKNOWN:
            bound, why = ceiling, f" (at most {self.label(max_setting)})"
        elif self.values.get("maxSessions") is not None:
            bound = self.values["maxSessions"]
            why = f" (at most {self.label(max_setting)}={bound})"
        else:
            bound = ceiling
            why = f" (at most {self.label(max_setting)}, which is itself invalid: {show(self.given['maxSessions'])})"
        ready = self.integer(label, value, low, bound)
        if ready is None and _is_integer(value):
            self.problems[-1] += why
        return ready

    def resource_group(self, setting: Setting, value: Any) -> Any:
        if not isinstance(value, str) or not RESOURCE_GROUP_PATTERN.match(value):
            self.fail(self.label(setting), value, "1..90 letters, digits, - _ . ( ), not ending in a period")
        return value

    def executors(self, setting: Setting, entries: Any) -> tuple[Executor, ...]:
        label = self.label(setting)
        id_field, type_field = self.fields
        if not isinstance(entries, list):
            self.fail(label, entries, "a list of {principalId, principalType}")
            return ()
        result: list[Executor] = []
        seen: set[str] = set()
        for index, entry in enumerate(entries):
            key = f"{label}[{index}]"
            if not isinstance(entry, dict) or set(entry) != set(self.fields):
                self.fail(key, entry, "an object with exactly principalId and principalType")
                continue
            principal_id, principal_type = entry[id_field], entry[type_field]
            if not _is_guid(principal_id):
                self.fail(f"{key}.principalId", principal_id, GUID_ALLOWED)
                continue
            if principal_type not in PRINCIPAL_TYPES:
                self.fail(f"{key}.principalType", principal_type, "one of " + ", ".join(PRINCIPAL_TYPES))
                continue
            if principal_id.lower() in seen:
                self.fail(f"{key}.principalId", principal_id, "each principal once (it is listed twice)")
                continue
            seen.add(principal_id.lower())
            result.append(Executor(principal_id.lower(), principal_type))
        return tuple(result)

    def tags(self, setting: Setting, tags: Any) -> dict[str, str]:
        label = self.label(setting)
        if not isinstance(tags, dict):
            self.fail(label, tags, "a map of string keys to string values")
            return {}
        if len(set(tags) | set(DEFAULT_TAG_KEYS)) > MAX_TAGS:
            self.fail(
                label, f"<{len(tags)} tags>", f"at most {MAX_TAGS} tags with the defaults {', '.join(DEFAULT_TAG_KEYS)}"
            )
        for key, value in tags.items():
            if not key or len(key) > MAX_TAG_KEY or TAG_KEY_FORBIDDEN & set(key):
                self.fail(f"{label}.{key}", key, f"a key of 1..{MAX_TAG_KEY} characters without any of < > % & \\ ? /")
            if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
                self.fail(f"{label}.{key}", value, f"a string of at most {MAX_TAG_VALUE} characters")
        return {str(k): str(v) for k, v in tags.items()}

    def identity(self, setting: Setting, entries: Any) -> tuple[str, ...]:
        label = self.label(setting)
        if not isinstance(entries, list):
            self.fail(label, entries, f"a list of {SYSTEM_IDENTITY!r} and/or user-assigned identity resource ids")
            return ()
        result: list[str] = []
        for index, entry in enumerate(entries):
            ok = entry == SYSTEM_IDENTITY or (isinstance(entry, str) and USER_IDENTITY_PATTERN.match(entry))
            if not ok:
                self.fail(
                    f"{label}[{index}]",
                    entry,
                    f"{SYSTEM_IDENTITY!r}, or a user-assigned identity's resource id "
                    "(/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/"
                    "userAssignedIdentities/<name>)",
                )
            elif entry.lower() in (seen.lower() for seen in result):
                self.fail(f"{label}[{index}]", entry, "each identity once (it is listed twice)")
            else:
                result.append(entry)
        return tuple(result)

    # Rules between settings, run once every value is checked.

    def one_resource_group(self) -> None:
        """An explicit name for the group this stack creates, or a group it uses and never deletes: not both."""
        if self.known("resourceGroupName") and self.known("existingResourceGroup"):
            names = [self.label(BY_KEY[key]) for key in ("resourceGroupName", "existingResourceGroup")]
            self.problems.append(
                f"{names[0]} and {names[1]} are both set: set {names[0]} for a group "
                f"this stack creates, or {names[1]} for one it only uses, not both"
            )

    def identity_to_hand_over(self) -> None:
        """identityLifecycle Main hands the pool's identities to session code: there must be one."""
        lifecycle = self.values.get("identityLifecycle")
        if lifecycle in (None, default_of("identityLifecycle")) or self.given.get("identity") is UNKNOWN:
            return
        if not self.values.get("identity"):
            label = self.label(BY_KEY["identityLifecycle"])
            self.fail(label, lifecycle, "None while identity is empty (there is no identity to hand over)")


RULES: dict[str, Callable[[Check, Setting, Any], Any]] = {
    LOCATION_KEY: Check.location,
    "poolName": Check.pool_name,
    "readySessions": Check.ready_sessions,
    "resourceGroupName": Check.resource_group,
    "existingResourceGroup": Check.resource_group,
    "executors": Check.executors,
    "tags": Check.tags,
    "identity": Check.identity,
}
"""The settings whose value needs more than `Check.plain`'s rules by type."""
CROSS_RULES: tuple[Callable[[Check], None], ...] = (Check.one_resource_group, Check.identity_to_hand_over)


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


def from_text(setting: Setting, text: str, problems: list[str]) -> Any:
    """A config string as its setting's typed value. Text that is no integer or boolean stays as it is, for the
    rules to refuse by the setting's own bounds; text that is no JSON is refused here, and its default kept."""
    if setting.type == "integer":
        try:
            return int(text.strip())
        except ValueError:
            return text
    if setting.type == "boolean":
        lowered = text.strip().lower()
        return lowered == "true" if lowered in ("true", "false") else text
    if setting.type in ("array", "object"):
        try:
            return json.loads(text)
        except (TypeError, ValueError):
            problems.append(f"{setting.key}={show(text)} is not allowed: {JSON_ALLOWED}")
            return default_of(setting.key)
    return text


def parse_settings(
    raw: Mapping[str, str | None], project: str, stack: str, config_keys: Iterable[str] = ()
) -> Settings:
    """Turns raw config strings (keys as in `Pulumi.yaml`) into validated `Settings`.

    `config_keys` are every key the stack's config holds; one in this project's namespace that the program
    does not know is an error. Raises `SettingsError` naming every bad key; nothing is declared before this
    returns. Only an unset poolName is derived: an empty one is a value, refused like any other bad one.
    """
    problems = unknown_keys(config_keys)
    given: dict[str, Any] = {}
    for setting in SETTINGS:
        text = raw.get(setting.key)
        if text is not None:
            given[setting.key] = from_text(setting, text, problems)
    if given.get(LOCATION_KEY) in (None, ""):
        given.pop(LOCATION_KEY, None)
        problems.append(
            f"{LOCATION_KEY} is not set: run `pulumi config set {LOCATION_KEY} <region>` (for example northcentralus)"
        )
    given.setdefault("poolName", default_pool_name(project, stack))
    check = Check(given, lambda setting: setting.key, CONFIG_FIELDS, typed=False)
    values = check.run()
    problems.extend(check.problems)
    if problems:
        raise SettingsError(problems)
    return Settings(values)


def _known(value: Any) -> bool:
    if isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list):
        return all(_known(item) for item in value)
    if isinstance(value, dict):
        return all(_known(item) for item in value.values())
    return False  # an Output or another awaitable: Azure judges it at deploy time


def check_inputs(inputs: Mapping[str, Any]) -> None:
    """The checks of the stack settings, for a `SessionPool` given its inputs directly (by another program,
    in any language): every input whose value is known now is checked as given; one still unknown (an
    Output) is not. Raises `SettingsError` naming each bad input by its name in the package schema."""
    given: dict[str, Any] = {}
    for setting in SETTINGS:
        value = inputs.get(setting.input)
        if value is not None:
            given[setting.key] = value if _known(value) else UNKNOWN
    check = Check(given, lambda setting: setting.schema_name, INPUT_FIELDS, typed=True)
    check.run()
    if check.problems:
        raise SettingsError(check.problems)
