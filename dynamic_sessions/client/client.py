"""A client for one pool's data plane, over either contract, synchronous or asynchronous.

Each operation is written once, in `flows`, as a generator that yields the steps it needs (a token, an HTTP
request, a pause) and does no I/O; `SessionsClient` and `AsyncSessionsClient` drive those flows, each doing
the I/O its own way: the sync client in the calling thread, the async one without ever blocking its event loop
(an async credential is awaited, a sync one runs in a worker thread).
"""

import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from dynamic_sessions.api_versions import DEFAULT_API_VERSION, SUPPORTED_API_VERSIONS
from dynamic_sessions.client import http as core
from dynamic_sessions.client.contracts import contract_for
from dynamic_sessions.client.flows import (
    DEFAULT_EXECUTION_TIMEOUT_S,
    MAX_EXECUTION_TIMEOUT_S,
    Flow,
    Flows,
    NeedToken,
    normalize_endpoint,
)
from dynamic_sessions.client.http import (
    EMULATOR_COMMAND,
    SOCKET_OPTIONS,
    USER_AGENT,
    checked_http_url,
    connect_failed_message,
    is_loopback_url,
    tls_verify,
)
from dynamic_sessions.client.results import CommandResult, ExecutionResult, FileInfo, SessionInfo
from dynamic_sessions.client.retries import RetryPolicy
from dynamic_sessions.client.tokens import (
    SCOPE,
    LocalToken,
    ProvidedTokens,
    TokenCache,
    TokenProvider,
    checked_credential,
    require_azure_identity,
)

T = TypeVar("T")


def token_source(
    flows: Flows, credential: Any, token_provider: TokenProvider | None, client: str, asynchronous: bool
) -> TokenCache | ProvidedTokens:
    """Where a client's tokens come from: the `token_provider`; on plain-http loopback, a local token; else the
    `credential` (checked now: a credential of the wrong kind is refused when the client is made) or the default
    one, made at the first call and closed with the client."""
    if credential is not None:
        checked_credential(credential, client, async_allowed=asynchronous)
    if token_provider is not None:
        return ProvidedTokens(token_provider)
    if flows.plain_http:
        return ProvidedTokens(LocalToken())
    if credential is None:
        require_azure_identity()
    return TokenCache(credential, SCOPE)


class SessionsClient(Flows):
    """Synchronous client of one pool; use it as a context manager, or call `close()`.

    ```python
    with SessionsClient(endpoint) as pool:
        result = pool.execute('console.log("hello-world")', identifier="my-session")
    ```

    Every method takes the session's `identifier` first. A session is created by its first call and
    lives until `release()` or the pool's cooldown after its last use.

    Args:
        endpoint: the pool's management endpoint (the stack output `poolManagementEndpoint`): `https://`,
            or `http://` on loopback (the emulator). Trailing slashes are dropped.
        http: an `httpx.Client` to send through instead of the client's own; its TLS settings are then yours,
            and so is closing it.
        **options: the keyword options below, the same for `AsyncSessionsClient`.

    Other Parameters:
        api_version (str): the data-plane contract, one of `SUPPORTED_API_VERSIONS`; default
            `2024-02-02-preview` (the tutorial's `code/execute`); `2024-10-02-preview` and later speak `executions`.
        credential (azure.core.credentials.TokenCredential): a sync azure-identity credential for `https`
            endpoints; default `DefaultAzureCredential()`, made at the first call and closed with the client (a
            given one is yours to close). An async credential is a `ConfigurationError`: use `AsyncSessionsClient`.
        token_provider (TokenProvider): anything with a quick `token() -> str` method, asked before every
            request, used instead of `credential`; default `LocalToken()` for `http://` loopback endpoints.
        execution_timeout_s (int): each execution's `timeoutInSeconds` unless `execute` or
            `run_command` is given one: 1..220, default 60. HTTP reads wait 30 s longer.
        retry (RetryPolicy | None): opt-in retries; default `None`, each call tried once.

    Raises:
        ConfigurationError: a bad endpoint, API version or timeout; an async credential.
        MissingExtra: an `https` endpoint without a `credential` or `token_provider`, and azure-identity
            (the `client` extra) not installed.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        http: httpx.Client | None = None,
        credential: Any = None,
        token_provider: TokenProvider | None = None,
        **options: Any,
    ):
        super().__init__(endpoint, **options)
        self.tokens = token_source(self, credential, token_provider, "SessionsClient", asynchronous=False)
        self._owns_http = http is None
        self._http = http or core.sync_client(self.endpoint, self.timeout)

    def _call(self, make: Callable[..., Flow[T]], *args: Any) -> T:
        if self.retry is None:
            return self._drive(make(*args))
        retrying = self.retry.controller(self.remote, lambda: self.deadline, asynchronous=False)
        return retrying(lambda: self._drive(make(*args)))  # type: ignore[no-any-return]

    def _drive(self, flow: Flow[T]) -> T:
        sent: Any = None
        try:
            while True:
                step = flow.send(sent)
                if isinstance(step, httpx.Request):
                    sent = self._send(step)
                elif isinstance(step, NeedToken):
                    sent = self.tokens.get()
                else:
                    time.sleep(step.seconds)
                    sent = None
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._http.send(request)
        except httpx.TransportError as error:
            raise core.unreachable(error, self.endpoint) from None

    def execute(self, code: str, identifier: str, timeout_s: int | None = None) -> ExecutionResult:
        """Runs `code` in the session `identifier` (created on first use) and returns its result.

        Code that fails (throws, exits, times out) is a result with `succeeded` False, not an error.

        Args:
            code: JavaScript for NodeLTS pools, Python for PythonLTS ones.
            identifier: the session; the same identifier keeps its state between calls.
            timeout_s: the execution's limit, 1..220 seconds; default the client's `execution_timeout_s`.

        Raises:
            SessionsError: one of its kinds when the pool gave no usable answer (see the errors below).
        """
        return self._call(self.execute_flow, code, identifier, timeout_s)

    def run_command(
        self,
        command: str | Sequence[str],
        identifier: str,
        timeout_s: int | None = None,
        shell_type: str | None = None,
        output_max_length: int | None = None,
    ) -> CommandResult:
        """Runs a shell command in the session `identifier` of a Shell pool (`containerType: Shell`).

        ```python
        with SessionsClient(endpoint, api_version="2025-02-02-preview") as pool:
            done = pool.run_command("ls -la", identifier="agent-1")
            print(done.exit_code, done.stdout)
        ```

        Sends `POST /executions` with `shellCommand` (a string) or `execCommandAndArgs` (a list), and
        `timeoutInSeconds`; never `codeInputType` or `executionType`, which Shell pools refuse. A command that
        exits non-zero, is killed or runs out of time is a result with `succeeded` False, not an error.

        Args:
            command: a command line the shell runs (`"echo hi > notes.txt"`), or an executable and its
                arguments run without a shell (`["printf", "%s", "a b"]`: no quoting, globbing or expansion).
            identifier: the session; its files in `/mnt/data` (the working folder) stay between commands.
            timeout_s: the command's limit, 1..220 seconds; default the client's `execution_timeout_s`.
            shell_type: `bash` or `sh` for a string command; default none sent, and the pool runs `bash`.
            output_max_length: characters kept of stdout and of stderr each (`outputStreamsMaxLength`);
                default none sent, and the pool keeps 4096.

        Raises:
            NotSupported: the client's API version is older than 2025-02-02-preview; no request is sent.
            ConfigurationError: a bad argument; the message names each one and what is allowed.
            SessionsError: one of its kinds when the pool gave no usable answer.
        """
        return self._call(self.run_command_flow, command, identifier, timeout_s, shell_type, output_max_length)

    def release(self, identifier: str) -> bool:
        """Ends the session now, which stops its billing.

        Returns:
            False when the pool answered 404: no live session had that identifier.
        """
        return self._call(self.release_flow, identifier)

    def get_session(self, identifier: str) -> SessionInfo | None:
        """The live session `identifier`, or None when there is none (2025-02-02-preview and later)."""
        return self._call(self.get_session_flow, identifier)

    def list_sessions(self) -> list[SessionInfo]:
        """Every live session of the pool, all pages (2025-02-02-preview and later)."""
        return self._call(self.list_sessions_flow)

    def upload_file(self, identifier: str, name: str, data: bytes) -> FileInfo:
        """Stores `data` as `/mnt/data/<name>` in the session `identifier`, replacing a file of that name."""
        return self._call(self.upload_file_flow, identifier, name, data)

    def list_files(self, identifier: str) -> list[FileInfo]:
        """The files in the session's `/mnt/data`."""
        return self._call(self.list_files_flow, identifier)

    def download_file(self, identifier: str, name: str) -> bytes:
        """The content of `/mnt/data/<name>` in the session.

        Raises:
            NotFound: there is no such file; the message names it and the session.
        """
        return self._call(self.download_file_flow, identifier, name)

    def delete_file(self, identifier: str, name: str) -> bool:
        """Removes `/mnt/data/<name>`; False when there was no such file (2024-10-02-preview and later)."""
        return self._call(self.delete_file_flow, identifier, name)

    def close(self) -> None:
        """Closes the client's connections and the credential it made; not an `http` client or a credential it
        was given."""
        self.tokens.close()
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class AsyncSessionsClient(Flows):
    """Asynchronous client with the same methods as `SessionsClient`, each awaited; use it with `async with`.

    Args:
        endpoint: as for `SessionsClient`.
        http: an `httpx.AsyncClient` to send through instead of the client's own (yours to close).
        credential: an azure-identity credential, async (`azure.identity.aio`: awaited) or sync (run in a
            worker thread, never on the event loop); default `azure.identity.aio.DefaultAzureCredential()` when
            aiohttp (the `async` extra) is installed, else the sync `DefaultAzureCredential()` in a worker thread;
            made at the first call and closed with the client (a given one is yours to close).
        **options: the other keyword options of `SessionsClient`.

    Calls that find no valid token share one fetch; a token due for refresh (5 minutes before expiry, or its
    `refresh_on`) is fetched by a task while calls go on with the valid one.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        http: httpx.AsyncClient | None = None,
        credential: Any = None,
        token_provider: TokenProvider | None = None,
        **options: Any,
    ):
        super().__init__(endpoint, **options)
        self.tokens = token_source(self, credential, token_provider, "AsyncSessionsClient", asynchronous=True)
        self._owns_http = http is None
        self._http = http or core.async_client(self.endpoint, self.timeout)

    async def _call(self, make: Callable[..., Flow[T]], *args: Any) -> T:
        if self.retry is None:
            return await self._drive(make(*args))
        retrying = self.retry.controller(self.remote, lambda: self.deadline, asynchronous=True)

        async def attempt() -> T:  # tenacity awaits coroutine functions only, not lambdas returning coroutines
            return await self._drive(make(*args))

        return await retrying(attempt)  # type: ignore[no-any-return]

    async def _drive(self, flow: Flow[T]) -> T:
        import asyncio  # here, not at the top: the sync client and the smoke never pay its ~20 ms import

        sent: Any = None
        try:
            while True:
                step = flow.send(sent)
                if isinstance(step, httpx.Request):
                    sent = await self._send(step)
                elif isinstance(step, NeedToken):
                    sent = await self.tokens.aget()
                else:
                    await asyncio.sleep(step.seconds)
                    sent = None
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._http.send(request)
        except httpx.TransportError as error:
            raise core.unreachable(error, self.endpoint) from None

    async def execute(self, code: str, identifier: str, timeout_s: int | None = None) -> ExecutionResult:
        """Runs `code` in the session `identifier`; as `SessionsClient.execute`."""
        return await self._call(self.execute_flow, code, identifier, timeout_s)

    async def run_command(
        self,
        command: str | Sequence[str],
        identifier: str,
        timeout_s: int | None = None,
        shell_type: str | None = None,
        output_max_length: int | None = None,
    ) -> CommandResult:
        """Runs a shell command in a Shell pool's session `identifier`; as `SessionsClient.run_command`."""
        return await self._call(self.run_command_flow, command, identifier, timeout_s, shell_type, output_max_length)

    async def release(self, identifier: str) -> bool:
        """Ends the session now; False when no live session had that identifier."""
        return await self._call(self.release_flow, identifier)

    async def get_session(self, identifier: str) -> SessionInfo | None:
        """The live session `identifier`, or None (2025-02-02-preview and later)."""
        return await self._call(self.get_session_flow, identifier)

    async def list_sessions(self) -> list[SessionInfo]:
        """Every live session of the pool, all pages (2025-02-02-preview and later)."""
        return await self._call(self.list_sessions_flow)

    async def upload_file(self, identifier: str, name: str, data: bytes) -> FileInfo:
        """Stores `data` as `/mnt/data/<name>` in the session `identifier`."""
        return await self._call(self.upload_file_flow, identifier, name, data)

    async def list_files(self, identifier: str) -> list[FileInfo]:
        """The files in the session's `/mnt/data`."""
        return await self._call(self.list_files_flow, identifier)

    async def download_file(self, identifier: str, name: str) -> bytes:
        """The content of `/mnt/data/<name>`; `NotFound` when there is no such file."""
        return await self._call(self.download_file_flow, identifier, name)

    async def delete_file(self, identifier: str, name: str) -> bool:
        """Removes `/mnt/data/<name>`; False when there was no such file."""
        return await self._call(self.delete_file_flow, identifier, name)

    async def aclose(self) -> None:
        """Closes the client's connections and the credential it made; not an `http` client or a credential it
        was given."""
        await self.tokens.aclose()
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.aclose()


__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_EXECUTION_TIMEOUT_S",
    "EMULATOR_COMMAND",
    "MAX_EXECUTION_TIMEOUT_S",
    "SOCKET_OPTIONS",
    "SUPPORTED_API_VERSIONS",
    "USER_AGENT",
    "AsyncSessionsClient",
    "RetryPolicy",
    "SessionsClient",
    "checked_http_url",
    "connect_failed_message",
    "contract_for",
    "is_loopback_url",
    "normalize_endpoint",
    "tls_verify",
]
