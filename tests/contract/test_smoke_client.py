"""The data-plane client over real loopback HTTP: exact requests, parsing, errors, tokens."""

import asyncio
import dataclasses
import re
import time
from dataclasses import dataclass
from typing import Any

import pytest

from dynamic_sessions import __version__
from dynamic_sessions.client.client import AsyncSessionsClient, SessionsClient, tls_verify
from dynamic_sessions.client.errors import (
    AccessDenied,
    ConfigurationError,
    ConnectFailed,
    NotSupported,
    RequestRejected,
    ServiceUnavailable,
    Throttled,
    UnexpectedResponse,
    UnreachableError,
)
from dynamic_sessions.client.retries import RetryPolicy, Wait
from dynamic_sessions.client.tokens import AUDIENCE, SCOPE, EntraToken, LocalToken
from tests.fault_server import RELEASED, FaultServer, Reply, error, executions_ok, legacy_ok

HELLO = 'console.log("hello-world")'


class FixedToken:
    def __init__(self, value: str = "test-token-abc"):
        self.value = value

    def token(self) -> str:
        return self.value


@dataclass
class AccessToken:
    token: str
    expires_on: int


class StandInCredential:
    """Stands in for Microsoft Entra ID, which cannot be reached here: hands out numbered tokens."""

    def __init__(self, lifetime_s: int):
        self.lifetime_s = lifetime_s
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(f"entra-token-{len(self.scopes)}", int(time.time()) + self.lifetime_s)


def test_code_execute_request_is_exactly_the_tutorials():
    with FaultServer(legacy_ok()) as server, SessionsClient(server.url, token_provider=FixedToken()) as client:
        result = client.execute(HELLO, identifier="test")
    (sent,) = server.requests
    assert (sent.method, sent.path) == ("POST", "/code/execute")
    assert sent.query == {"api-version": ["2024-02-02-preview"], "identifier": ["test"]}
    assert sent.headers["authorization"] == "Bearer test-token-abc"
    assert sent.headers["user-agent"].startswith(f"dynamic-sessions-client/{__version__} ")
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == {
        "properties": {
            "codeInputType": "inline",
            "executionType": "synchronous",
            "code": HELLO,
            "timeoutInSeconds": 60,
        }
    }
    assert result.succeeded and result.status == "Success"
    assert (result.stdout, result.stderr, result.execution_result, result.execution_ms) == ("hello-world\n", "", "", 5)


@pytest.mark.parametrize("version", ["2024-10-02-preview", "2025-02-02-preview", "2025-10-02-preview"])
def test_executions_request_is_exactly_the_specs(version):
    reply = executions_ok(http_status=202 if version == "2024-10-02-preview" else 200)
    with (
        FaultServer(reply) as server,
        SessionsClient(server.url, api_version=version, token_provider=FixedToken()) as client,
    ):
        result = client.execute(HELLO, identifier="s-1", timeout_s=30)
    (sent,) = server.requests
    assert (sent.method, sent.path) == ("POST", "/executions")
    assert sent.query == {"api-version": [version], "identifier": ["s-1"]}
    assert sent.json() == {
        "codeInputType": "Inline",
        "executionType": "Synchronous",
        "code": HELLO,
        "timeoutInSeconds": 30,
    }
    assert result.succeeded and result.stdout == "hello-world\n" and result.status == "Succeeded"


def test_live_services_result_key_is_read_as_the_execution_result():
    reply = legacy_ok(key="result")
    reply.body["properties"]["result"] = 42
    with FaultServer(reply) as server, SessionsClient(server.url, token_provider=FixedToken()) as client:
        assert client.execute("41+1", identifier="test").execution_result == 42


@pytest.mark.parametrize(
    "version,reply,status",
    [
        ("2024-02-02-preview", legacy_ok(stdout="", status="Failure"), "Failure"),
        ("2025-10-02-preview", executions_ok(stdout="", status="Failed"), "Failed"),
    ],
)
def test_failed_code_is_a_result_not_an_exception(version, reply, status):
    with (
        FaultServer(reply) as server,
        SessionsClient(server.url, api_version=version, token_provider=FixedToken()) as client,
    ):
        result = client.execute("x", identifier="test")
    assert not result.succeeded and result.status == status and result.stderr


def test_trailing_slash_on_the_endpoint_is_dropped():
    with FaultServer(legacy_ok()) as server, SessionsClient(server.url + "//", token_provider=FixedToken()) as client:
        client.execute(HELLO, identifier="test")
    assert server.requests[0].path == "/code/execute"


@pytest.mark.parametrize(
    "version,expected", [("2024-02-02-preview", "2025-02-02-preview"), ("2025-10-02-preview", None)]
)
def test_release_deletes_the_session_at_a_version_that_has_it(version, expected):
    with (
        FaultServer(RELEASED) as server,
        SessionsClient(server.url, api_version=version, token_provider=FixedToken()) as client,
    ):
        assert client.release("smoke-1") is True
    (sent,) = server.requests
    assert (sent.method, sent.path) == ("DELETE", "/session")
    assert sent.query == {"api-version": [expected or version], "identifier": ["smoke-1"]}


@pytest.mark.parametrize(
    "version,upload,listing,content,upload_reply,list_reply",
    [
        (
            "2024-02-02-preview",
            "/files/upload",
            "/files",
            "/files/content/data.csv",
            {"value": [{"properties": {"filename": "data.csv", "size": 3, "lastModifiedTime": "t"}}]},
            {"value": [{"properties": {"filename": "data.csv", "size": 3, "lastModifiedTime": "t"}}]},
        ),
        (
            "2025-10-02-preview",
            "/files",
            "/files",
            "/files/data.csv/content",
            {"name": "data.csv", "type": "file", "sizeInBytes": 3, "lastModifiedAt": "t"},
            {"value": [{"name": "data.csv", "type": "file", "sizeInBytes": 3, "lastModifiedAt": "t"}]},
        ),
    ],
)
def test_files_use_each_contracts_routes(version, upload, listing, content, upload_reply, list_reply):
    script = [Reply(body=upload_reply), Reply(body=list_reply), Reply(body="a,b", headers={})]
    with (
        FaultServer(*script) as server,
        SessionsClient(server.url, api_version=version, token_provider=FixedToken()) as client,
    ):
        stored = client.upload_file("s-1", "data.csv", b"a,b")
        files = client.list_files("s-1")
        data = client.download_file("s-1", "data.csv")
    assert [(r.method, r.path) for r in server.requests] == [("POST", upload), ("GET", listing), ("GET", content)]
    assert b'name="file"; filename="data.csv"' in server.requests[0].body
    assert stored.name == "data.csv" and stored.size == 3
    assert [f.name for f in files] == ["data.csv"]
    assert data == b"a,b"


@pytest.mark.parametrize("asynchronous", [False, True], ids=["SessionsClient", "AsyncSessionsClient"])
def test_an_upload_sent_again_after_a_429_carries_the_whole_file_both_times(asynchronous):
    data = bytes(range(256)) * 4096 * 3  # 3 MiB: more than one of httpx's 64 KiB reads, and than a socket takes at once
    stored = {"name": "big.bin", "type": "file", "sizeInBytes": len(data), "lastModifiedAt": "t"}
    throttled = error(429, "TooManyRequests", "pool full", headers={"Retry-After": "0"})
    options: dict[str, Any] = {
        "api_version": "2025-10-02-preview",
        "token_provider": FixedToken(),
        "retry": RetryPolicy(backoff_s=0.01),
    }

    async def upload_async(url: str) -> Any:
        async with AsyncSessionsClient(url, **options) as client:
            return await client.upload_file("s-1", "big.bin", data)

    with FaultServer(throttled, Reply(body=stored)) as server:
        if asynchronous:
            info = asyncio.run(upload_async(server.url))
        else:
            with SessionsClient(server.url, **options) as client:
                info = client.upload_file("s-1", "big.bin", data)
    assert info.size == len(data) and len(server.requests) == 2
    for sent in server.requests:
        assert sent.body.count(data) == 1 and len(sent.body) - len(data) < 500  # the file, once, and its part's head


def test_http_errors_are_typed_and_carry_code_message_and_trace_but_never_the_token():
    token = "very-secret-token-value"
    with (
        FaultServer(error(403, "Forbidden", "role missing")) as server,
        SessionsClient(server.url, token_provider=FixedToken(token)) as client,
        pytest.raises(AccessDenied) as raised,
    ):
        client.execute(HELLO, identifier="test")
    denied = raised.value
    assert (denied.status, denied.error_code, denied.message, denied.trace_id) == (
        403,
        "Forbidden",
        "role missing",
        "trace-123",
    )
    assert token not in str(denied) and token not in repr(denied.__dict__)


def test_retry_after_is_read_from_a_429():
    with (
        FaultServer(error(429, "TooManyRequests", headers={"Retry-After": "7"})) as server,
        SessionsClient(server.url, token_provider=FixedToken()) as client,
        pytest.raises(Throttled) as raised,
    ):
        client.execute(HELLO, identifier="test")
    assert raised.value.retry_after == 7.0


def test_html_instead_of_json_is_an_unexpected_response():
    with (
        FaultServer(Reply(body="<html>gateway</html>")) as server,
        SessionsClient(server.url, token_provider=FixedToken()) as client,
        pytest.raises(UnexpectedResponse, match="not JSON"),
    ):
        client.execute(HELLO, identifier="test")


def test_a_deadline_bounds_a_request_that_hangs():
    with (
        FaultServer(Reply(delay_s=3, body={})) as server,
        SessionsClient(server.url, token_provider=FixedToken()) as client,
    ):
        client.deadline = time.monotonic() + 0.3
        with pytest.raises(UnreachableError, match="Timeout"):
            client.execute(HELLO, identifier="test")


def test_an_execution_given_a_longer_timeout_than_the_clients_is_waited_for(monkeypatch):
    monkeypatch.setattr("dynamic_sessions.client.flows.READ_MARGIN_S", 0.2)
    # Both answers come later than the client's own wait (1 s + 0.2 s); the second well within 3 s + 0.2 s.
    slower, slow = dataclasses.replace(legacy_ok(), delay_s=2), dataclasses.replace(legacy_ok(), delay_s=1.5)
    with (
        FaultServer(slower, slow) as server,
        SessionsClient(server.url, token_provider=FixedToken(), execution_timeout_s=1) as client,
    ):
        with pytest.raises(UnreachableError, match="Timeout"):
            client.execute(HELLO, identifier="test")
        result = client.execute(HELLO, identifier="test", timeout_s=3)
    assert result.stdout == "hello-world\n"
    assert server.requests[1].json()["properties"]["timeoutInSeconds"] == 3


@pytest.mark.parametrize("timeout_s", [0, -5, 221])
def test_an_execution_timeout_outside_azures_range_is_refused_before_any_request(timeout_s):
    refused = rf"timeout_s={timeout_s} is not allowed: 1\.\.220 seconds"
    with (
        FaultServer(legacy_ok()) as server,
        SessionsClient(server.url, token_provider=FixedToken()) as client,
        pytest.raises(ConfigurationError, match=refused),
    ):
        client.execute(HELLO, identifier="test", timeout_s=timeout_s)
    assert server.requests == []
    with pytest.raises(ConfigurationError, match=rf"execution_timeout_s={timeout_s} is not allowed: 1\.\.220"):
        SessionsClient(server.url, token_provider=FixedToken(), execution_timeout_s=timeout_s)


def test_a_running_execution_is_polled_until_it_ends():
    running = executions_ok(status="Running", http_status=202)
    running.body.pop("result")
    with (
        FaultServer(running, executions_ok()) as server,
        SessionsClient(server.url, api_version="2025-10-02-preview", token_provider=FixedToken()) as client,
    ):
        result = client.execute(HELLO, identifier="test")
    assert [(r.method, r.path) for r in server.requests] == [
        ("POST", "/executions"),
        ("GET", "/executions/6a0c7f0e-0000-4000-8000-000000000001"),
    ]
    assert result.succeeded


@pytest.mark.parametrize(
    "endpoint,message",
    [
        ("http://pool.example.com", "plain http on a non-loopback host"),
        ("ftp://127.0.0.1", "not an http(s) URL"),
        ("https://x.dynamicsessions.io/p?identifier=a", "query"),
    ],
)
def test_bad_endpoints_are_refused_before_any_request(endpoint, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        SessionsClient(endpoint, token_provider=FixedToken())


def test_unknown_api_version_lists_the_supported_ones():
    with pytest.raises(ConfigurationError, match="2024-02-02-preview, 2024-08-02-preview, 2024-10-02-preview"):
        SessionsClient("http://127.0.0.1:1", api_version="2023-01-01")


def test_entra_token_is_cached_and_asked_for_the_pools_scope():
    credential = StandInCredential(lifetime_s=3600)
    with (
        FaultServer(legacy_ok()) as server,
        SessionsClient(server.url, token_provider=EntraToken(credential)) as client,
    ):
        client.execute(HELLO, identifier="test")
        client.execute(HELLO, identifier="test")
    assert credential.scopes == [(SCOPE,)]
    assert SCOPE == "https://dynamicsessions.io/.default"
    assert {r.headers["authorization"] for r in server.requests} == {"Bearer entra-token-1"}


def test_entra_token_is_refreshed_before_it_expires():
    credential = StandInCredential(lifetime_s=120)  # inside the refresh margin: every use fetches anew
    with (
        FaultServer(legacy_ok()) as server,
        SessionsClient(server.url, token_provider=EntraToken(credential)) as client,
    ):
        client.execute(HELLO, identifier="test")
        client.execute(HELLO, identifier="test")
    assert [r.headers["authorization"] for r in server.requests] == ["Bearer entra-token-1", "Bearer entra-token-2"]


def test_local_token_has_the_pools_audience_and_a_future_expiry():
    import jwt

    claims = jwt.decode(LocalToken().token(), options={"verify_signature": False})
    assert claims["aud"] == AUDIENCE
    assert claims["exp"] > time.time() + 3000


def test_loopback_http_endpoint_gets_a_local_token_without_azure():
    with FaultServer(legacy_ok()) as server, SessionsClient(server.url) as client:
        client.execute(HELLO, identifier="test")
        assert isinstance(client.tokens.provider, LocalToken)
    assert server.requests[0].headers["authorization"].startswith("Bearer ey")


def test_async_client_sends_the_same_request():
    async def go():
        async with AsyncSessionsClient(
            server.url, api_version="2025-10-02-preview", token_provider=FixedToken()
        ) as client:
            return await client.execute(HELLO, identifier="async-1")

    with FaultServer(executions_ok()) as server:
        result = asyncio.run(go())
    (sent,) = server.requests
    assert (sent.method, sent.path, sent.query["identifier"]) == ("POST", "/executions", ["async-1"])
    assert sent.json()["code"] == HELLO and result.succeeded


def test_release_of_an_unknown_session_is_false():
    with (
        FaultServer(error(404, "NotFound", "No live session has this identifier.")) as server,
        SessionsClient(server.url, api_version="2025-10-02-preview", token_provider=FixedToken()) as client,
    ):
        assert client.release("never-used") is False
    (sent,) = server.requests
    assert (sent.method, sent.path, sent.query["identifier"]) == ("DELETE", "/session", ["never-used"])


SESSION = {
    "identifier": "s-1",
    "createdAt": "2026-01-01T00:00:00Z",
    "lastAccessedAt": "2026-01-01T00:01:00Z",
    "expireAt": "2026-01-01T00:06:00Z",
    "etag": "c-1",
}


def test_get_session_reads_the_session_and_none_for_an_unknown_one():
    script = [Reply(body=SESSION), error(404, "NotFound", "No live session has this identifier.")]
    with (
        FaultServer(*script) as server,
        SessionsClient(server.url, api_version="2025-02-02-preview", token_provider=FixedToken()) as client,
    ):
        found = client.get_session("s-1")
        missing = client.get_session("s-2")
    assert [(r.method, r.path, r.query) for r in server.requests] == [
        ("GET", "/session", {"api-version": ["2025-02-02-preview"], "identifier": ["s-1"]}),
        ("GET", "/session", {"api-version": ["2025-02-02-preview"], "identifier": ["s-2"]}),
    ]
    assert found is not None and (found.identifier, found.expire_at, found.etag) == (
        "s-1",
        "2026-01-01T00:06:00Z",
        "c-1",
    )
    assert missing is None


def test_list_sessions_follows_next_links_on_the_pools_own_endpoint():
    with FaultServer() as server:
        server.script = [
            Reply(body={"sessions": [SESSION], "nextLink": f"{server.url}/listSessions?skip=1"}),
            Reply(body={"sessions": [{**SESSION, "identifier": "s-2"}]}),
        ]
        with SessionsClient(server.url, api_version="2025-10-02-preview", token_provider=FixedToken()) as client:
            sessions = client.list_sessions()
    assert [s.identifier for s in sessions] == ["s-1", "s-2"]
    first, second = server.requests
    assert (first.path, first.query) == ("/listSessions", {"api-version": ["2025-10-02-preview"]})
    assert (second.path, second.query) == ("/listSessions", {"skip": ["1"], "api-version": ["2025-10-02-preview"]})
    assert second.headers["authorization"] == "Bearer test-token-abc"


def test_list_sessions_refuses_a_next_link_to_another_host():
    page = Reply(body={"sessions": [SESSION], "nextLink": "https://elsewhere.example.com/listSessions?skip=1"})
    with (
        FaultServer(page) as server,
        SessionsClient(server.url, api_version="2025-10-02-preview", token_provider=FixedToken()) as client,
        pytest.raises(UnexpectedResponse, match=re.escape("elsewhere.example.com")),
    ):
        client.list_sessions()
    assert len(server.requests) == 1


def test_delete_file_uses_the_files_route_and_is_false_for_a_missing_file():
    script = [Reply(status=204), error(404, "NotFound", "no such file")]
    with (
        FaultServer(*script) as server,
        SessionsClient(server.url, api_version="2024-10-02-preview", token_provider=FixedToken()) as client,
    ):
        assert client.delete_file("s-1", "my data.csv") is True
        assert client.delete_file("s-1", "gone.csv") is False
    assert [(r.method, r.path, r.query["identifier"]) for r in server.requests] == [
        ("DELETE", "/files/my%20data.csv", ["s-1"]),
        ("DELETE", "/files/gone.csv", ["s-1"]),
    ]


@pytest.mark.parametrize(
    "version,operation,needs",
    [
        ("2024-02-02-preview", lambda c: c.delete_file("s", "a.txt"), "2024-10-02-preview"),
        ("2024-08-02-preview", lambda c: c.list_sessions(), "2025-02-02-preview or 2025-10-02-preview"),
        ("2024-10-02-preview", lambda c: c.get_session("s"), "2025-02-02-preview or 2025-10-02-preview"),
    ],
)
def test_operations_missing_from_the_api_version_say_which_versions_have_them(version, operation, needs):
    with (
        FaultServer() as server,
        SessionsClient(server.url, api_version=version, token_provider=FixedToken()) as client,
        pytest.raises(NotSupported, match=re.escape(needs)) as raised,
    ):
        operation(client)
    assert version in str(raised.value)
    assert server.requests == []


def test_async_client_has_the_session_and_file_operations():
    async def go():
        async with AsyncSessionsClient(
            server.url, api_version="2025-10-02-preview", token_provider=FixedToken()
        ) as client:
            return await client.get_session("s-1"), await client.list_sessions(), await client.delete_file("s-1", "a")

    script = [Reply(body=SESSION), Reply(body={"sessions": [SESSION]}), Reply(status=204)]
    with FaultServer(*script) as server:
        found, listed, deleted = asyncio.run(go())
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/session"),
        ("GET", "/listSessions"),
        ("DELETE", "/files/a"),
    ]
    assert found is not None and found.identifier == "s-1" and [s.identifier for s in listed] == ["s-1"] and deleted


# --- the opt-in retry policy -----------------------------------------------------------------------


def test_without_a_policy_nothing_is_retried():
    with (
        FaultServer(error(503, "ServiceUnavailable"), legacy_ok()) as server,
        SessionsClient(server.url, token_provider=FixedToken()) as client,
        pytest.raises(ServiceUnavailable),
    ):
        client.execute(HELLO, identifier="test")
    assert len(server.requests) == 1


def test_policy_waits_the_retry_after_of_a_429_then_succeeds():
    waits: list[Wait] = []
    policy = RetryPolicy(backoff_s=0.01, on_wait=waits.append)
    throttled = error(429, "TooManyRequests", "pool full", headers={"Retry-After": "1"})
    with (
        FaultServer(throttled, legacy_ok()) as server,
        SessionsClient(server.url, token_provider=FixedToken(), retry=policy) as client,
    ):
        result = client.execute(HELLO, identifier="test")
    assert result.succeeded
    first, second = server.requests
    assert second.at - first.at >= 0.95
    (wait,) = waits
    assert isinstance(wait.error, Throttled) and wait.attempt == 1 and wait.delay_s == 1.0
    assert wait.left_s is not None and 0 < wait.left_s <= 60


def test_policy_retries_5xx_up_to_its_attempts_then_raises_the_last_error():
    policy = RetryPolicy(attempts=3, backoff_s=0.01)
    with (
        FaultServer(error(500, "InternalServerError"), error(503, "ServiceUnavailable")) as server,
        SessionsClient(server.url, api_version="2025-10-02-preview", token_provider=FixedToken(), retry=policy) as c,
        pytest.raises(ServiceUnavailable) as raised,
    ):
        c.execute(HELLO, identifier="test")
    assert len(server.requests) == 3 and raised.value.status == 503


def test_policy_gives_up_when_the_next_pause_would_pass_its_timeout():
    policy = RetryPolicy(timeout_s=2, backoff_s=0.01)
    with (
        FaultServer(error(429, "TooManyRequests", headers={"Retry-After": "30"})) as server,
        SessionsClient(server.url, token_provider=FixedToken(), retry=policy) as client,
        pytest.raises(Throttled),
    ):
        client.execute(HELLO, identifier="test")
    assert len(server.requests) == 1


@pytest.mark.parametrize("reply", [error(400, "BadRequest"), error(403, "Forbidden"), Reply(delay_s=3, body={})])
def test_policy_does_not_retry_what_another_try_would_not_fix_or_might_run_twice(reply):
    with (
        FaultServer(reply, legacy_ok()) as server,
        SessionsClient(server.url, token_provider=FixedToken(), retry=RetryPolicy(backoff_s=0.01)) as client,
        pytest.raises((RequestRejected, AccessDenied, UnreachableError)),
    ):
        client.deadline = time.monotonic() + 0.5  # bounds the read of the hanging reply
        client.execute(HELLO, identifier="test")
    assert len(server.requests) == 1


def _free_port() -> int:
    with FaultServer() as server:
        return int(server.url.rsplit(":", 1)[1])  # free again once the server is gone


def test_policy_retries_a_refused_connection_to_a_remote_host():
    waits: list[Wait] = []
    policy = RetryPolicy(attempts=3, backoff_s=0.01, on_wait=waits.append)
    # 0.0.0.0 is not a loopback address, yet Linux connects it to this machine: a remote host that refuses.
    endpoint = f"https://0.0.0.0:{_free_port()}"
    with SessionsClient(endpoint, token_provider=FixedToken(), retry=policy) as client, pytest.raises(ConnectFailed):
        client.execute(HELLO, identifier="test")
    assert client.remote and [w.attempt for w in waits] == [1, 2]


def test_policy_does_not_retry_a_refused_connection_on_loopback():
    waits: list[Wait] = []
    policy = RetryPolicy(attempts=3, backoff_s=0.01, on_wait=waits.append)
    with (
        SessionsClient(f"http://127.0.0.1:{_free_port()}", token_provider=FixedToken(), retry=policy) as client,
        pytest.raises(ConnectFailed, match="ConnectError"),
    ):
        client.execute(HELLO, identifier="test")
    assert not client.remote and waits == []


def test_async_client_follows_the_same_policy():
    waits: list[Wait] = []

    async def go():
        policy = RetryPolicy(backoff_s=0.01, on_wait=waits.append)
        async with AsyncSessionsClient(
            server.url, api_version="2025-10-02-preview", token_provider=FixedToken(), retry=policy
        ) as client:
            return await client.execute(HELLO, identifier="async-1")

    script = [error(429, "TooManyRequests", headers={"Retry-After": "0.2"}), error(502, "BadGateway"), executions_ok()]
    with FaultServer(*script) as server:
        result = asyncio.run(go())
    assert result.succeeded and len(server.requests) == 3
    assert [type(w.error) for w in waits] == [Throttled, ServiceUnavailable] and waits[0].delay_s == 0.2


@pytest.mark.parametrize(
    "options,message",
    [
        ({"attempts": 0}, "attempts=0 must be at least 1"),
        ({"timeout_s": -1}, "timeout_s=-1 is not allowed: a number of seconds, 0 or more (or None"),
        ({"backoff_s": float("nan")}, "backoff_s=nan is not allowed: a number of seconds, 0 or more"),
        ({"backoff_max_s": float("inf")}, "backoff_max_s=inf is not allowed"),
    ],
)
def test_a_bad_policy_names_the_setting_the_value_and_what_is_allowed(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        RetryPolicy(**options)


# --- what a plain-http endpoint costs ------------------------------------------------------------


def test_only_https_endpoints_load_the_ca_bundle(monkeypatch):
    import ssl

    loaded: list[object] = []
    original = ssl.SSLContext.load_verify_locations

    def record(context, *args, **kwargs):
        loaded.append(args or kwargs)
        return original(context, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", record)
    SessionsClient("http://127.0.0.1:8480", token_provider=FixedToken()).close()
    assert loaded == []
    SessionsClient("https://pool.example.com", token_provider=FixedToken()).close()
    assert len(loaded) == 1


# --- no Azure credential -------------------------------------------------------------------------


class RefusingCredential:
    """Raises as DefaultAzureCredential does when nothing is signed in, after logging its report as it does."""

    REPORT = (
        "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
        "Attempted credentials:\n"
        "\tEnvironmentCredential: EnvironmentCredential authentication unavailable.\n"
        "Visit https://aka.ms/azsdk/python/identity/environmentcredential/troubleshoot to troubleshoot this issue.\n"
        "\tManagedIdentityCredential: ManagedIdentityCredential authentication unavailable.\n"
        "\tAzureCliCredential: Azure CLI not found on path\n"
        "To mitigate this issue, please refer to the troubleshooting guidelines."
    )

    def get_token(self, *scopes: str) -> AccessToken:
        import logging

        logging.getLogger("azure.identity._credentials.chained").warning(self.REPORT)
        raise RuntimeError(self.REPORT)


def test_no_credential_is_one_line_naming_the_credentials_tried_and_nothing_is_logged(caplog):
    with (
        caplog.at_level("DEBUG"),
        SessionsClient("https://pool.example.com", token_provider=EntraToken(RefusingCredential())) as client,
        pytest.raises(ConfigurationError) as raised,
    ):
        client.execute(HELLO, identifier="test")
    message = str(raised.value)
    assert "\n" not in message
    assert "tried EnvironmentCredential, ManagedIdentityCredential, AzureCliCredential" in message
    assert "az login" in message
    assert not [r for r in caplog.records if r.name.startswith("azure.identity")]
    import logging

    assert logging.getLogger("azure.identity").level == logging.NOTSET  # restored after the call


def test_backoff_doubles_with_jitter_up_to_its_cap():
    policy = RetryPolicy(backoff_s=1.0, backoff_max_s=4.0)
    for _ in range(50):
        assert 0.5 <= policy.backoff(1) <= 1.0
        assert 1.0 <= policy.backoff(2) <= 2.0
        assert 2.0 <= policy.backoff(3) <= 4.0
        assert 2.0 <= policy.backoff(40) <= 4.0


def test_the_plain_http_context_trusts_no_one():
    import ssl

    context = tls_verify("http://127.0.0.1:8480")
    assert tls_verify("https://pool.example.com") is True  # httpx's own, with its CA bundle
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs() == []
