"""What an app hands its agent framework to reach a pool's MCP server: the endpoint, the `x-ms-apikey` header,
the key fetched through Azure Resource Manager, and a connected session of the official MCP Python SDK.

    server = PoolMcpCredentials(pool_id).server()      # endpoint and key, read through ARM
    server.headers                                      # {"x-ms-apikey": ...} for any MCP client
    async with server.connect() as session:             # mcp.ClientSession, initialized
        await session.call_tool("launchShell", {})

The key is an ARM action's answer (`fetchMCPServerCredentials`, api-version 2025-02-02-preview): the caller needs
control-plane rights on the pool (the action `Microsoft.App/sessionPools/fetchMCPServerCredentials/action`, which
Contributor holds), not the data plane's Session Executor role. `rotate()` asks ARM for a new key
(`rotateMCPServerCredentials`) and returns it. The key is a secret: it is never in a repr, a log or an error.
"""

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from dynamic_sessions.client.errors import ConfigurationError, SessionsError, UnexpectedResponse
from dynamic_sessions.client.tokens import EntraToken

if TYPE_CHECKING:
    from mcp import ClientSession

ARM_ENDPOINT = "https://management.azure.com"
ARM_SCOPE = "https://management.azure.com/.default"
MCP_API_VERSION = "2025-02-02-preview"
KEY_HEADER = "x-ms-apikey"
ENDPOINT_VARIABLE, KEY_VARIABLE = "MCP_SERVER_ENDPOINT", "MCP_SERVER_API_KEY"
# Above the data plane's longest execution (220 s): a tool call may take that long.
READ_TIMEOUT_S = 300.0
ARM_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class McpServer:
    """A pool's MCP endpoint and key, in the shapes MCP clients take."""

    endpoint: str
    api_key: str = field(repr=False)

    @classmethod
    def from_environment(cls) -> "McpServer":
        """From $MCP_SERVER_ENDPOINT and $MCP_SERVER_API_KEY (as the emulator prints them, or an app's settings)."""
        missing = [name for name in (ENDPOINT_VARIABLE, KEY_VARIABLE) if not os.environ.get(name)]
        if missing:
            raise ConfigurationError(f"{' and '.join('$' + m for m in missing)} not set: the MCP server needs both")
        return cls(os.environ[ENDPOINT_VARIABLE], os.environ[KEY_VARIABLE])

    @property
    def headers(self) -> dict[str, str]:
        return {KEY_HEADER: self.api_key}

    def vscode_server(self) -> dict[str, Any]:
        """One entry of `.vscode/mcp.json`'s `servers` (keep that file out of source control: it holds the key)."""
        return {"type": "http", "url": self.endpoint, "headers": self.headers}

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator["ClientSession"]:
        """An initialized `mcp.ClientSession` over the SDK's streamable-HTTP transport."""
        from mcp import ClientSession
        from mcp.client.streamable_http import streamable_http_client

        timeout = httpx.Timeout(30.0, read=READ_TIMEOUT_S)
        async with (
            httpx.AsyncClient(headers=self.headers, timeout=timeout) as http,
            streamable_http_client(self.endpoint, http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


class PoolMcpCredentials:
    """The MCP endpoint and key of the pool `pool_id` (`/subscriptions/.../sessionPools/<name>`), read through ARM
    with an azure-identity credential (default: DefaultAzureCredential) for `https://management.azure.com/.default`."""

    def __init__(
        self,
        pool_id: str,
        credential: Any = None,
        *,
        arm_endpoint: str = ARM_ENDPOINT,
        http: httpx.Client | None = None,
    ):
        if not pool_id.startswith("/subscriptions/") or "/providers/Microsoft.App/sessionPools/" not in pool_id:
            raise ConfigurationError(
                f"pool id {pool_id[:200]!r} is not a session pool's resource id; expected "
                "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.App/sessionPools/<name> "
                "(the stack output poolId)"
            )
        self.pool_id = pool_id.rstrip("/")
        self._arm = arm_endpoint.rstrip("/")
        self._token = EntraToken(credential, scope=ARM_SCOPE)
        self._http = http or httpx.Client(timeout=ARM_TIMEOUT_S)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "PoolMcpCredentials":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, suffix: str) -> Any:
        from dynamic_sessions.client.client import _error_from

        url = f"{self._arm}{self.pool_id}{suffix}"
        headers = {"Authorization": f"Bearer {self._token.token()}"}
        try:
            response = self._http.request(method, url, params={"api-version": MCP_API_VERSION}, headers=headers)
        except httpx.TransportError as unreachable:
            why = type(unreachable).__name__
            raise SessionsError(f"Azure Resource Manager unreachable ({why}) for {url}") from None
        if response.status_code >= 400:
            error = _error_from(response)
            if response.status_code == 403:
                error.args = (
                    f"{error}; reading the MCP key needs control-plane rights on the pool (the action "
                    "Microsoft.App/sessionPools/fetchMCPServerCredentials/action, e.g. Contributor), "
                    "not the Session Executor role",
                )
            raise error
        try:
            return response.json() if response.content else {}
        except ValueError:
            what = f"{method} {suffix or 'the pool'}"
            raise UnexpectedResponse(f"ARM answered {what} with a body that is not JSON") from None

    def endpoint(self) -> str:
        """`properties.mcpServerSettings.mcpServerEndpoint` of the pool."""
        pool = self._call("GET", "")
        settings = (pool.get("properties") or {}).get("mcpServerSettings") or {} if isinstance(pool, dict) else {}
        endpoint = settings.get("mcpServerEndpoint")
        if not isinstance(endpoint, str) or not endpoint:
            raise ConfigurationError(
                f"the pool {self.pool_id.rsplit('/', 1)[-1]} has no MCP endpoint: enable its MCP server "
                "(mcpServerSettings) and deploy again"
            )
        return endpoint

    def api_key(self) -> str:
        """The current key, from the ARM action fetchMCPServerCredentials."""
        answer = self._call("POST", "/fetchMCPServerCredentials")
        key = answer.get("apiKey") if isinstance(answer, dict) else None
        if not isinstance(key, str) or not key:
            raise UnexpectedResponse("fetchMCPServerCredentials answered without an apiKey")
        return key

    def rotate(self) -> str:
        """Issues a new key (rotateMCPServerCredentials); the old one stops working. Returns the new key."""
        self._call("POST", "/rotateMCPServerCredentials")
        return self.api_key()

    def server(self) -> McpServer:
        return McpServer(self.endpoint(), self.api_key())
