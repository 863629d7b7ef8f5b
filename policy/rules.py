"""The pack's rules: each a pure function over what a program declares, with its id, description, default
enforcement level and config settings (a JSON schema with defaults).

A rule returns Violations; each names the property, its value, what is allowed and the config key that changes
it. `policy.pack` hands the rules to the Pulumi engine; `python -m policy check` runs them over a stack itself.
"""

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from policy import resources
from policy.regions import SESSION_REGIONS, location_name
from policy.resources import UNKNOWN, Pool, lookup, pool_of
from policy.roles import PRINCIPAL_TYPES

MANDATORY = "mandatory"
ADVISORY = "advisory"


@dataclass(frozen=True)
class Subject:
    """One resource as the engine shows it to a policy: type, name, inputs, and what the stack rules need."""

    type: str
    name: str
    props: Mapping[str, Any]
    urn: str = ""
    protect: bool = False
    property_dependencies: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Violation:
    """What a rule found: the property, its value, what is allowed, and the config key that changes it."""

    rule: str
    property: str
    value: Any
    allowed: str
    config_key: str

    def message(self) -> str:
        # Three short lines, not one long one: the check prints them indented, and the docs show them in a code
        # block the site shows 80 columns of.
        return (
            f"{self.property}={self.value!r} is not allowed\n"
            f"allowed: {self.allowed}\n"
            f"policy config: {self.rule}.{self.config_key}"
        )


@dataclass(frozen=True)
class Rule:
    """A resource rule (check over one Subject) or a stack rule (check over all of them)."""

    id: str
    description: str
    protects: str
    """What the rule protects against, in a line (docs/policy.md shows it)."""
    enforcement: str
    config: Mapping[str, Mapping[str, Any]]
    """JSON schema of each config key, each with its default."""
    check: Callable[..., list[Any]]
    stack: bool = False

    def settings(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The rule's config: the defaults, overridden by the keys given (the engine sends them all)."""
        values = {key: spec["default"] for key, spec in self.config.items()}
        values.update({key: value for key, value in (given or {}).items() if key in self.config})
        return values


def stack_allowed(stack: str, settings: Mapping[str, Any]) -> bool:
    """An `allowAllStacks` / `allowedStacks` pair: true for every stack, or for a stack matching a pattern."""
    return bool(settings["allowAllStacks"]) or matches(stack, settings["allowedStacks"])


def matches(stack: str, patterns: Sequence[str]) -> bool:
    """Shell-style patterns (`prod*`), matched case-sensitively against the stack's name."""
    return any(fnmatch.fnmatchcase(stack, pattern) for pattern in patterns)


def _allow_stacks(default: Sequence[str], what: str) -> dict[str, dict[str, Any]]:
    return {
        "allowAllStacks": {"type": "boolean", "default": False, "description": f"Allow {what} in every stack."},
        "allowedStacks": {
            "type": "array",
            "items": {"type": "string"},
            "default": list(default),
            "description": f"Stack-name patterns (shell style, such as dev*) in which {what} is allowed.",
        },
    }


def _where(settings: Mapping[str, Any]) -> str:
    if settings["allowedStacks"]:
        return f"only in stacks matching {', '.join(settings['allowedStacks'])}"
    return "in no stack"


# --- egress -------------------------------------------------------------------------------------------------

EGRESS_ID = "azurenative-app-sessionpool-disallow-egress"


def check_egress(subject: Subject, settings: Mapping[str, Any], stack: str) -> list[Violation]:
    pool = pool_of(subject.type, subject.props)
    if pool is None or stack_allowed(stack, settings):
        return []
    status = pool.get("sessionNetworkConfiguration.status")
    # Unset, Azure disables egress (the spec's default).
    if status in (None, UNKNOWN, "EgressDisabled"):
        return []
    return [
        Violation(
            EGRESS_ID,
            pool.path("sessionNetworkConfiguration.status"),
            status,
            f"EgressDisabled; egress is allowed {_where(settings)}",
            "allowedStacks",
        )
    ]


# --- the pool's identity in session code ---------------------------------------------------------------------

IDENTITY_ID = "azurenative-app-sessionpool-disallow-main-identity"


def check_identity(subject: Subject, settings: Mapping[str, Any], stack: str) -> list[Violation]:
    pool = pool_of(subject.type, subject.props)
    if pool is None or stack_allowed(stack, settings):
        return []
    entries = pool.get("managedIdentitySettings")
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        return []
    return [
        Violation(
            IDENTITY_ID,
            pool.path(f"managedIdentitySettings[{index}].lifecycle"),
            lifecycle,
            f"None (session code is untrusted: Main hands it the pool's identity); Main is allowed {_where(settings)}",
            "allowedStacks",
        )
        for index, entry in enumerate(entries)
        if isinstance(lifecycle := lookup(entry, "lifecycle") if isinstance(entry, Mapping) else None, str)
        and lifecycle.lower() == "main"
    ]


# --- size ----------------------------------------------------------------------------------------------------

MAX_SESSIONS_ID = "azurenative-app-sessionpool-max-sessions"


def check_max_sessions(subject: Subject, settings: Mapping[str, Any], stack: str) -> list[Violation]:
    pool = pool_of(subject.type, subject.props)
    if pool is None:
        return []
    value = pool.get("scaleConfiguration.maxConcurrentSessions")
    ceiling = settings["maxSessions"]
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= ceiling:
        return []
    shown = int(value) if float(value).is_integer() else value
    return [
        Violation(
            MAX_SESSIONS_ID,
            pool.path("scaleConfiguration.maxConcurrentSessions"),
            shown,
            f"at most {ceiling}",
            "maxSessions",
        )
    ]


# --- region --------------------------------------------------------------------------------------------------

REGION_ID = "azurenative-app-sessionpool-allowed-regions"


def check_region(subject: Subject, settings: Mapping[str, Any], stack: str) -> list[Violation]:
    if pool_of(subject.type, subject.props) is None:
        return []
    location = lookup(subject.props, "location")
    allowed = [location_name(region) for region in settings["allowedRegions"]]
    # Unset, the pool takes its resource group's region, which the group's own declaration shows.
    if not isinstance(location, str) or location_name(location) in allowed:
        return []
    return [Violation(REGION_ID, "location", location, f"one of {', '.join(allowed)}", "allowedRegions")]


# --- API version ---------------------------------------------------------------------------------------------

API_VERSION_ID = "azurenative-app-sessionpool-minimum-api-version"
API_VERSION_PATTERN = r"^\d{4}-\d{2}-\d{2}(-preview)?$"


def api_version_key(version: str) -> tuple[str, int]:
    """Orders ARM API versions: by date, and a preview before the stable version of the same date."""
    preview = version.endswith("-preview")
    return (version.removesuffix("-preview"), 0 if preview else 1)


def check_api_version(subject: Subject, settings: Mapping[str, Any], stack: str) -> list[Violation]:
    pool = pool_of(subject.type, subject.props)
    if pool is None or not isinstance(pool.api_version, str):
        return []
    version, minimum = pool.api_version, settings["minimumApiVersion"]
    if re.match(API_VERSION_PATTERN, version) and api_version_key(version) >= api_version_key(minimum):
        return []
    where = "apiVersion" if pool.prefix else "type"
    value = version if pool.prefix else subject.type
    return [Violation(API_VERSION_ID, where, value, f"API version {minimum} or newer", "minimumApiVersion")]


# --- grants --------------------------------------------------------------------------------------------------

EXECUTOR_SCOPE_ID = "azurenative-authorization-roleassignment-session-executor-at-pool-scope"
POOL_SCOPE = "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.App/sessionPools/<name>"


def check_executor_scope(subject: Subject, settings: Mapping[str, Any], stack: str) -> list[Violation]:
    if not resources.is_executor_grant(subject.type, subject.props):
        return []
    found = []
    scope = lookup(subject.props, "scope")
    if isinstance(scope, str) and not resources.is_pool_scope(scope):
        found.append(
            Violation(
                EXECUTOR_SCOPE_ID,
                "scope",
                scope,
                f"a session pool's id ({POOL_SCOPE}), never its group or subscription",
                "enforcementLevel",
            )
        )
    principal_type = lookup(subject.props, "principalType")
    allowed_types = settings["allowedPrincipalTypes"]
    if principal_type is not UNKNOWN and principal_type not in allowed_types:
        found.append(
            Violation(
                EXECUTOR_SCOPE_ID,
                "principalType",
                principal_type,
                f"set explicitly, one of {', '.join(allowed_types)}",
                "allowedPrincipalTypes",
            )
        )
    return found


CONTRIBUTOR_ID = "azurenative-authorization-roleassignment-disallow-sessionpools-contributor"


def check_contributor(subject: Subject, settings: Mapping[str, Any], stack: str) -> list[Violation]:
    if not resources.is_contributor_grant(subject.type, subject.props) or stack_allowed(stack, settings):
        return []
    return [
        Violation(
            CONTRIBUTOR_ID,
            "roleDefinitionId",
            lookup(subject.props, "roleDefinitionId"),
            f"Session Executor alone (SessionPools Contributor manages pools); the grant is allowed {_where(settings)}",
            "allowedStacks",
        )
    ]


# --- stack rules: what a pool must have beside it ------------------------------------------------------------


def _pools(subjects: Sequence[Subject]) -> list[tuple[Subject, Pool]]:
    return [(s, pool) for s in subjects if (pool := pool_of(s.type, s.props)) is not None]


def targets(other: Subject, pool: Subject, key: str) -> bool:
    """Whether `other`'s scope-like input `key` is the pool: it was computed from the pool (the engine's property
    dependencies, known in a preview too), or it names the pool's id."""
    if pool.urn and pool.urn in other.property_dependencies.get(key, ()):
        return True
    scope, name = lookup(other.props, key), resources.pool_name(pool.type, pool.props)
    if not isinstance(scope, str) or not resources.is_pool_scope(scope):
        return False
    pool_id = lookup(pool.props, "id")
    if isinstance(pool_id, str) and pool_id:
        return scope.lower() == pool_id.lower()
    return isinstance(name, str) and scope.lower().endswith(f"/sessionpools/{name.lower()}")


def locks_pool(lock: Subject, pool: Subject) -> bool:
    if lock.type == resources.LOCK_BY_SCOPE:
        return targets(lock, pool, "scope")
    if lock.type != resources.LOCK_AT_RESOURCE or not resources.is_generic_pool(
        resources.GENERIC_RESOURCE,
        {
            "resourceProviderNamespace": lookup(lock.props, "resourceProviderNamespace"),
            "resourceType": lookup(lock.props, "resourceType"),
            "parentResourcePath": lookup(lock.props, "parentResourcePath"),
        },
    ):
        return False
    if pool.urn and pool.urn in lock.property_dependencies.get("resourceName", ()):
        return True
    name = resources.pool_name(pool.type, pool.props)
    return isinstance(name, str) and lookup(lock.props, "resourceName") == name


PRODUCTION_ID = "azurenative-app-sessionpool-production-protect-and-lock"


def check_production(subjects: Sequence[Subject], settings: Mapping[str, Any], stack: str) -> list[Any]:
    if not matches(stack, settings["productionStacks"]):
        return []
    production = f"in stacks matching {', '.join(settings['productionStacks'])}"
    levels = settings["lockLevels"]
    locks = [s for s in subjects if resources.is_lock(s.type)]
    found: list[tuple[Subject, Violation]] = []
    for subject, _ in _pools(subjects):
        if not subject.protect:
            found.append(
                (subject, Violation(PRODUCTION_ID, "protect", False, f"protect: true {production}", "productionStacks"))
            )
        held = [lookup(lock.props, "level") for lock in locks if locks_pool(lock, subject)]
        if not any(level in levels or level is UNKNOWN for level in held):
            found.append(
                (
                    subject,
                    Violation(
                        PRODUCTION_ID,
                        "management lock",
                        held[0] if held else None,
                        f"a management lock at the pool's scope, level {' or '.join(levels)}, {production}",
                        "lockLevels" if held else "productionStacks",
                    ),
                )
            )
    return found


EXECUTOR_PRESENT_ID = "azurenative-app-sessionpool-require-session-executor"


def check_executor_present(subjects: Sequence[Subject], settings: Mapping[str, Any], stack: str) -> list[Any]:
    minimum = settings["minimumGrants"]
    grants = [s for s in subjects if resources.is_executor_grant(s.type, s.props)]
    found: list[tuple[Subject, Violation]] = []
    for subject, _ in _pools(subjects):
        count = sum(1 for grant in grants if targets(grant, subject, "scope"))
        if count < minimum:
            found.append(
                (
                    subject,
                    Violation(
                        EXECUTOR_PRESENT_ID,
                        "Session Executor grants",
                        count,
                        f"at least {minimum} at the pool's scope in the same stack (no caller can run code otherwise)",
                        "minimumGrants",
                    ),
                )
            )
    return found


# --- the pack ------------------------------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    Rule(
        EGRESS_ID,
        "Session pools keep egress disabled: session code opens no outbound connection, unless the stack is allowed.",
        "untrusted session code sending data out of the pool or calling other services",
        MANDATORY,
        _allow_stacks(["dev*"], "egress"),
        check_egress,
    ),
    Rule(
        IDENTITY_ID,
        "No managed identity of a session pool with lifecycle Main: session code must not get the pool's identity.",
        "untrusted session code acting as the pool's managed identity in Azure",
        MANDATORY,
        _allow_stacks([], "lifecycle Main"),
        check_identity,
    ),
    Rule(
        MAX_SESSIONS_ID,
        "A session pool's most sessions (maxConcurrentSessions) stay at or under a ceiling.",
        "runaway cost and capacity: a pool sized beyond what the organization agreed to pay for",
        MANDATORY,
        {"maxSessions": {"type": "integer", "minimum": 1, "default": 100, "description": "The ceiling."}},
        check_max_sessions,
    ),
    Rule(
        REGION_ID,
        "A session pool's region is in the allow-list (default: the regions Microsoft lists for dynamic sessions).",
        "pools in regions that do not offer dynamic sessions or that the organization's data may not leave for",
        MANDATORY,
        {
            "allowedRegions": {
                "type": "array",
                "items": {"type": "string"},
                "default": list(SESSION_REGIONS),
                "description": "ARM location names, such as northcentralus.",
            }
        },
        check_region,
    ),
    Rule(
        API_VERSION_ID,
        "A session pool is declared at an ARM API version no older than a minimum.",
        "pools written against an old API whose body lacks the settings the other rules rely on",
        ADVISORY,
        {
            "minimumApiVersion": {
                "type": "string",
                "pattern": API_VERSION_PATTERN,
                "default": resources.TYPED_POOL_API_VERSION,
                "description": "The oldest Microsoft.App/sessionPools API version allowed, such as 2025-02-02-preview.",
            }
        },
        check_api_version,
    ),
    Rule(
        EXECUTOR_SCOPE_ID,
        "Session Executor is granted at a session pool's scope, never its group or subscription, with an explicit "
        "principalType.",
        "a grant that lets a principal run code in every pool of a group or subscription, or fails for a "
        "service principal because its type was left to a default",
        MANDATORY,
        {
            "allowedPrincipalTypes": {
                "type": "array",
                "items": {"type": "string", "enum": list(PRINCIPAL_TYPES)},
                "default": list(PRINCIPAL_TYPES),
                "description": "Principal types a Session Executor grant may name.",
            }
        },
        check_executor_scope,
    ),
    Rule(
        CONTRIBUTOR_ID,
        "No Container Apps SessionPools Contributor grant, unless the stack is allowed.",
        "callers that could reconfigure or delete pools when they only need to run code",
        MANDATORY,
        _allow_stacks([], "SessionPools Contributor grants"),
        check_contributor,
    ),
    Rule(
        PRODUCTION_ID,
        "In production stacks every session pool is protected (Pulumi protect) and has a management lock.",
        "a production pool (and its endpoint) deleted or replaced by a mistaken destroy, up or portal click",
        MANDATORY,
        {
            "productionStacks": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["prod*"],
                "description": "Stack-name patterns (shell style) of production stacks.",
            },
            "lockLevels": {
                "type": "array",
                "items": {"type": "string", "enum": ["CanNotDelete", "ReadOnly"]},
                "default": ["CanNotDelete", "ReadOnly"],
                "description": "Lock levels that count.",
            },
        },
        check_production,
        stack=True,
    ),
    Rule(
        EXECUTOR_PRESENT_ID,
        "Every session pool has a Session Executor grant at its scope in the same stack.",
        "a pool no caller can use, or one whose callers were granted out of band where no review sees them",
        ADVISORY,
        {"minimumGrants": {"type": "integer", "minimum": 0, "default": 1, "description": "Grants each pool needs."}},
        check_executor_present,
        stack=True,
    ),
)
"""Every rule of the pack, in the order the engine reports them."""
