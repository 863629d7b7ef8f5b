"""`ArmReader` over real loopback HTTP against the ARM stand-in: the pool and its assignments read, ARM's error
bodies as typed errors. Requests, errors and tokens without a socket are in tests/unit/client/test_arm.py."""

import pytest

from dynamic_sessions.client.arm import ArmReader, PoolState
from dynamic_sessions.client.errors import AccessDenied, NotFound, Throttled
from tests.arm_stand_in import EXECUTOR_GUID, ArmStandIn, Assignment, Fault, pool_id, pool_properties

POOL = pool_id()


def test_a_loopback_endpoint_gets_a_local_token_for_resource_manager_and_reads_the_pool():
    with ArmStandIn(POOL, pool_properties("http://127.0.0.1:1/pool")) as stand_in, ArmReader(stand_in.url) as arm:
        pool = arm.get_pool(POOL)
    assert isinstance(pool, PoolState) and pool.settled
    assert (pool.container_type, pool.egress, pool.cooldown_seconds, pool.max_sessions) == (
        "NodeLTS",
        "EgressDisabled",
        300,
        5,
    )
    assert pool.location == "northcentralus" and arm.calls == 1


def test_the_legacy_cooldown_shape_is_read_too():
    body = {"properties": {"dynamicPoolConfiguration": {"executionType": "Timed", "cooldownPeriodInSeconds": 600}}}
    pool = PoolState.from_body(body)
    assert (pool.lifecycle_type, pool.cooldown_seconds) == ("Timed", 600)


@pytest.mark.parametrize(
    "fault,kind,code",
    [(Fault(403), AccessDenied, "AuthorizationFailed"), (Fault(404), NotFound, "ResourceNotFound"),
     (Fault(429, retry_after="7"), Throttled, "SubscriptionRequestsThrottled")],
)  # fmt: skip
def test_arm_errors_are_typed_with_code_cause_and_correlation_id(fault, kind, code):
    stand_in = ArmStandIn(POOL, pool_properties(""), faults={"pool": [fault]})
    with stand_in, ArmReader(stand_in.url) as arm, pytest.raises(kind) as raised:
        arm.get_pool(POOL)
    error = raised.value
    assert error.error_code == code and error.trace_id and "(failure cause: gateway)" in str(error)
    if fault.retry_after:
        assert error.retry_after == 7.0


def test_assignments_at_and_above_the_scope_are_listed():
    group = POOL.split("/providers/")[0]
    held = [Assignment("a", "User", EXECUTOR_GUID, POOL), Assignment("b", "Group", EXECUTOR_GUID, group)]
    with ArmStandIn(POOL, None, held) as stand_in, ArmReader(stand_in.url) as arm:
        found = arm.role_assignments(POOL)
    assert [(a.principal_id, a.principal_type, a.scope) for a in found] == [("a", "User", POOL), ("b", "Group", group)]
    assert found[0].role_definition_id.endswith(EXECUTOR_GUID)
