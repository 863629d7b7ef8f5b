"""The data-plane client over real loopback HTTP, end to end: what must cross a socket (the request as the wire
carries it, real timeouts and deadlines, refused connections, a retry's real pause). Requests, parsing, errors and
tokens without a socket are in tests/unit/client."""

import asyncio
import dataclasses
import time

import pytest

from dynamic_sessions import __version__
from dynamic_sessions.client.client import AsyncSessionsClient, SessionsClient
from dynamic_sessions.client.errors import (
    ConnectFailed,
    Throttled,
    UnreachableError,
)
from dynamic_sessions.client.retries import RetryPolicy, Wait
from dynamic_sessions.client.tokens import LocalToken
from tests.fakes import FixedToken
from tests.fault_server import FaultServer, Reply, error, executions_ok, legacy_ok

HELLO = 'console.log("hello-world")'


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


def test_loopback_http_endpoint_gets_a_local_token_without_azure():
    with FaultServer(legacy_ok()) as server, SessionsClient(server.url) as client:
        client.execute(HELLO, identifier="test")
        assert isinstance(getattr(client.tokens, "provider", None), LocalToken)
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


# --- the opt-in retry policy -----------------------------------------------------------------------


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
