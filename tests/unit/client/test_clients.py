"""`SessionsClient` and `AsyncSessionsClient` through `httpx.MockTransport`, each test run with both: what they
send, the typed errors they raise, retries, tokens and credentials, and what each closes."""

import asyncio
import base64
import json
import re
import threading
from typing import Any

import httpx
import pytest

from dynamic_sessions.client import tokens
from dynamic_sessions.client.client import AsyncSessionsClient, SessionsClient
from dynamic_sessions.client.errors import (
    AccessDenied,
    ConfigurationError,
    ConnectFailed,
    MissingExtra,
    NotFound,
    NotSupported,
    RequestRejected,
    ServiceUnavailable,
    Throttled,
    UnexpectedResponse,
    UnreachableError,
)
from dynamic_sessions.client.retries import RetryPolicy, Wait
from dynamic_sessions.client.tokens import LocalToken, TokenCache
from tests.ca_bundle import record_ca_bundle_loads
from tests.fakes import AsyncStandInCredential, FixedToken, StandInCredential
from tests.fault_server import RELEASED, Reply, error, executions_ok, legacy_ok
from tests.mock_pool import URL, MockPool

HELLO = 'console.log("hello-world")'
LATEST = "2025-10-02-preview"
BOTH = pytest.mark.parametrize("asynchronous", [False, True], ids=["SessionsClient", "AsyncSessionsClient"])


@BOTH
def test_execute_sends_the_tutorials_request_with_the_token_and_reads_the_result(asynchronous):
    pool = MockPool(legacy_ok())
    result = pool.run(asynchronous, "execute", HELLO, "user-42", token_provider=FixedToken("tok-1"))
    (sent,) = pool.requests
    assert (sent.method, sent.path, sent.query) == (
        "POST",
        "/code/execute",
        {"api-version": ["2024-02-02-preview"], "identifier": ["user-42"]},
    )
    assert sent.headers["authorization"] == "Bearer tok-1" and sent.json()["properties"]["code"] == HELLO
    assert sent.headers["user-agent"].startswith("dynamic-sessions-client/")
    assert result.succeeded and result.stdout == "hello-world\n"


@BOTH
def test_a_running_execution_is_polled_until_it_ends(asynchronous, monkeypatch):
    monkeypatch.setattr("dynamic_sessions.client.flows.POLL_INTERVAL_S", 0.01)
    running = Reply(status=202, body={"id": "e-1", "status": "Running"})
    pool = MockPool(running, executions_ok())
    result = pool.run(asynchronous, "execute", HELLO, "s", api_version=LATEST)
    assert result.succeeded and [r.path for r in pool.requests] == ["/executions", "/executions/e-1"]


@BOTH
@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (error(400, "BadRequest"), RequestRejected),
        (error(403, "Forbidden", "role missing"), AccessDenied),
        (error(404, "NotFound", "no route"), NotFound),
        (error(404, "SessionPoolFull", "the pool is full"), Throttled),
        (error(429, "TooManyRequests", headers={"Retry-After": "7"}), Throttled),
        (error(503, "ServiceUnavailable"), ServiceUnavailable),
    ],
)
def test_http_errors_are_typed_and_carry_code_message_and_trace_but_never_the_token(asynchronous, reply, kind):
    pool = MockPool(reply)
    with pytest.raises(kind) as raised:
        pool.run(asynchronous, "execute", HELLO, "s", token_provider=FixedToken("very-secret-token-value"))
    failed = raised.value
    assert type(failed) is kind and failed.status == reply.status and failed.trace_id == "trace-123"
    assert failed.error_code == reply.headers["x-ms-error-code"]
    assert "very-secret-token-value" not in str(failed) and "very-secret-token-value" not in repr(failed.__dict__)
    if reply.status == 429:
        assert failed.retry_after == 7.0


@BOTH
@pytest.mark.parametrize(
    ("failure", "kind", "said"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), ConnectFailed, "could not connect to https://pool"),
        (httpx.ConnectTimeout("timed out"), ConnectFailed, "poolManagementEndpoint"),
        (httpx.ReadTimeout("timed out"), UnreachableError, "no answer from https://pool.example.com (ReadTimeout"),
        (httpx.RemoteProtocolError("closed"), UnreachableError, "no answer from"),
    ],
)
def test_no_answer_is_an_unreachable_error_naming_the_endpoint(asynchronous, failure, kind, said):
    with pytest.raises(kind) as raised:
        MockPool(failure).run(asynchronous, "execute", HELLO, "s")
    assert type(raised.value) is kind and said in str(raised.value)


@BOTH
def test_a_refused_connection_on_loopback_says_how_to_start_the_emulator(asynchronous):
    with pytest.raises(ConnectFailed, match=r"start the emulator there: dynamic-sessions-emulator --port 8480"):
        MockPool(httpx.ConnectError("refused")).run(asynchronous, "execute", HELLO, "s", url="http://127.0.0.1:8480")


@BOTH
def test_html_instead_of_json_is_an_unexpected_response(asynchronous):
    pool = MockPool(Reply(body="<html>gateway</html>", headers={"content-type": "text/html"}))
    with pytest.raises(UnexpectedResponse, match=r"not JSON"):
        pool.run(asynchronous, "execute", HELLO, "s")


@BOTH
def test_the_session_and_file_operations(asynchronous):
    session = {"identifier": "s-1", "createdAt": "c", "lastAccessedAt": "l", "expireAt": "e", "etag": "t"}
    stored = {"name": "a.txt", "type": "file", "sizeInBytes": 5, "lastModifiedAt": "t"}
    pool = MockPool(lambda request: _files_and_sessions(request, session, stored))
    options = {"api_version": LATEST}
    assert pool.run(asynchronous, "get_session", "s-1", **options).identifier == "s-1"
    assert [s.identifier for s in pool.run(asynchronous, "list_sessions", **options)] == ["s-1"]
    assert pool.run(asynchronous, "upload_file", "s-1", "a.txt", b"hello", **options).size == 5
    assert [f.name for f in pool.run(asynchronous, "list_files", "s-1", **options)] == ["a.txt"]
    assert pool.run(asynchronous, "download_file", "s-1", "a.txt", **options) == b"hello"
    assert pool.run(asynchronous, "delete_file", "s-1", "a.txt", **options) is True
    assert pool.run(asynchronous, "release", "s-1", **options) is True
    assert [(r.method, r.path) for r in pool.requests] == [
        ("GET", "/session"),
        ("GET", "/listSessions"),
        ("POST", "/files"),
        ("GET", "/files"),
        ("GET", "/files/a.txt/content"),
        ("DELETE", "/files/a.txt"),
        ("DELETE", "/session"),
    ]


def _files_and_sessions(request: httpx.Request, session: dict, stored: dict) -> httpx.Response:
    path = request.url.path
    if path == "/session" and request.method == "DELETE":
        return httpx.Response(204)
    if path == "/session":
        return httpx.Response(200, json=session)
    if path == "/listSessions":
        return httpx.Response(200, json={"sessions": [session]})
    if path == "/files" and request.method == "POST":
        return httpx.Response(200, json=stored)
    if path == "/files":
        return httpx.Response(200, json={"value": [stored]})
    if path.endswith("/content"):
        return httpx.Response(200, content=b"hello")
    return httpx.Response(204)


@BOTH
def test_release_and_missing_things_are_false_or_none_on_a_404(asynchronous):
    pool = MockPool(Reply(status=404, body={"error": {"message": "none"}}))
    assert pool.run(asynchronous, "release", "gone") is False
    assert pool.run(asynchronous, "get_session", "gone", api_version=LATEST) is None
    assert pool.run(asynchronous, "delete_file", "s", "x", api_version=LATEST) is False


@BOTH
def test_run_command_needs_a_shell_version_and_sends_nothing_before(asynchronous):
    pool = MockPool(RELEASED)
    with pytest.raises(NotSupported, match=r"run_command needs api version 2025-02-02-preview or 2025-10-02-preview"):
        pool.run(asynchronous, "run_command", "ls", "s")
    assert pool.requests == []


@BOTH
def test_without_a_policy_nothing_is_retried(asynchronous):
    pool = MockPool(error(503, "ServiceUnavailable"), legacy_ok())
    with pytest.raises(ServiceUnavailable):
        pool.run(asynchronous, "execute", HELLO, "s")
    assert len(pool.requests) == 1


@BOTH
def test_a_policy_retries_429_and_5xx_telling_each_pause(asynchronous):
    waits: list[Wait] = []
    policy = RetryPolicy(backoff_s=0.01, on_wait=waits.append)
    script = [error(429, "TooManyRequests", headers={"Retry-After": "0.02"}), error(502, "BadGateway"), executions_ok()]
    pool = MockPool(*script)
    result = pool.run(asynchronous, "execute", HELLO, "s", api_version=LATEST, retry=policy)
    assert result.succeeded and len(pool.requests) == 3
    assert [type(w.error) for w in waits] == [Throttled, ServiceUnavailable] and waits[0].delay_s == 0.02
    assert [w.attempt for w in waits] == [1, 2]


@BOTH
def test_a_policy_gives_up_after_its_attempts_with_the_last_error(asynchronous):
    pool = MockPool(error(500, "InternalServerError"), error(503, "ServiceUnavailable"))
    with pytest.raises(ServiceUnavailable) as raised:
        pool.run(asynchronous, "execute", HELLO, "s", retry=RetryPolicy(attempts=3, backoff_s=0.01))
    assert len(pool.requests) == 3 and raised.value.status == 503


@BOTH
def test_a_policy_gives_up_when_the_next_pause_would_pass_its_timeout(asynchronous):
    pool = MockPool(error(429, "TooManyRequests", headers={"Retry-After": "30"}))
    with pytest.raises(Throttled):
        pool.run(asynchronous, "execute", HELLO, "s", retry=RetryPolicy(timeout_s=2, backoff_s=0.01))
    assert len(pool.requests) == 1


@BOTH
@pytest.mark.parametrize(
    "failure", [error(400, "BadRequest"), error(403, "Forbidden"), httpx.ReadTimeout("the code may have run")]
)
def test_a_policy_does_not_retry_what_another_try_would_not_fix_or_might_run_twice(asynchronous, failure):
    pool = MockPool(failure, legacy_ok())
    with pytest.raises((RequestRejected, AccessDenied, UnreachableError)):
        pool.run(asynchronous, "execute", HELLO, "s", retry=RetryPolicy(backoff_s=0.01))
    assert len(pool.requests) == 1


@BOTH
def test_a_policy_retries_a_refused_connection_to_a_remote_host_not_to_loopback(asynchronous):
    waits: list[Wait] = []
    policy = RetryPolicy(attempts=3, backoff_s=0.01, on_wait=waits.append)
    remote = MockPool(httpx.ConnectError("refused"))
    with pytest.raises(ConnectFailed):
        remote.run(asynchronous, "execute", HELLO, "s", retry=policy)
    assert len(remote.requests) == 3 and [w.attempt for w in waits] == [1, 2]
    local = MockPool(httpx.ConnectError("refused"))
    with pytest.raises(ConnectFailed):
        local.run(asynchronous, "execute", HELLO, "s", url="http://127.0.0.1:8480", retry=policy)
    assert len(local.requests) == 1


@BOTH
def test_an_upload_sent_again_after_a_429_carries_the_whole_file_both_times(asynchronous):
    data = bytes(range(256)) * 4096 * 3  # 3 MiB: more than one of httpx's 64 KiB reads
    stored = {"name": "big.bin", "type": "file", "sizeInBytes": len(data), "lastModifiedAt": "t"}
    throttled = error(429, "TooManyRequests", "pool full", headers={"Retry-After": "0"})
    pool = MockPool(throttled, Reply(body=stored))
    policy = RetryPolicy(backoff_s=0.01)
    info = pool.run(asynchronous, "upload_file", "s-1", "big.bin", data, api_version=LATEST, retry=policy)
    assert info.size == len(data) and len(pool.requests) == 2
    for sent in pool.requests:
        assert sent.body.count(data) == 1 and len(sent.body) - len(data) < 500


@pytest.mark.parametrize(
    ("options", "message"),
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


def test_backoff_doubles_with_jitter_up_to_its_cap():
    policy = RetryPolicy(backoff_s=1.0, backoff_max_s=4.0)
    for _ in range(50):
        assert 0.5 <= policy.backoff(1) <= 1.0
        assert 1.0 <= policy.backoff(2) <= 2.0
        assert 2.0 <= policy.backoff(3) <= 4.0
        assert 2.0 <= policy.backoff(40) <= 4.0


# -- credentials -------------------------------------------------------------------------------------------------


def test_the_sync_client_refuses_an_async_credential_when_it_is_made():
    with pytest.raises(ConfigurationError) as raised:
        SessionsClient(URL, credential=AsyncStandInCredential())
    assert "AsyncStandInCredential" in str(raised.value) and "use AsyncSessionsClient" in str(raised.value)


@BOTH
def test_a_value_that_is_no_credential_is_refused_when_the_client_is_made(asynchronous):
    kind = AsyncSessionsClient if asynchronous else SessionsClient
    with pytest.raises(ConfigurationError, match=r"credential builtins.str has no get_token method"):
        kind(URL, credential="my-token")


@BOTH
def test_a_given_credentials_token_is_sent_to_an_https_pool(asynchronous):
    credential = StandInCredential()
    pool = MockPool(legacy_ok())
    pool.run(asynchronous, "execute", HELLO, "s", token_provider=None, credential=credential)
    assert pool.requests[0].headers["authorization"] == "Bearer entra-token-1"
    assert credential.scopes == [("https://dynamicsessions.io/.default",)]
    assert credential.closed == 0  # given, so the app's to close


@pytest.mark.parametrize(
    ("asynchronous", "credential"),
    [(False, StandInCredential), (True, StandInCredential), (True, AsyncStandInCredential)],
    ids=["SessionsClient", "AsyncSessionsClient", "AsyncSessionsClient-aio"],
)
def test_a_loopback_http_pool_gets_a_local_token_and_a_given_credential_is_not_called(asynchronous, credential):
    # docs/app.md's credentials table: against the emulator (plain http on loopback), a credential is never called.
    given = credential()
    pool = MockPool(legacy_ok())
    url = "http://127.0.0.1:8480"
    pool.run(asynchronous, "execute", HELLO, "s", url=url, token_provider=None, credential=given)
    scheme, token = pool.requests[0].headers["authorization"].split(" ", 1)
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert (scheme, payload["aud"]) == ("Bearer", "https://dynamicsessions.io")
    assert given.calls == 0


def test_the_async_client_awaits_an_async_credential():
    credential = AsyncStandInCredential()
    pool = MockPool(legacy_ok())
    pool.run(True, "execute", HELLO, "s", token_provider=None, credential=credential)
    assert pool.requests[0].headers["authorization"] == "Bearer entra-token-1" and credential.closed == 0


@BOTH
def test_the_default_credential_is_made_at_the_first_call_and_closed_with_the_client(asynchronous, monkeypatch):
    made: list[Any] = []

    def make() -> Any:
        made.append(AsyncStandInCredential() if asynchronous else StandInCredential())
        return made[-1]

    monkeypatch.setattr(tokens, "default_async_credential" if asynchronous else "default_credential", make)
    pool = MockPool(legacy_ok())
    pool.run(asynchronous, "execute", HELLO, "s", token_provider=None)
    assert len(made) == 1 and made[0].calls == 1 and made[0].closed == 1


@BOTH
def test_fifty_concurrent_first_calls_ask_the_credential_once(asynchronous):
    credential = AsyncStandInCredential(delay_s=0.05) if asynchronous else StandInCredential(delay_s=0.05)
    pool = MockPool(legacy_ok())
    if asynchronous:

        async def go() -> None:
            async with pool.async_client(token_provider=None, credential=credential) as client:
                await asyncio.gather(*(client.execute(HELLO, f"s-{n}") for n in range(50)))

        asyncio.run(go())
    else:
        with pool.sync_client(token_provider=None, credential=credential) as client:
            threads = [threading.Thread(target=client.execute, args=(HELLO, f"s-{n}")) for n in range(50)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
    assert credential.calls == 1 and len(pool.requests) == 50


def test_a_plain_http_loopback_client_mints_its_own_token_without_azure(monkeypatch):
    monkeypatch.setattr(tokens, "_installed", lambda module: False)
    with MockPool().sync_client("http://127.0.0.1:8480", token_provider=None) as client:
        assert isinstance(client.tokens.provider, LocalToken)  # type: ignore[union-attr]


@BOTH
def test_an_https_client_without_azure_identity_says_which_extra_brings_it(asynchronous, monkeypatch):
    monkeypatch.setattr(tokens, "_installed", lambda module: False)
    kind = AsyncSessionsClient if asynchronous else SessionsClient
    with pytest.raises(MissingExtra, match=r"azure-identity.*'client' extra"):
        kind(URL)


@BOTH
def test_an_https_client_with_a_credential_caches_it_in_a_token_cache(asynchronous):
    kind = AsyncSessionsClient if asynchronous else SessionsClient
    client = kind(URL, credential=StandInCredential())
    assert isinstance(client.tokens, TokenCache)
    if asynchronous:
        asyncio.run(client.aclose())  # type: ignore[union-attr]
    else:
        client.close()  # type: ignore[union-attr]


# -- what each client closes -------------------------------------------------------------------------------------


def test_the_sync_client_leaves_a_given_http_client_open_and_closes_its_own():
    given = httpx.Client(transport=MockPool().transport())
    with SessionsClient(URL, http=given, token_provider=FixedToken()):
        pass
    assert not given.is_closed
    given.close()
    own = SessionsClient(URL, token_provider=FixedToken())
    own.close()
    assert own._http.is_closed


def test_the_async_client_leaves_a_given_http_client_open_and_closes_its_own():
    async def go() -> tuple[bool, bool]:
        given = httpx.AsyncClient(transport=MockPool().transport())
        async with AsyncSessionsClient(URL, http=given, token_provider=FixedToken()):
            pass
        left_open = not given.is_closed
        await given.aclose()
        own = AsyncSessionsClient(URL, token_provider=FixedToken())
        await own.aclose()
        return left_open, own._http.is_closed

    assert asyncio.run(go()) == (True, True)


@BOTH
def test_a_shell_pools_commands_go_through_a_given_http_client_left_open(asynchronous):
    body = {"status": "Succeeded", "exitCode": 0, "result": {"stdout": "hi\n", "stderr": ""}}
    pool = MockPool(Reply(body=body))
    if asynchronous:

        async def go() -> tuple[Any, bool]:
            http = httpx.AsyncClient(transport=pool.transport())
            async with AsyncSessionsClient(URL, http=http, api_version=LATEST, token_provider=FixedToken()) as c:
                done = await c.run_command("echo hi", "agent-1")
            closed = http.is_closed
            await http.aclose()
            return done, closed

        done, closed = asyncio.run(go())
    else:
        http = httpx.Client(transport=pool.transport())
        with SessionsClient(URL, http=http, api_version=LATEST, token_provider=FixedToken()) as client:
            done = client.run_command("echo hi", "agent-1")
        closed = http.is_closed
        http.close()
    assert done.succeeded and done.stdout == "hi\n" and not closed
    assert pool.requests[0].json() == {"shellCommand": "echo hi", "timeoutInSeconds": 60}


def test_only_https_endpoints_load_the_ca_bundle(monkeypatch):
    loaded = record_ca_bundle_loads(monkeypatch)
    SessionsClient("http://127.0.0.1:8480", token_provider=FixedToken()).close()
    assert loaded == []
    SessionsClient("https://pool.example.com", token_provider=FixedToken()).close()
    assert len(loaded) == 1


@BOTH
def test_a_live_services_result_key_is_read_as_the_execution_result(asynchronous):
    reply = legacy_ok(key="result")
    reply.body["properties"]["result"] = 42
    assert MockPool(reply).run(asynchronous, "execute", "41+1", "s").execution_result == 42


@BOTH
@pytest.mark.parametrize(
    ("version", "reply", "status"),
    [
        ("2024-02-02-preview", legacy_ok(stdout="", status="Failure"), "Failure"),
        (LATEST, executions_ok(stdout="", status="Failed"), "Failed"),
    ],
)
def test_failed_code_is_a_result_not_an_exception(asynchronous, version, reply, status):
    result = MockPool(reply).run(asynchronous, "execute", "x", "s", api_version=version)
    assert not result.succeeded and result.status == status and result.stderr
