"""A client for one pool's data plane, over either contract, synchronous or asynchronous.

Each operation is written once, as a flow that yields the HTTP requests it needs (or a pause
in seconds) and receives the responses; `SessionsClient` and `AsyncSessionsClient` only drive
those flows over httpx's sync or async transport.
"""

import contextlib
import email.utils
import io
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Generator, Sequence
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar
from urllib.parse import urlsplit

import httpx

from dynamic_sessions import __version__
from dynamic_sessions.client import executions, shell
from dynamic_sessions.client.errors import (
    AccessDenied,
    ConfigurationError,
    ConnectFailed,
    DataPlaneError,
    NotFound,
    NotSupported,
    RequestRejected,
    ServiceUnavailable,
    Throttled,
    UnexpectedResponse,
    UnreachableError,
)
from dynamic_sessions.client.results import CommandResult, ExecutionResult, FileInfo, SessionInfo
from dynamic_sessions.client.retries import RetryPolicy
from dynamic_sessions.client.tokens import EntraToken, LocalToken, TokenProvider
from dynamic_sessions.client.versions import (
    DEFAULT_API_VERSION,
    RELEASE_API_VERSION,
    SESSION_API_VERSIONS,
    SHELL_API_VERSIONS,
    SUPPORTED_API_VERSIONS,
    contract_for,
)

DEFAULT_EXECUTION_TIMEOUT_S = 60
MAX_EXECUTION_TIMEOUT_S = 220
# HTTP reads wait this much longer than the execution may run, so a slow execution is not cut off.
READ_MARGIN_S = 30.0
POLL_INTERVAL_S = 0.5
URL_CACHE_SIZE = 1024
USER_AGENT = f"dynamic-sessions-client/{__version__} python-httpx/{httpx.__version__}"
# httpx writes headers and body separately; without TCP_NODELAY, Nagle's algorithm holds the body
# until the server's delayed ACK (~40 ms) on every request of a kept-alive connection.
SOCKET_OPTIONS = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
# A 404 is "pool full" only when it says so; otherwise it is a wrong route or API version.
_CAPACITY_WORDS = ("full", "capacity", "no session", "exhausted")
# listSessions pages are followed this far at most, so a pool that always answers a nextLink cannot loop us.
MAX_SESSION_PAGES = 100

ENDPOINT_FORMS = "allowed: the pool's https:// management endpoint, or http:// on loopback (the emulator)"
# The installed console script that starts the emulator (the `emulator` extra); the smoke names its own way.
EMULATOR_COMMAND = "dynamic-sessions-emulator"

T = TypeVar("T")
Flow = Generator["httpx.Request | float", "httpx.Response | None", T]


class _Polled(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def raw(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=_Polled)


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_endpoint(endpoint: str) -> str:
    """The endpoint without trailing slashes; plain http is allowed for loopback (the emulator) only."""
    url = checked_http_url(endpoint, "endpoint", ENDPOINT_FORMS)
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ConfigurationError(f"endpoint {endpoint!r} must not carry a query or fragment")
    return url


def tls_verify(endpoint: str) -> ssl.SSLContext | bool:
    """What httpx verifies TLS with for requests to `endpoint`: its CA bundle (True) for https; for plain http
    (loopback only), a context that trusts no CA at all. The package's clients follow no redirect, so plain
    http never speaks TLS and loading the bundle would cost ~30 to 65 ms of CPU per client for nothing; the
    MCP SDK follows one from http to https on the same host, and TLS through this context then fails
    verification rather than passes."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) if urlsplit(endpoint).scheme == "http" else True


def checked_http_url(url: str, name: str, forms: str) -> str:
    """`url` without trailing slashes, or a ConfigurationError naming `name`: an http(s) URL, plain http on
    loopback only, since a bearer token or key must not travel unencrypted; `forms` says what is allowed."""
    stripped = url.strip().rstrip("/")
    parts = urlsplit(stripped)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{name} {url!r} is not an http(s) URL; {forms}")
    if parts.scheme == "http" and not is_loopback_url(stripped):
        raise ConfigurationError(
            f"{name} {url!r} uses plain http on a non-loopback host; "
            f"a token or key must not travel unencrypted; {forms}"
        )
    return stripped


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _error_from(response: httpx.Response, subject: str | None = None) -> DataPlaneError:
    """A typed error with status, error code, message and trace id; never a header of the request.

    `subject` names what was asked for (a file), so a 404 says which one does not exist.
    """
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = response.headers.get("x-ms-error-code") or error.get("code")
    message = error.get("message") or (body.get("message") if isinstance(body, dict) else None)
    if not message:
        message = response.reason_phrase or response.text[:200] or "no message"
    trace = (
        (body.get("traceId") if isinstance(body, dict) else None)
        or error.get("traceId")
        or response.headers.get("x-ms-request-id")
        or response.headers.get("x-ms-correlation-request-id")
    )
    status = response.status_code
    kind: type[DataPlaneError] = RequestRejected
    if status in (401, 403):
        kind = AccessDenied
    elif status == 429 or (status == 404 and any(w in str(message).lower() for w in _CAPACITY_WORDS)):
        kind = Throttled
    elif status >= 500:
        kind = ServiceUnavailable
    elif status == 404:
        kind = NotFound
        if subject:
            message = f"{subject} does not exist ({message})"
    return kind(status, str(message), code, trace, _retry_after(response))


def connect_failed_message(endpoint: str, reason: str, emulator: str = EMULATOR_COMMAND) -> str:
    """What a refused connection means: on loopback, no emulator there yet (and how to start one)."""
    if is_loopback_url(endpoint):
        parts = urlsplit(endpoint)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"nothing is listening at {endpoint} ({reason}); start the emulator there: {emulator} --port {port}"
    return (
        f"could not connect to {endpoint} ({reason}); check the endpoint (the pool stack's poolManagementEndpoint "
        "output) and that this machine reaches it"
    )


def _unreachable(error: httpx.TransportError, endpoint: str) -> UnreachableError:
    reason = f"{type(error).__name__}: {error}"
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
        return ConnectFailed(connect_failed_message(endpoint, reason), endpoint=endpoint, reason=reason)
    return UnreachableError(f"no answer from {endpoint} ({reason})")


def _succeeded(response: httpx.Response, subject: str | None = None) -> httpx.Response:
    if response.status_code >= 400:
        raise _error_from(response, subject)
    return response


def _json(response: httpx.Response) -> Any:
    _succeeded(response)
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("content-type", "no content type")
        raise UnexpectedResponse(
            f"HTTP {response.status_code} with a body that is not JSON ({kind}): {response.text[:120]!r}"
        ) from None


class _Flows:
    """Everything but the transport: URLs, headers, bodies, parsing, polling."""

    def __init__(
        self,
        endpoint: str,
        *,
        api_version: str = DEFAULT_API_VERSION,
        credential: Any = None,
        token_provider: TokenProvider | None = None,
        execution_timeout_s: int = DEFAULT_EXECUTION_TIMEOUT_S,
        retry: RetryPolicy | None = None,
    ):
        self.endpoint = normalize_endpoint(endpoint)
        self.remote = not is_loopback_url(self.endpoint)
        self.plain_http = urlsplit(self.endpoint).scheme == "http"
        self.retry = retry
        """Opt-in retries (429, 5xx, refused connections to remote hosts); None tries each call once."""
        self.api_version = api_version
        self.contract = contract_for(api_version)
        if not 1 <= execution_timeout_s <= MAX_EXECUTION_TIMEOUT_S:
            raise ConfigurationError(
                f"execution_timeout_s={execution_timeout_s} is not allowed: 1..{MAX_EXECUTION_TIMEOUT_S} seconds"
            )
        self.execution_timeout_s = execution_timeout_s
        if token_provider is None:
            token_provider = LocalToken() if self.plain_http else EntraToken(credential)
        self.tokens = token_provider
        self.timeout = httpx.Timeout(10.0, read=execution_timeout_s + READ_MARGIN_S)
        self._timeouts = self.timeout.as_dict()
        self.deadline: float | None = None
        """A `time.monotonic()` instant no request may outlast (the smoke's overall --timeout)."""
        self._urls: dict[tuple[str, str | None, str], httpx.URL] = {}

    def _request(
        self,
        method: str,
        path: str,
        identifier: str | None,
        *,
        api_version: str | None = None,
        read_s: float | None = None,
        **kwargs: Any,
    ) -> httpx.Request:
        headers = {"Authorization": f"Bearer {self.tokens.token()}", "User-Agent": USER_AGENT}
        url = self._url(path, identifier, api_version or self.api_version)
        return self._bounded(httpx.Request(method, url, headers=headers, **kwargs), read_s)

    def _bounded(self, request: httpx.Request, read_s: float | None = None) -> httpx.Request:
        """`read_s` replaces the client's read timeout for an execution given a longer timeout than the client's."""
        if self.deadline is None:
            timeouts = self._timeouts if read_s is None else httpx.Timeout(10.0, read=read_s).as_dict()
            request.extensions["timeout"] = timeouts
        else:
            left = max(0.1, self.deadline - time.monotonic())
            read = min(read_s or self.timeout.read or left, left)
            request.extensions["timeout"] = httpx.Timeout(min(10.0, left), read=read).as_dict()
        return request

    def _url(self, path: str, identifier: str | None, api_version: str) -> httpx.URL:
        # Parsing and encoding a URL is a fair share of a warm call's client time: reuse them.
        key = (path, identifier, api_version)
        url = self._urls.get(key)
        if url is None:
            params = {"api-version": api_version}
            if identifier is not None:
                params["identifier"] = identifier
            if len(self._urls) >= URL_CACHE_SIZE:
                self._urls.clear()
            url = self._urls[key] = httpx.URL(f"{self.endpoint}/{path}", params=params)
        return url

    def _execute(self, code: str, identifier: str, timeout_s: int | None) -> Flow[ExecutionResult]:
        if timeout_s is None:
            timeout_s = self.execution_timeout_s
        elif not 1 <= timeout_s <= MAX_EXECUTION_TIMEOUT_S:
            raise ConfigurationError(f"timeout_s={timeout_s} is not allowed: 1..{MAX_EXECUTION_TIMEOUT_S} seconds")
        body = self.contract.execute_body(code, timeout_s)
        response = yield self._request(
            "POST", self.contract.EXECUTE_PATH, identifier, read_s=self._read_s(timeout_s), json=body
        )
        assert response is not None
        result: ExecutionResult = self.contract.parse_execution(_json(response))
        if self.contract is executions:
            result = yield from self._until_done(result, executions.parse_execution, identifier, timeout_s)
        return result

    def _read_s(self, timeout_s: int) -> float | None:
        # The answer comes after the execution: wait longer for it than the execution may run.
        return timeout_s + READ_MARGIN_S if timeout_s > self.execution_timeout_s else None

    def _until_done(self, result: R, parse: Callable[[Any], R], identifier: str, timeout_s: int) -> Flow[R]:
        """Asynchronous or slow executions answer NotStarted or Running; the answer's id names where to look."""
        deadline = time.monotonic() + timeout_s + READ_MARGIN_S
        while result.status in ("NotStarted", "Running"):
            if time.monotonic() > deadline:
                raise UnexpectedResponse(f"the execution is still {result.status} after {timeout_s} s")
            yield POLL_INTERVAL_S
            path = executions.execution_path(str(result.raw.get("id", "")))
            response = yield self._request("GET", path, identifier)
            assert response is not None
            result = parse(_json(response))
        return result

    def _run_command(
        self,
        command: str | Sequence[str],
        identifier: str,
        timeout_s: int | None,
        shell_type: str | None,
        output_max_length: int | None,
    ) -> Flow[CommandResult]:
        self._needs("run_command", self.api_version in SHELL_API_VERSIONS, " or ".join(SHELL_API_VERSIONS))
        timeout_s = self.execution_timeout_s if timeout_s is None else timeout_s
        body = shell.command_body(command, timeout_s, shell_type, output_max_length, MAX_EXECUTION_TIMEOUT_S)
        response = yield self._request(
            "POST", shell.EXECUTE_PATH, identifier, read_s=self._read_s(timeout_s), json=body
        )
        assert response is not None
        result = shell.parse_command(_json(response))
        return (yield from self._until_done(result, shell.parse_command, identifier, timeout_s))

    def _release(self, identifier: str) -> Flow[bool]:
        # DELETE /session exists from 2025-02-02-preview, whichever contract executed the code.
        version = self.api_version if self.api_version in SESSION_API_VERSIONS else RELEASE_API_VERSION
        response = yield self._request("DELETE", "session", identifier, api_version=version)
        assert response is not None
        if response.status_code == 404:
            return False
        _succeeded(response)
        return True

    def _needs(self, operation: str, available: bool, versions: str) -> None:
        if not available:
            raise NotSupported(f"{operation} needs api version {versions}; this client speaks {self.api_version}")

    def _get_session(self, identifier: str) -> Flow[SessionInfo | None]:
        self._needs("get_session", self.api_version in SESSION_API_VERSIONS, " or ".join(SESSION_API_VERSIONS))
        response = yield self._request("GET", executions.SESSION_PATH, identifier)
        assert response is not None
        if response.status_code == 404:
            return None
        return executions.parse_session(_json(response))

    def _list_sessions(self) -> Flow[list[SessionInfo]]:
        self._needs("list_sessions", self.api_version in SESSION_API_VERSIONS, " or ".join(SESSION_API_VERSIONS))
        request = self._request("GET", executions.LIST_SESSIONS_PATH, None)
        found: list[SessionInfo] = []
        for _ in range(MAX_SESSION_PAGES):
            response = yield request
            assert response is not None
            page, next_link = executions.parse_session_page(_json(response))
            found += page
            if next_link is None:
                return found
            request = self._next_page(request, next_link)
        raise UnexpectedResponse(f"listSessions still had a next page after {MAX_SESSION_PAGES} pages")

    def _next_page(self, previous: httpx.Request, next_link: str) -> httpx.Request:
        url = previous.url.join(next_link)
        # The bearer token goes to the pool's own origin only, whatever a nextLink says.
        if (url.scheme, url.host, url.port) != (previous.url.scheme, previous.url.host, previous.url.port):
            raise UnexpectedResponse(f"listSessions' nextLink leaves the pool's endpoint: {url.host}")
        if "api-version" not in url.params:
            url = url.copy_add_param("api-version", self.api_version)
        return self._bounded(httpx.Request("GET", url, headers=dict(previous.headers)))

    def _delete_file(self, identifier: str, name: str) -> Flow[bool]:
        self._needs("delete_file", self.contract.DELETES_FILES, f"{', '.join(executions.VERSIONS)}")
        response = yield self._request("DELETE", executions.file_path(name), identifier)
        assert response is not None
        if response.status_code == 404:
            return False
        _succeeded(response)
        return True

    def _upload(self, identifier: str, name: str, data: bytes) -> Flow[FileInfo]:
        # As a file, so httpx sends it 64 KiB at a time: bytes go to httpcore in one piece, whose socket writes
        # copy what is left after every partial send (100 MiB: ~0.7 s of CPU, against ~0.1 s this way).
        files = {"file": (name, io.BytesIO(data), "application/octet-stream")}
        response = yield self._request("POST", self.contract.UPLOAD_PATH, identifier, files=files)
        assert response is not None
        info: FileInfo = self.contract.parse_upload(_json(response))
        return info

    def _list(self, identifier: str) -> Flow[list[FileInfo]]:
        response = yield self._request("GET", self.contract.LIST_PATH, identifier)
        assert response is not None
        listing: list[FileInfo] = self.contract.parse_list(_json(response))
        return listing

    def _download(self, identifier: str, name: str) -> Flow[bytes]:
        response = yield self._request("GET", self.contract.content_path(name), identifier)
        assert response is not None
        return _succeeded(response, f"file {name!r} in /mnt/data of session {identifier!r}").content


class SessionsClient(_Flows):
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
        http: an `httpx.Client` to send through instead of the client's own; its TLS settings are then yours.
        **options: the keyword options below, the same for `AsyncSessionsClient`.

    Other Parameters:
        api_version (str): the data-plane contract, one of `SUPPORTED_API_VERSIONS`; default
            `2024-02-02-preview` (the tutorial's `code/execute`); `2024-10-02-preview` and later speak `executions`.
        credential (azure.core.credentials.TokenCredential): the azure-identity credential for `https`
            endpoints; default `DefaultAzureCredential()`, made at the first call.
        token_provider (TokenProvider): anything with a `token() -> str` method, used instead of `credential`;
            default `LocalToken()` for `http://` loopback endpoints, else an `EntraToken`.
        execution_timeout_s (int): each execution's `timeoutInSeconds` unless `execute` or
            `run_command` is given one: 1..220, default 60. HTTP reads wait 30 s longer.
        retry (RetryPolicy | None): opt-in retries; default `None`, each call tried once.

    Raises:
        ConfigurationError: a bad endpoint, API version or timeout.
        MissingExtra: an `https` endpoint without a `credential` or `token_provider`, and azure-identity
            (the `client` extra) not installed.
    """

    def __init__(self, endpoint: str, *, http: httpx.Client | None = None, **options: Any):
        super().__init__(endpoint, **options)
        self._http = http or httpx.Client(
            timeout=self.timeout,
            transport=httpx.HTTPTransport(socket_options=SOCKET_OPTIONS, verify=tls_verify(self.endpoint)),
        )

    def _call(self, make: Callable[..., Flow[T]], *args: Any) -> T:
        if self.retry is None:
            return self._drive(make(*args))
        retrying = self.retry.controller(self.remote, lambda: self.deadline, asynchronous=False)
        return retrying(lambda: self._drive(make(*args)))  # type: ignore[no-any-return]

    def _drive(self, flow: Flow[T]) -> T:
        try:
            step = next(flow)
            while True:
                if isinstance(step, float):
                    time.sleep(step)
                    step = flow.send(None)
                else:
                    step = flow.send(self._send(step))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._http.send(request)
        except httpx.TransportError as error:
            raise _unreachable(error, self.endpoint) from None

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
        return self._call(self._execute, code, identifier, timeout_s)

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
        return self._call(self._run_command, command, identifier, timeout_s, shell_type, output_max_length)

    def release(self, identifier: str) -> bool:
        """Ends the session now, which stops its billing.

        Returns:
            False when the pool answered 404: no live session had that identifier.
        """
        return self._call(self._release, identifier)

    def get_session(self, identifier: str) -> SessionInfo | None:
        """The live session `identifier`, or None when there is none (2025-02-02-preview and later)."""
        return self._call(self._get_session, identifier)

    def list_sessions(self) -> list[SessionInfo]:
        """Every live session of the pool, all pages (2025-02-02-preview and later)."""
        return self._call(self._list_sessions)

    def upload_file(self, identifier: str, name: str, data: bytes) -> FileInfo:
        """Stores `data` as `/mnt/data/<name>` in the session `identifier`, replacing a file of that name."""
        return self._call(self._upload, identifier, name, data)

    def list_files(self, identifier: str) -> list[FileInfo]:
        """The files in the session's `/mnt/data`."""
        return self._call(self._list, identifier)

    def download_file(self, identifier: str, name: str) -> bytes:
        """The content of `/mnt/data/<name>` in the session.

        Raises:
            NotFound: there is no such file; the message names it and the session.
        """
        return self._call(self._download, identifier, name)

    def delete_file(self, identifier: str, name: str) -> bool:
        """Removes `/mnt/data/<name>`; False when there was no such file (2024-10-02-preview and later)."""
        return self._call(self._delete_file, identifier, name)

    def close(self) -> None:
        """Closes the client's connections (not those of an `http` client it was given)."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class AsyncSessionsClient(_Flows):
    """Asynchronous client with the same methods as `SessionsClient`, each awaited; use it with `async with`.

    Args:
        endpoint: as for `SessionsClient`.
        http: an `httpx.AsyncClient` to send through instead of the client's own.
        **options: the keyword options of `SessionsClient`.
    """

    def __init__(self, endpoint: str, *, http: httpx.AsyncClient | None = None, **options: Any):
        super().__init__(endpoint, **options)
        self._http = http or httpx.AsyncClient(
            timeout=self.timeout,
            transport=httpx.AsyncHTTPTransport(socket_options=SOCKET_OPTIONS, verify=tls_verify(self.endpoint)),
        )

    async def _call(self, make: Callable[..., Flow[T]], *args: Any) -> T:
        if self.retry is None:
            return await self._drive(make(*args))
        retrying = self.retry.controller(self.remote, lambda: self.deadline, asynchronous=True)

        async def attempt() -> T:  # tenacity awaits coroutine functions only, not lambdas returning coroutines
            return await self._drive(make(*args))

        return await retrying(attempt)  # type: ignore[no-any-return]

    async def _drive(self, flow: Flow[T]) -> T:
        import asyncio  # here, not at the top: the sync client and the smoke never pay its ~20 ms import

        try:
            step = next(flow)
            while True:
                if isinstance(step, float):
                    await asyncio.sleep(step)
                    step = flow.send(None)
                else:
                    step = flow.send(await self._send(step))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._http.send(request)
        except httpx.TransportError as error:
            raise _unreachable(error, self.endpoint) from None

    async def execute(self, code: str, identifier: str, timeout_s: int | None = None) -> ExecutionResult:
        """Runs `code` in the session `identifier`; as `SessionsClient.execute`."""
        return await self._call(self._execute, code, identifier, timeout_s)

    async def run_command(
        self,
        command: str | Sequence[str],
        identifier: str,
        timeout_s: int | None = None,
        shell_type: str | None = None,
        output_max_length: int | None = None,
    ) -> CommandResult:
        """Runs a shell command in a Shell pool's session `identifier`; as `SessionsClient.run_command`."""
        return await self._call(self._run_command, command, identifier, timeout_s, shell_type, output_max_length)

    async def release(self, identifier: str) -> bool:
        """Ends the session now; False when no live session had that identifier."""
        return await self._call(self._release, identifier)

    async def get_session(self, identifier: str) -> SessionInfo | None:
        """The live session `identifier`, or None (2025-02-02-preview and later)."""
        return await self._call(self._get_session, identifier)

    async def list_sessions(self) -> list[SessionInfo]:
        """Every live session of the pool, all pages (2025-02-02-preview and later)."""
        return await self._call(self._list_sessions)

    async def upload_file(self, identifier: str, name: str, data: bytes) -> FileInfo:
        """Stores `data` as `/mnt/data/<name>` in the session `identifier`."""
        return await self._call(self._upload, identifier, name, data)

    async def list_files(self, identifier: str) -> list[FileInfo]:
        """The files in the session's `/mnt/data`."""
        return await self._call(self._list, identifier)

    async def download_file(self, identifier: str, name: str) -> bytes:
        """The content of `/mnt/data/<name>`; `NotFound` when there is no such file."""
        return await self._call(self._download, identifier, name)

    async def delete_file(self, identifier: str, name: str) -> bool:
        """Removes `/mnt/data/<name>`; False when there was no such file."""
        return await self._call(self._delete_file, identifier, name)

    async def aclose(self) -> None:
        """Closes the client's connections (not those of an `http` client it was given)."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.aclose()


__all__ = [
    "DEFAULT_API_VERSION",
    "SUPPORTED_API_VERSIONS",
    "AsyncSessionsClient",
    "RetryPolicy",
    "SessionsClient",
    "contract_for",
]
