"""What a stack declared about its pool, read from its outputs (`pulumi stack output --json`).

A stack deployed by an older version of the program lacks some outputs: each missing or ill-typed one
is named in `unknown`, and the comparison leaves that value out instead of failing on it.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dynamic_sessions.client.arm import POOL_API_VERSION


@dataclass(frozen=True)
class Grant:
    principal_id: str
    principal_type: str
    role_definition_id: str

    @property
    def role_guid(self) -> str:
        """The role definition's GUID, whatever form of its id (subscription-scoped or not) was given."""
        return role_guid(self.role_definition_id)


def role_guid(role_definition_id: str) -> str:
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


@dataclass
class Declaration:
    pool_id: str | None = None
    pool_api_version: str = POOL_API_VERSION
    endpoint: str | None = None
    location: str | None = None
    container_type: str | None = None
    egress_enabled: bool | None = None
    lifecycle_type: str | None = None
    cooldown_seconds: int | None = None
    max_sessions: int | None = None
    ready_sessions: int | None = None
    mcp_endpoint: str | None = None
    executor_role_definition_id: str | None = None
    grants: list[Grant] | None = None
    unknown: list[str] = field(default_factory=list)
    """One line per declared value this stack's outputs do not give, saying which output is missing or wrong."""


# Outputs a stack may leave out because the setting is not set: their absence is not "unknown".
_WHEN_SET = ("readySessions", "mcpServerEndpoint")


class _Reader:
    def __init__(self, outputs: Mapping[str, Any], source: str):
        self.outputs = outputs
        self.source = source
        self.unknown: list[str] = []

    def _missing(self, name: str) -> None:
        if name not in _WHEN_SET:
            self.unknown.append(f"{name}: {self.source} has no {name} output (deployed by an older version?)")

    def text(self, name: str) -> str | None:
        value = self.outputs.get(name)
        if value is None:
            self._missing(name)
            return None
        if not isinstance(value, str) or not value:
            self.unknown.append(f"{name}: {self.source}'s {name} output is {value!r}, not a non-empty string")
            return None
        return value

    def integer(self, name: str) -> int | None:
        value = self.outputs.get(name)
        if value is None:
            self._missing(name)
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.unknown.append(f"{name}: {self.source}'s {name} output is {value!r}, not an integer")
            return None
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.outputs.get(name)
        if value is None:
            self._missing(name)
            return None
        if not isinstance(value, bool):
            self.unknown.append(f"{name}: {self.source}'s {name} output is {value!r}, not true or false")
            return None
        return value

    def grants(self) -> list[Grant] | None:
        value = self.outputs.get("grants")
        if value is None:
            self._missing("grants")
            return None
        keys = ("principalId", "principalType", "roleDefinitionId")
        if not isinstance(value, list) or not all(
            isinstance(g, dict) and all(isinstance(g.get(k), str) and g.get(k) for k in keys) for g in value
        ):
            self.unknown.append(
                f"grants: {self.source}'s grants output is not a list of {{{', '.join(keys)}}} with string values"
            )
            return None
        return [Grant(g["principalId"], g["principalType"], g["roleDefinitionId"]) for g in value]


def from_outputs(outputs: Mapping[str, Any], source: str) -> Declaration:
    """`source` names the stack in messages, such as `stack prod`."""
    read = _Reader(outputs, source)
    declared = Declaration(
        pool_id=read.text("poolId"),
        endpoint=read.text("poolManagementEndpoint"),
        location=read.text("location"),
        container_type=read.text("containerType"),
        egress_enabled=read.boolean("egressEnabled"),
        lifecycle_type=read.text("lifecycleType"),
        cooldown_seconds=read.integer("cooldownSeconds"),
        max_sessions=read.integer("maxSessions"),
        ready_sessions=read.integer("readySessions"),
        mcp_endpoint=read.text("mcpServerEndpoint"),
        executor_role_definition_id=outputs.get("sessionExecutorRoleDefinitionId") or None,
        grants=read.grants(),
    )
    api_version = outputs.get("poolApiVersion")
    if isinstance(api_version, str) and api_version:
        declared.pool_api_version = api_version
    declared.unknown = read.unknown
    return declared
