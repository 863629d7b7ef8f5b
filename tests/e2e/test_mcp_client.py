"""The MCP client module: the key through the ARM action (a real loopback HTTP server stands in for Azure Resource
Manager, whose exact requests are asserted), and a connected official-SDK session against the emulator's MCP server."""

import asyncio
import http.server
import json
from collections.abc import Iterator
from typing import Any

import pytest

from dynamic_sessions.client.errors import AccessDenied, ConfigurationError
from dynamic_sessions.client.mcp import McpServer, PoolMcpCredentials
from tests.ca_bundle import record_ca_bundle_loads
from tests.e2e.test_mcp_server import McpPool, serving_mcp
from tests.fakes import StandInCredential
from tests.stand_in_server import StandInServer

POOL_ID = "/subscriptions/1111/resourceGroups/rg-agents/providers/Microsoft.App/sessionPools/agents-pool"
ENDPOINT = "https://westus2.dynamicsessions.io/mcp/agents-pool"


class Arm:
    """A loopback HTTP server answering the pool GET and the two MCP credential actions; requests recorded."""

    def __init__(self, forbid: bool = False):
        self.requests: list[tuple[str, str, str | None]] = []
        self.key = "first-key-0123456789"
        arm = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status >= 400:
                    self.send_header("x-ms-request-id", "req-42")
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                arm.requests.append((self.command, self.path, self.headers.get("Authorization")))
                if forbid:
                    message = "The client does not have authorization to perform action."
                    return self._answer(403, {"error": {"code": "AuthorizationFailed", "message": message}})
                path = self.path.split("?")[0]
                if self.command == "GET" and path == POOL_ID:
                    settings = {"isMcpServerEnabled": True, "mcpServerEndpoint": ENDPOINT}
                    return self._answer(200, {"properties": {"mcpServerSettings": settings}})
                if self.command == "POST" and path == f"{POOL_ID}/fetchMcpServerCredentials":
                    return self._answer(200, {"apiKey": arm.key})
                if self.command == "POST" and path == f"{POOL_ID}/rotateMcpServerCredentials":
                    arm.key = "second-key-9876543210"
                    return self._answer(200, {})
                return self._answer(404, {"error": {"code": "NotFound", "message": "no such route"}})

            do_GET = do_POST = _handle

            def log_message(self, *_: Any) -> None:
                pass

        self.server = StandInServer(Handler)
        self.url = self.server.url
        self.server.start()

    def close(self) -> None:
        self.server.stop()


@pytest.fixture
def arm() -> Iterator[Arm]:
    running = Arm()
    yield running
    running.close()


def test_the_endpoint_and_key_come_from_arm_with_a_management_token(arm):
    credential = StandInCredential()
    with PoolMcpCredentials(POOL_ID, credential, arm_endpoint=arm.url) as pool:
        server = pool.server()
    assert (server.endpoint, server.api_key) == (ENDPOINT, "first-key-0123456789")
    assert credential.scopes == [("https://management.azure.com/.default",)]  # the token is fetched once and reused
    assert arm.requests == [
        ("GET", f"{POOL_ID}?api-version=2026-03-02-preview", "Bearer entra-token-1"),
        ("POST", f"{POOL_ID}/fetchMcpServerCredentials?api-version=2026-03-02-preview", "Bearer entra-token-1"),
    ]
    assert server.headers == {"x-ms-apikey": "first-key-0123456789"}
    assert server.vscode_server() == {"type": "http", "url": ENDPOINT, "headers": server.headers}
    assert "first-key" not in repr(server)


def test_rotation_issues_a_new_key(arm):
    with PoolMcpCredentials(POOL_ID, StandInCredential(), arm_endpoint=arm.url) as pool:
        before = pool.api_key()
        after = pool.rotate()
    assert (before, after) == ("first-key-0123456789", "second-key-9876543210")
    assert ("POST", f"{POOL_ID}/rotateMcpServerCredentials?api-version=2026-03-02-preview") in [
        (m, p) for m, p, _ in arm.requests
    ]


def test_missing_rights_name_the_action_and_never_the_token():
    forbidding = Arm(forbid=True)
    try:
        with (
            PoolMcpCredentials(POOL_ID, StandInCredential(), arm_endpoint=forbidding.url) as pool,
            pytest.raises(AccessDenied) as denied,
        ):
            pool.api_key()
    finally:
        forbidding.close()
    text = str(denied.value)
    assert "HTTP 403 AuthorizationFailed" in text
    assert "fetchMcpServerCredentials/action" in text
    assert "req-42" in text
    assert "entra-token" not in text


def test_a_value_that_is_not_a_pool_id_is_refused_with_the_expected_shape():
    with pytest.raises(ConfigurationError) as bad:
        PoolMcpCredentials("agents-pool", StandInCredential())
    assert "/providers/Microsoft.App/sessionPools/<name>" in str(bad.value)


def test_the_environment_names_both_missing_variables(monkeypatch):
    monkeypatch.delenv("MCP_SERVER_ENDPOINT", raising=False)
    monkeypatch.delenv("MCP_SERVER_API_KEY", raising=False)
    with pytest.raises(ConfigurationError) as missing:
        McpServer.from_environment()
    assert "$MCP_SERVER_ENDPOINT and $MCP_SERVER_API_KEY" in str(missing.value)


@pytest.fixture(scope="module")
def python_mcp() -> Iterator[McpPool]:
    yield from serving_mcp("--container-type", "PythonLTS")


def test_connect_hands_an_initialized_sdk_session_to_the_app(python_mcp, monkeypatch):
    monkeypatch.setenv("MCP_SERVER_ENDPOINT", python_mcp.endpoint)
    monkeypatch.setenv("MCP_SERVER_API_KEY", python_mcp.key)
    server = McpServer.from_environment()

    async def agent_turn() -> Any:
        async with server.connect() as session:
            launched = await session.call_tool("launchShell", {})
            environment = launched.structuredContent["environmentId"]  # type: ignore[index]
            return await session.call_tool(
                "runPythonCodeInRemoteEnvironment", {"environmentId": environment, "pythonCode": "print(6 * 7)"}
            )

    answer = asyncio.run(agent_turn())
    assert answer.structuredContent["stdout"] == "42\n"


def test_connect_to_a_plain_http_server_loads_no_ca_bundle(python_mcp, monkeypatch):
    loaded = record_ca_bundle_loads(monkeypatch)

    async def tools() -> list[str]:
        async with McpServer(python_mcp.endpoint, python_mcp.key).connect() as session:
            return [tool.name for tool in (await session.list_tools()).tools]

    assert "launchShell" in asyncio.run(tools())
    assert loaded == []


@pytest.mark.parametrize(
    ("endpoint", "said"),
    [
        ("http://pool.example.com/mcp", "uses plain http on a non-loopback host"),
        ("pool.example.com/mcp", "is not an http(s) URL"),
    ],
)
def test_an_endpoint_the_key_must_not_travel_to_is_refused_by_name(endpoint, said):
    key = "k" * 40
    with pytest.raises(ConfigurationError) as refused:
        McpServer(endpoint, key)
    message = str(refused.value)
    assert message.startswith(f"MCP endpoint {endpoint!r} {said}") and "https MCP endpoint" in message
    assert key not in message


def test_https_anywhere_and_plain_http_on_loopback_are_taken():
    for endpoint in ("https://pool.example.com/mcp", "http://127.0.0.1:8480/mcp", "http://localhost:8480/mcp"):
        assert McpServer(endpoint, "k" * 40).endpoint == endpoint
