"""What an app hands its agent framework to reach a pool's MCP server: the endpoint, the `x-ms-apikey` header,
the key fetched through Azure Resource Manager, and a connected session of the official MCP Python SDK.

    server = PoolMcpCredentials(pool_id).server()      # endpoint and key, read through ARM
    server.headers                                      # {"x-ms-apikey": ...} for any MCP client
    async with server.connect() as session:             # mcp.ClientSession, initialized
        await session.call_tool("launchShell", {})

The key is an ARM action's answer (`fetchMcpServerCredentials`, at the pool's API version, 2026-03-02-preview by
default): the caller needs control-plane rights on the pool (the action
`Microsoft.App/sessionPools/fetchMcpServerCredentials/action`, which Contributor holds), not the data plane's
Session Executor role. `rotate()` asks ARM for a new key (`rotateMcpServerCredentials`) and returns it.
The key is a secret: it is never in a repr, a log or an error.
"""

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dynamic_sessions.azure_facts import ARM_ENDPOINT, MCP_KEY_HEADER
from dynamic_sessions.client.errors import AccessDenied, ConfigurationError, UnexpectedResponse
from dynamic_sessions.extras import extra_needed

with extra_needed("dynamic_sessions.client.mcp", "mcp"):
    import httpx

    from dynamic_sessions.client import http as core
    from dynamic_sessions.client.arm import POOL_API_VERSION, ArmReader, token_audience
    from dynamic_sessions.client.tokens import EntraToken

if TYPE_CHECKING:
    from mcp import ClientSession

# The actions as the 2026-03-02-preview spec spells them, as 2025-10-02-preview did (ARM matches action names
# without regard to case; Microsoft's MCP tutorials write fetchMCPServerCredentials).
FETCH_KEY, ROTATE_KEY = "fetchMcpServerCredentials", "rotateMcpServerCredentials"
KEY_HEADER = MCP_KEY_HEADER
ENDPOINT_VARIABLE, KEY_VARIABLE = "MCP_SERVER_ENDPOINT", "MCP_SERVER_API_KEY"
# Above the data plane's longest execution (220 s): a tool call may take that long.
READ_TIMEOUT_S = 300.0
MCP_ENDPOINT_FORMS = "give the pool's https MCP endpoint, or an emulator's http://127.0.0.1:<port>/mcp"


@dataclass(frozen=True)
class McpServer:
    """A pool's MCP endpoint and key, in the shapes MCP clients take. The endpoint must be https, or plain http
    to this machine (an emulator): any other is a ConfigurationError naming it, and never the key."""

    endpoint: str
    api_key: str = field(repr=False)

    def __post_init__(self) -> None:
        # The key is a bearer secret: as for the data plane's tokens, plain http only to this machine.
        core.checked_http_url(self.endpoint, "MCP endpoint", MCP_ENDPOINT_FORMS)

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
        with extra_needed("McpServer.connect (the official MCP SDK's client)", "mcp"):
            from mcp import ClientSession
            from mcp.client.streamable_http import streamable_http_client

        async with (
            core.async_client(self.endpoint, core.timeout(READ_TIMEOUT_S), headers=self.headers) as http,
            streamable_http_client(self.endpoint, http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


class PoolMcpCredentials:
    """The MCP endpoint and key of the pool `pool_id` (`/subscriptions/.../sessionPools/<name>`), read through ARM
    at `api_version` (the stack's `poolApiVersion`) with an azure-identity credential (default:
    DefaultAzureCredential) for `https://management.azure.com/.default`; a loopback `http` `arm_endpoint` (a local
    stand-in) gets a locally minted token unless a credential is given. The credential must be sync (an async one
    is a `ConfigurationError`); an `http` client given is left open by `close()`."""

    def __init__(
        self,
        pool_id: str,
        credential: Any = None,
        *,
        arm_endpoint: str = ARM_ENDPOINT,
        api_version: str = POOL_API_VERSION,
        http: httpx.Client | None = None,
    ):
        if not pool_id.startswith("/subscriptions/") or "/providers/Microsoft.App/sessionPools/" not in pool_id:
            raise ConfigurationError(
                f"pool id {pool_id[:200]!r} is not a session pool's resource id; expected "
                "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.App/sessionPools/<name> "
                "(the stack output poolId)"
            )
        self.pool_id = pool_id.rstrip("/")
        self.api_version = api_version
        scope = f"{token_audience(arm_endpoint)}/.default"
        tokens = EntraToken(credential, scope=scope) if credential is not None else None
        self._arm = ArmReader(arm_endpoint, token_provider=tokens, http=http)

    def close(self) -> None:
        self._arm.close()

    def __enter__(self) -> "PoolMcpCredentials":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _action(self, action: str) -> dict[str, Any]:
        try:
            return self._arm.post_action(self.pool_id, action, self.api_version)
        except AccessDenied as denied:
            if denied.status == 403:
                denied.args = (
                    f"{denied}; reading the MCP key needs control-plane rights on the pool (the action "
                    f"Microsoft.App/sessionPools/{FETCH_KEY}/action, e.g. Contributor), not the Session Executor role",
                )
            raise

    def endpoint(self) -> str:
        """`properties.mcpServerSettings.mcpServerEndpoint` of the pool."""
        endpoint = self._arm.get_pool(self.pool_id, self.api_version).mcp_endpoint
        if not isinstance(endpoint, str) or not endpoint:
            raise ConfigurationError(
                f"the pool {self.pool_id.rsplit('/', 1)[-1]} has no MCP endpoint: enable its MCP server "
                "(mcpServerSettings) and deploy again"
            )
        return endpoint

    def api_key(self) -> str:
        """The current key, from the ARM action fetchMcpServerCredentials."""
        return self._key(self._action(FETCH_KEY), FETCH_KEY)

    def rotate(self) -> str:
        """Issues a new key (rotateMcpServerCredentials); the old one stops working. Returns the new key."""
        answer = self._action(ROTATE_KEY)
        return self._key(answer, ROTATE_KEY) if answer.get("apiKey") else self.api_key()

    @staticmethod
    def _key(answer: dict[str, Any], action: str) -> str:
        key = answer.get("apiKey")
        if not isinstance(key, str) or not key:
            raise UnexpectedResponse(f"{action} answered without an apiKey")
        return key

    def server(self) -> McpServer:
        return McpServer(self.endpoint(), self.api_key())
