"""`ArmReader`: the token's scope per cloud, ARM's error bodies as typed errors, and where a token may go."""

import pytest

from dynamic_sessions.client.arm import ArmReader, PoolState
from dynamic_sessions.client.errors import AccessDenied, ConfigurationError, NotFound, Throttled, UnexpectedResponse
from tests.arm_stand_in import EXECUTOR_GUID, ArmStandIn, Assignment, Fault, pool_id, pool_properties
from tests.contract.test_smoke_client import StandInCredential
from tests.fault_server import FaultServer, Reply

POOL = pool_id()


@pytest.mark.parametrize(
    "endpoint,scope",
    [
        ("https://management.azure.com", "https://management.azure.com/.default"),
        ("https://management.usgovcloudapi.net/", "https://management.usgovcloudapi.net/.default"),
        ("https://management.chinacloudapi.cn", "https://management.chinacloudapi.cn/.default"),
    ],
)
def test_the_token_is_asked_for_the_clouds_resource_manager(endpoint, scope):
    credential = StandInCredential(lifetime_s=3600)
    with ArmReader(endpoint, credential=credential) as arm:
        assert arm.tokens.token() == "entra-token-1"
    assert credential.scopes == [(scope,)]


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


def test_a_next_link_to_another_origin_is_refused_before_the_token_goes_there():
    page = {"value": [], "nextLink": "https://elsewhere.example/next?$skipToken=1"}
    server = FaultServer(Reply(body=page))
    refused = pytest.raises(UnexpectedResponse, match=r"leaves the Resource Manager endpoint: elsewhere\.example")
    with server, ArmReader(server.url) as arm, refused:
        arm.role_assignments(POOL)
    assert len(server.requests) == 1


def test_assignments_at_and_above_the_scope_are_listed():
    group = POOL.split("/providers/")[0]
    held = [Assignment("a", "User", EXECUTOR_GUID, POOL), Assignment("b", "Group", EXECUTOR_GUID, group)]
    with ArmStandIn(POOL, None, held) as stand_in, ArmReader(stand_in.url) as arm:
        found = arm.role_assignments(POOL)
    assert [(a.principal_id, a.principal_type, a.scope) for a in found] == [("a", "User", POOL), ("b", "Group", group)]
    assert found[0].role_definition_id.endswith(EXECUTOR_GUID)


@pytest.mark.parametrize(
    "endpoint",
    ["http://management.azure.com", "ftp://x", "https://management.azure.com/x", "https://management.azure.com?a=1"],
)
def test_bad_endpoints_are_refused(endpoint):
    with pytest.raises(ConfigurationError, match="--arm-endpoint"):
        ArmReader(endpoint)


@pytest.mark.parametrize("bad", ["devpool", "/subscriptions/", "/subscriptions/x/../y", "/subscriptions/x?y=1"])
def test_a_pool_id_that_is_not_an_arm_id_is_refused_before_any_request(bad):
    server = FaultServer()
    with server, ArmReader(server.url) as arm, pytest.raises(ConfigurationError, match="is not an ARM resource id"):
        arm.get_pool(bad)
    assert server.requests == []
