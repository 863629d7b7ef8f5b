"""Every data-plane operation written once, as a flow: a generator that does no I/O.

A flow yields steps and is sent what each step asks for:
- `TOKEN`: the bearer token (a `str`);
- an `httpx.Request`: its `httpx.Response`;
- a `Pause`: nothing, once that many seconds have passed.

Its return value is the operation's result. `SessionsClient` and `AsyncSessionsClient` drive the same flows, each
doing the I/O its own way (httpx's split between `auth_flow` and its sync and async clients): the sync driver
fetches tokens in the calling thread and sleeps; the async one awaits them without blocking its event loop.
"""

import io
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx

from dynamic_sessions import api_versions
from dynamic_sessions.azure_facts import MAX_EXECUTION_TIMEOUT_S
from dynamic_sessions.client import executions, shell
from dynamic_sessions.client import http as core
from dynamic_sessions.client.contracts import contract_for, version_entry
from dynamic_sessions.client.errors import ConfigurationError, NotSupported, UnexpectedResponse
from dynamic_sessions.client.results import CommandResult, ExecutionResult, FileInfo, SessionInfo
from dynamic_sessions.client.retries import RetryPolicy

DEFAULT_EXECUTION_TIMEOUT_S = 60
# HTTP reads wait this much longer than the execution may run, so a slow execution is not cut off.
READ_MARGIN_S = 30.0
POLL_INTERVAL_S = 0.5
URL_CACHE_SIZE = 1024
# listSessions pages are followed this far at most, so a pool that always answers a nextLink cannot loop us.
MAX_SESSION_PAGES = 100
ENDPOINT_FORMS = "allowed: the pool's https:// management endpoint, or http:// on loopback (the emulator)"


class NeedToken:
    """The step that asks the driver for the bearer token."""

    def __repr__(self) -> str:
        return "TOKEN"


TOKEN: Final = NeedToken()


@dataclass(frozen=True)
class Pause:
    """The step that asks the driver to wait `seconds` (between polls of a running execution)."""

    seconds: float


Step = httpx.Request | Pause | NeedToken
T = TypeVar("T")
Flow = Generator[Step, Any, T]
"""A flow: it yields `Step`s, is sent what each asks for, and returns its result."""


class _Polled(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def raw(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=_Polled)


def normalize_endpoint(endpoint: str) -> str:
    """The endpoint without trailing slashes; plain http is allowed for loopback (the emulator) only."""
    url = core.checked_http_url(endpoint, "endpoint", ENDPOINT_FORMS)
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ConfigurationError(f"endpoint {endpoint!r} must not carry a query or fragment")
    return url


def checked_timeout(name: str, value: int) -> int:
    if not 1 <= value <= MAX_EXECUTION_TIMEOUT_S:
        raise ConfigurationError(f"{name}={value} is not allowed: 1..{MAX_EXECUTION_TIMEOUT_S} seconds")
    return value


class Flows:
    """Everything but I/O: URLs, headers, bodies, parsing, polling; one pool and one API version."""

    def __init__(
        self,
        endpoint: str,
        *,
        api_version: str = api_versions.DEFAULT_API_VERSION,
        execution_timeout_s: int = DEFAULT_EXECUTION_TIMEOUT_S,
        retry: RetryPolicy | None = None,
    ):
        self.endpoint = normalize_endpoint(endpoint)
        self.remote = not core.is_loopback_url(self.endpoint)
        self.plain_http = urlsplit(self.endpoint).scheme == "http"
        self.retry = retry
        """Opt-in retries (429, 5xx, refused connections to remote hosts); None tries each call once."""
        self.api_version = api_version
        self.version = version_entry(api_version)
        self.contract = contract_for(api_version)
        self.execution_timeout_s = checked_timeout("execution_timeout_s", execution_timeout_s)
        self.timeout = core.timeout(execution_timeout_s + READ_MARGIN_S)
        self.deadline: float | None = None
        """A `time.monotonic()` instant no request may outlast (the smoke's overall --timeout)."""
        self._urls: dict[tuple[str, str | None, str], httpx.URL] = {}

    # -- requests ----------------------------------------------------------------------------------------------
    def _exchange(
        self,
        method: str,
        path: str,
        identifier: str | None,
        *,
        api_version: str | None = None,
        read_s: float | None = None,
        **content: Any,
    ) -> Flow[httpx.Response]:
        """One request to the pool, with a token asked for first; its response."""
        token = yield TOKEN
        headers = {"Authorization": f"Bearer {token}", "User-Agent": core.USER_AGENT}
        url = self._url(path, identifier, api_version or self.api_version)
        request = httpx.Request(method, url, headers=headers, **content)
        limits = self.timeout if read_s is None else core.timeout(read_s)
        response: httpx.Response = yield core.bounded(request, limits, self.deadline)
        return response

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

    def _read_s(self, timeout_s: int) -> float | None:
        # The answer comes after the execution: wait longer for it than the execution may run.
        return timeout_s + READ_MARGIN_S if timeout_s > self.execution_timeout_s else None

    def _needs(self, operation: str, available: bool, versions: Sequence[str]) -> None:
        if not available:
            raise self._unsupported(operation, versions)

    def _unsupported(self, operation: str, versions: Sequence[str]) -> NotSupported:
        return NotSupported(
            f"{operation} needs api version {' or '.join(versions)}; this client speaks {self.api_version}"
        )

    # -- operations --------------------------------------------------------------------------------------------
    def execute_flow(self, code: str, identifier: str, timeout_s: int | None = None) -> Flow[ExecutionResult]:
        timeout_s = self.execution_timeout_s if timeout_s is None else checked_timeout("timeout_s", timeout_s)
        body = self.contract.execute_body(code, timeout_s)
        response = yield from self._exchange(
            "POST", self.contract.execute_path, identifier, read_s=self._read_s(timeout_s), json=body
        )
        result = self.contract.parse_execution(core.json_of(response))
        if self.contract.polls:
            result = yield from self._until_done(result, self.contract.parse_execution, identifier, timeout_s)
        return result

    def _until_done(self, result: R, parse: Callable[[Any], R], identifier: str, timeout_s: int) -> Flow[R]:
        """Asynchronous or slow executions answer NotStarted or Running; the answer's id names where to look."""
        deadline = time.monotonic() + timeout_s + READ_MARGIN_S
        while result.status in ("NotStarted", "Running"):
            if time.monotonic() > deadline:
                raise UnexpectedResponse(f"the execution is still {result.status} after {timeout_s} s")
            yield Pause(POLL_INTERVAL_S)
            path = executions.execution_path(str(result.raw.get("id", "")))
            response = yield from self._exchange("GET", path, identifier)
            result = parse(core.json_of(response))
        return result

    def run_command_flow(
        self,
        command: str | Sequence[str],
        identifier: str,
        timeout_s: int | None = None,
        shell_type: str | None = None,
        output_max_length: int | None = None,
    ) -> Flow[CommandResult]:
        self._needs("run_command", self.version.commands, api_versions.SHELL_API_VERSIONS)
        timeout_s = self.execution_timeout_s if timeout_s is None else timeout_s
        body = shell.command_body(command, timeout_s, shell_type, output_max_length, MAX_EXECUTION_TIMEOUT_S)
        response = yield from self._exchange(
            "POST", shell.EXECUTE_PATH, identifier, read_s=self._read_s(timeout_s), json=body
        )
        result = shell.parse_command(core.json_of(response))
        return (yield from self._until_done(result, shell.parse_command, identifier, timeout_s))

    def release_flow(self, identifier: str) -> Flow[bool]:
        # DELETE /session exists from 2025-02-02-preview, whichever contract executed the code.
        version = self.api_version if self.version.sessions else api_versions.RELEASE_API_VERSION
        response = yield from self._exchange("DELETE", executions.SESSION_PATH, identifier, api_version=version)
        if response.status_code == 404:
            return False
        core.succeeded(response)
        return True

    def get_session_flow(self, identifier: str) -> Flow[SessionInfo | None]:
        self._needs("get_session", self.version.sessions, api_versions.SESSION_API_VERSIONS)
        response = yield from self._exchange("GET", executions.SESSION_PATH, identifier)
        if response.status_code == 404:
            return None
        return executions.parse_session(core.json_of(response))

    def list_sessions_flow(self) -> Flow[list[SessionInfo]]:
        self._needs("list_sessions", self.version.sessions, api_versions.SESSION_API_VERSIONS)
        response = yield from self._exchange("GET", executions.LIST_SESSIONS_PATH, None)
        found: list[SessionInfo] = []
        for _ in range(MAX_SESSION_PAGES):
            page, next_link = executions.parse_session_page(core.json_of(response))
            found += page
            if next_link is None:
                return found
            response = yield self._next_page(response.request, next_link)
        raise UnexpectedResponse(f"listSessions still had a next page after {MAX_SESSION_PAGES} pages")

    def _next_page(self, previous: httpx.Request, next_link: str) -> httpx.Request:
        url = previous.url.join(next_link)
        # The bearer token goes to the pool's own origin only, whatever a nextLink says.
        if (url.scheme, url.host, url.port) != (previous.url.scheme, previous.url.host, previous.url.port):
            raise UnexpectedResponse(f"listSessions' nextLink leaves the pool's endpoint: {url.host}")
        if "api-version" not in url.params:
            url = url.copy_add_param("api-version", self.api_version)
        request = httpx.Request("GET", url, headers=dict(previous.headers))
        return core.bounded(request, self.timeout, self.deadline)

    def delete_file_flow(self, identifier: str, name: str) -> Flow[bool]:
        route = self.contract.file_path
        if route is None:
            raise self._unsupported("delete_file", api_versions.EXECUTIONS_VERSIONS)
        response = yield from self._exchange("DELETE", route(name), identifier)
        if response.status_code == 404:
            return False
        core.succeeded(response)
        return True

    def upload_file_flow(self, identifier: str, name: str, data: bytes) -> Flow[FileInfo]:
        # As a file, so httpx sends it 64 KiB at a time: bytes go to httpcore in one piece, whose socket writes
        # copy what is left after every partial send (100 MiB: ~0.7 s of CPU, against ~0.1 s this way).
        files = {"file": (name, io.BytesIO(data), "application/octet-stream")}
        response = yield from self._exchange("POST", self.contract.upload_path, identifier, files=files)
        return self.contract.parse_upload(core.json_of(response))

    def list_files_flow(self, identifier: str) -> Flow[list[FileInfo]]:
        response = yield from self._exchange("GET", self.contract.list_path, identifier)
        return self.contract.parse_list(core.json_of(response))

    def download_file_flow(self, identifier: str, name: str) -> Flow[bytes]:
        response = yield from self._exchange("GET", self.contract.content_path(name), identifier)
        return core.succeeded(response, subject=f"file {name!r} in /mnt/data of session {identifier!r}").content
