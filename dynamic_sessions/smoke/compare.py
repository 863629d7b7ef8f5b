"""Declared against held: each property of the pool and each grant the stack declared, beside what Azure has."""

from dataclasses import dataclass, field
from typing import Any

from dynamic_sessions.azure_facts import EGRESS_STATUS
from dynamic_sessions.client.arm import PoolState, RoleAssignment
from dynamic_sessions.smoke.declared import Declaration, Grant, role_guid

ON_OFF = {True: "on", False: "off"}


@dataclass(frozen=True)
class Difference:
    property: str
    declared: Any
    azure: Any
    message: str


@dataclass
class Comparison:
    differences: list[Difference] = field(default_factory=list)
    compared: list[str] = field(default_factory=list)
    """The properties and grants that were compared (equal or not)."""
    other_grants: list[dict[str, str]] = field(default_factory=list)
    """Assignments at the pool's own scope that the stack does not declare: someone else's, reported only."""
    inherited_grants: int = 0
    """Assignments above the pool's scope (resource group, subscription) that also apply to it."""

    def differ(self, name: str, declared: Any, azure: Any, message: str) -> None:
        self.differences.append(Difference(name, declared, azure, message))


def _held(value: Any) -> str:
    return "none" if value is None else str(value)


def _same_text(a: str | None, b: str | None) -> bool:
    return (a or "").strip().rstrip("/").lower() == (b or "").strip().rstrip("/").lower()


def _region(name: str | None) -> str:
    """ARM writes a region as `northcentralus`; a stack may hold its display name `North Central US`."""
    return (name or "").replace(" ", "").lower()


def compare_pool(declared: Declaration, pool: PoolState, result: Comparison) -> None:
    def check(name: str, want: Any, have: Any, equal: bool | None = None, shown: Any = None) -> None:
        if want is None:
            return
        result.compared.append(name)
        if not (want == have if equal is None else equal):
            result.differ(
                name, want, have, f"{name}: declared {want if shown is None else shown}, Azure has {_held(have)}"
            )

    check("provisioning state", "Succeeded", pool.provisioning_state)
    check("container type", declared.container_type, pool.container_type,
          _same_text(declared.container_type, pool.container_type))  # fmt: skip
    if declared.egress_enabled is not None:
        want = EGRESS_STATUS[declared.egress_enabled]
        check("egress", want, pool.egress, want == pool.egress, ON_OFF[declared.egress_enabled])
    check("lifecycle", declared.lifecycle_type, pool.lifecycle_type,
          _same_text(declared.lifecycle_type, pool.lifecycle_type))  # fmt: skip
    check("cooldown", declared.cooldown_seconds, pool.cooldown_seconds)
    check("max sessions", declared.max_sessions, pool.max_sessions)
    check("ready sessions", declared.ready_sessions, pool.ready_sessions)
    check("endpoint", declared.endpoint, pool.endpoint, _same_text(declared.endpoint, pool.endpoint))
    check("location", declared.location, pool.location, _region(declared.location) == _region(pool.location))
    check(
        "mcp endpoint", declared.mcp_endpoint, pool.mcp_endpoint, _same_text(declared.mcp_endpoint, pool.mcp_endpoint)
    )


def _role_name(guid: str, declared: Declaration) -> str:
    if declared.executor_role_definition_id and role_guid(declared.executor_role_definition_id) == guid:
        return "Session Executor"
    return f"role {guid}"


def compare_grants(declared: Declaration, assignments: list[RoleAssignment], result: Comparison) -> None:
    pool_id = (declared.pool_id or "").lower()
    at_pool = [a for a in assignments if a.scope.rstrip("/").lower() == pool_id]
    result.inherited_grants = len(assignments) - len(at_pool)
    matched: set[str] = set()
    for grant in declared.grants or []:
        name = f"grant {grant.principal_id} {_role_name(grant.role_guid, declared)}"
        result.compared.append(name)
        same = [
            a
            for a in at_pool
            if a.principal_id.lower() == grant.principal_id.lower()
            and role_guid(a.role_definition_id) == grant.role_guid
        ]
        if not same:
            others = sorted(
                {_role_name(role_guid(a.role_definition_id), declared) for a in at_pool
                 if a.principal_id.lower() == grant.principal_id.lower()}
            )  # fmt: skip
            besides = f" (it has {', '.join(others)} there)" if others else ""
            result.differ(
                name, _grant_json(grant), None, f"{name}: declared, Azure has no such assignment on the pool{besides}"
            )
            continue
        matched.update(a.id for a in same)
        if not any(a.principal_type.lower() == grant.principal_type.lower() for a in same):
            held = same[0].principal_type
            result.differ(
                name,
                grant.principal_type,
                held,
                f"{name}: declared type {grant.principal_type}, Azure has {held or 'none'}",
            )
    result.other_grants = [
        {
            "principalId": a.principal_id,
            "principalType": a.principal_type,
            "roleDefinitionId": a.role_definition_id,
            "id": a.id,
        }
        for a in at_pool
        if a.id not in matched
    ]


def _grant_json(grant: Grant) -> dict[str, str]:
    return {
        "principalId": grant.principal_id,
        "principalType": grant.principal_type,
        "roleDefinitionId": grant.role_definition_id,
    }
