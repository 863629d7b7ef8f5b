"""The data-plane client over real loopback HTTP: exact requests, parsing, errors, tokens."""

import asyncio
import re
import time
from dataclasses import dataclass

import pytest

from dynamic_sessions import __version__
from dynamic_sessions.client.client import AsyncSessionsClient, SessionsClient
from dynamic_sessions.client.errors import (
    AccessDenied,
    ConfigurationError,
    Throttled,
    UnexpectedResponse,
    UnreachableError,
)
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
        assert isinstance(client.tokens, LocalToken)
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
