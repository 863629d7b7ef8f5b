"""The ARM reader and the MCP key fetch through `httpx.MockTransport`: the requests they build, ARM's failures as
`Arm*` errors that older `except` clauses still catch, credentials, and what each closes."""

import httpx
import pytest

from dynamic_sessions.api_versions import POOL_API_VERSION, ROLE_ASSIGNMENTS_API_VERSION
from dynamic_sessions.client.arm import ArmReader
from dynamic_sessions.client.errors import (
    AccessDenied,
    ArmAccessDenied,
    ArmConnectFailed,
    ArmError,
    ArmNotFound,
    ArmServiceUnavailable,
    ArmThrottled,
    ArmUnreachable,
    ConfigurationError,
    ConnectFailed,
    NotFound,
    UnexpectedResponse,
)
from dynamic_sessions.client.mcp import FETCH_KEY, PoolMcpCredentials
from tests.fakes import AsyncStandInCredential, FixedToken, StandInCredential
from tests.fault_server import Reply
from tests.mock_pool import MockPool

ARM = "https://management.azure.com"
POOL = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.App/sessionPools/pool-1"
PROPERTIES = {
    "containerType": "NodeLTS",
    "poolManagementEndpoint": "https://pool.example.com",
    "provisioningState": "Succeeded",
    "mcpServerSettings": {"mcpServerEndpoint": "https://pool.example.com/mcp"},
    "dynamicPoolConfiguration": {"lifecycleConfiguration": {"lifecycleType": "Timed", "cooldownPeriodInSeconds": 300}},
}


def reader(pool: MockPool, **options: object) -> ArmReader:
    options.setdefault("token_provider", FixedToken("arm-token"))
    return ArmReader(ARM, http=httpx.Client(transport=pool.transport()), **options)  # type: ignore[arg-type]


def arm_error(status: int, code: str, **headers: str) -> Reply:
    headers = {"x-ms-correlation-request-id": "corr-7", "x-ms-failure-cause": "gateway", **headers}
    return Reply(status=status, body={"error": {"code": code, "message": "it failed"}}, headers=headers)


def test_the_pool_is_read_at_the_pool_api_version_with_the_token():
    pool = MockPool(Reply(body={"location": "westus", "properties": PROPERTIES}))
    with reader(pool) as arm:
        state = arm.get_pool(POOL)
    (sent,) = pool.requests
    assert (sent.method, sent.path, sent.query) == ("GET", POOL, {"api-version": [POOL_API_VERSION]})
    assert sent.headers["authorization"] == "Bearer arm-token" and sent.headers["accept"] == "application/json"
    assert (state.container_type, state.cooldown_seconds, state.mcp_endpoint) == (
        "NodeLTS",
        300,
        "https://pool.example.com/mcp",
    )
    assert state.settled and arm.calls == 1


def test_role_assignments_are_read_at_scope_and_their_pages_followed_on_arms_origin():
    item = {"id": "a", "properties": {"principalId": "p", "principalType": "User", "roleDefinitionId": "r"}}
    page_1 = Reply(body={"value": [item], "nextLink": f"{ARM}{POOL}/providers/x?$skipToken=2"})
    pool = MockPool(page_1, Reply(body={"value": [item]}))
    with reader(pool) as arm:
        found = arm.role_assignments(POOL)
    assert len(found) == 2 and found[0].principal_id == "p"
    first = pool.requests[0]
    assert first.path.endswith("/providers/Microsoft.Authorization/roleAssignments")
    assert first.query == {"$filter": ["atScope()"], "api-version": [ROLE_ASSIGNMENTS_API_VERSION]}
    assert pool.requests[1].query["$skipToken"] == ["2"]


def test_a_next_link_to_another_origin_is_refused_before_the_token_goes_there():
    pool = MockPool(Reply(body={"value": [], "nextLink": "https://elsewhere.example/next"}))
    with reader(pool) as arm, pytest.raises(UnexpectedResponse, match=r"leaves the Resource Manager endpoint"):
        arm.role_assignments(POOL)
    assert len(pool.requests) == 1


@pytest.mark.parametrize(
    ("reply", "kind", "caught_as"),
    [
        (arm_error(403, "AuthorizationFailed"), ArmAccessDenied, AccessDenied),
        (arm_error(404, "ResourceNotFound"), ArmNotFound, NotFound),
        (arm_error(429, "SubscriptionRequestsThrottled", **{"retry-after": "7"}), ArmThrottled, ArmError),
        (arm_error(503, "ServiceUnavailable"), ArmServiceUnavailable, ArmError),
    ],
)
def test_arm_failures_are_arm_errors_with_code_cause_and_correlation_id(reply, kind, caught_as):
    with reader(MockPool(reply)) as arm, pytest.raises(caught_as) as raised:
        arm.get_pool(POOL)
    error = raised.value
    assert type(error) is kind and error.error_code == reply.body["error"]["code"]
    assert error.trace_id == "corr-7" and "(failure cause: gateway)" in str(error)
    assert "arm-token" not in str(error)
    if reply.status == 429:
        assert error.retry_after == 7.0


@pytest.mark.parametrize(
    ("failure", "kind"), [(httpx.ConnectError("refused"), ArmConnectFailed), (httpx.ReadError("reset"), ArmUnreachable)]
)
def test_no_answer_from_arm_says_resource_manager(failure, kind):
    with reader(MockPool(failure)) as arm, pytest.raises(kind, match=r"Azure Resource Manager at https://management"):
        arm.get_pool(POOL)


def test_a_refused_connection_to_arm_is_still_a_connect_failed():
    with reader(MockPool(httpx.ConnectError("refused"))) as arm, pytest.raises(ConnectFailed):
        arm.get_pool(POOL)


def test_an_answer_that_is_not_a_json_object_is_unexpected():
    with reader(MockPool(Reply(body=[1, 2]))) as arm, pytest.raises(UnexpectedResponse, match=r"without a JSON"):
        arm.get_pool(POOL)


def test_the_credentials_token_is_asked_for_the_clouds_resource_manager():
    credential = StandInCredential()
    pool = MockPool(Reply(body={"properties": PROPERTIES}))
    with ArmReader(
        "https://management.usgovcloudapi.net", credential=credential, http=httpx.Client(transport=pool.transport())
    ) as arm:
        arm.get_pool(POOL)
    assert credential.scopes == [("https://management.usgovcloudapi.net/.default",)]
    assert pool.requests[0].headers["authorization"] == "Bearer entra-token-1"
    assert credential.closed == 0


def test_the_reader_refuses_an_async_credential_when_it_is_made():
    with pytest.raises(ConfigurationError, match=r"AsyncStandInCredential.*asynchronous"):
        ArmReader(ARM, credential=AsyncStandInCredential())


def test_the_reader_leaves_a_given_http_client_open_and_closes_its_own():
    given = httpx.Client(transport=MockPool().transport())
    with ArmReader(ARM, http=given, token_provider=FixedToken()):
        pass
    assert not given.is_closed
    given.close()
    own = ArmReader("http://127.0.0.1:1")
    own.close()
    assert own._http.is_closed


def test_the_mcp_key_is_fetched_through_arm_and_a_given_http_client_is_left_open():
    pool = MockPool(
        lambda request: (
            httpx.Response(200, json={"apiKey": "key-123"})
            if request.method == "POST"
            else httpx.Response(200, json={"properties": PROPERTIES})
        )
    )
    http = httpx.Client(transport=pool.transport())
    credential = StandInCredential()
    with PoolMcpCredentials(POOL, credential, http=http) as mcp:
        server = mcp.server()
    assert (server.endpoint, server.api_key) == ("https://pool.example.com/mcp", "key-123")
    assert [(r.method, r.path) for r in pool.requests] == [("GET", POOL), ("POST", f"{POOL}/{FETCH_KEY}")]
    assert pool.requests[1].query == {"api-version": [POOL_API_VERSION]}
    assert not http.is_closed and credential.closed == 0
    http.close()


def test_the_mcp_key_fetch_closes_its_own_http_client():
    mcp = PoolMcpCredentials(POOL, arm_endpoint="http://127.0.0.1:1")
    mcp.close()
    assert mcp._arm._http.is_closed


def test_a_403_on_the_mcp_key_names_the_action_and_never_the_token():
    pool = MockPool(arm_error(403, "AuthorizationFailed"))
    with (
        PoolMcpCredentials(POOL, StandInCredential(), http=httpx.Client(transport=pool.transport())) as mcp,
        pytest.raises(ArmAccessDenied) as denied,
    ):
        mcp.api_key()
    assert f"{FETCH_KEY}/action" in str(denied.value) and "entra-token" not in str(denied.value)


def test_the_mcp_key_fetch_refuses_an_async_credential():
    with pytest.raises(ConfigurationError, match=r"asynchronous"):
        PoolMcpCredentials(POOL, AsyncStandInCredential())


@pytest.mark.parametrize(
    "endpoint",
    ["http://management.azure.com", "ftp://x", "https://management.azure.com/x", "https://management.azure.com?a=1"],
)
def test_bad_endpoints_are_refused_naming_the_flag(endpoint):
    with pytest.raises(ConfigurationError, match=r"--arm-endpoint"):
        ArmReader(endpoint, token_provider=FixedToken())


@pytest.mark.parametrize("bad", ["devpool", "/subscriptions/", "/subscriptions/x/../y", "/subscriptions/x?y=1"])
def test_a_pool_id_that_is_not_an_arm_id_is_refused_before_any_request(bad):
    pool = MockPool()
    with reader(pool) as arm, pytest.raises(ConfigurationError, match=r"is not an ARM resource id"):
        arm.get_pool(bad)
    assert pool.requests == []


@pytest.mark.parametrize(
    ("endpoint", "scope"),
    [
        ("https://management.azure.com", "https://management.azure.com/.default"),
        ("https://management.chinacloudapi.cn/", "https://management.chinacloudapi.cn/.default"),
    ],
)
def test_the_token_is_asked_for_each_clouds_resource_manager(endpoint, scope):
    credential = StandInCredential()
    with ArmReader(endpoint, credential=credential) as arm:
        assert arm.tokens.token() == "entra-token-1"
    assert credential.scopes == [(scope,)]


def test_the_reader_closes_the_default_credential_it_made_and_not_a_given_one(monkeypatch):
    from dynamic_sessions.client import tokens

    made: list[StandInCredential] = []

    def make() -> StandInCredential:
        made.append(StandInCredential())
        return made[-1]

    monkeypatch.setattr(tokens, "default_credential", make)
    pool = MockPool(Reply(body={"properties": PROPERTIES}))
    with ArmReader(ARM, http=httpx.Client(transport=pool.transport())) as arm:
        arm.get_pool(POOL)
    given = StandInCredential()
    with ArmReader(ARM, credential=given, http=httpx.Client(transport=pool.transport())) as arm:
        arm.get_pool(POOL)
    assert [c.closed for c in made] == [1] and given.closed == 0
