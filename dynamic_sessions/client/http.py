"""The HTTP core every client of the package shares: the data plane, Shell commands, the ARM reader and the MCP
key fetch. Written once here: which URLs may carry a token, TLS verification, timeouts (the connect timeout
among them), the User-Agent, and how an HTTP error answer or a missing answer becomes a typed error.

An error never carries a request header, so never the bearer token or key.
"""

import contextlib
import email.utils
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from dynamic_sessions import __version__
from dynamic_sessions.client.errors import (
    AccessDenied,
    ConfigurationError,
    ConnectFailed,
    DataPlaneError,
    NotFound,
    RequestRejected,
    ServiceUnavailable,
    Throttled,
    UnexpectedResponse,
    UnreachableError,
)
from dynamic_sessions.loopback import is_loopback_host

USER_AGENT = f"dynamic-sessions-client/{__version__} python-httpx/{httpx.__version__}"
CONNECT_TIMEOUT_S = 10.0
"""How long any client waits for a connection (and for a write, and for a pooled connection)."""
# httpx writes headers and body separately; without TCP_NODELAY, Nagle's algorithm holds the body
# until the server's delayed ACK (~40 ms) on every request of a kept-alive connection.
SOCKET_OPTIONS = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
# The installed console script that starts the emulator (the `emulator` extra); the smoke names its own way.
EMULATOR_COMMAND = "dynamic-sessions-emulator"
# A 404 from the pool is "pool full" only when it says so; otherwise it is a wrong route or API version.
_CAPACITY_WORDS = ("full", "capacity", "no session", "exhausted")


def is_loopback_url(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname or "")


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


def tls_verify(endpoint: str) -> ssl.SSLContext | bool:
    """What httpx verifies TLS with for requests to `endpoint`: its CA bundle (True) for https; for plain http
    (loopback only), a context that trusts no CA at all. The package's clients follow no redirect, so plain
    http never speaks TLS and loading the bundle would cost ~30 to 65 ms of CPU per client for nothing; the
    MCP SDK follows one from http to https on the same host, and TLS through this context then fails
    verification rather than passes."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) if urlsplit(endpoint).scheme == "http" else True


def timeout(read_s: float) -> httpx.Timeout:
    """The connect timeout, and `read_s` to wait for an answer."""
    return httpx.Timeout(CONNECT_TIMEOUT_S, read=read_s)


def bounded(request: httpx.Request, limits: httpx.Timeout, deadline: float | None) -> httpx.Request:
    """Sets `request`'s timeouts: `limits`, each cut to what is left before `deadline` (a `time.monotonic()`
    instant no request may outlast, such as the smoke's --timeout), when there is one."""
    if deadline is None:
        request.extensions["timeout"] = limits.as_dict()
    else:
        left = max(0.1, deadline - time.monotonic())
        read = min(limits.read or left, left)
        request.extensions["timeout"] = httpx.Timeout(min(CONNECT_TIMEOUT_S, left), read=read).as_dict()
    return request


def sync_client(endpoint: str, limits: httpx.Timeout, **options: Any) -> httpx.Client:
    """A new `httpx.Client` for `endpoint`: TLS as `tls_verify` says, TCP_NODELAY, `limits` by default."""
    transport = httpx.HTTPTransport(socket_options=SOCKET_OPTIONS, verify=tls_verify(endpoint))
    return httpx.Client(timeout=limits, transport=transport, **options)


def async_client(endpoint: str, limits: httpx.Timeout, **options: Any) -> httpx.AsyncClient:
    """As `sync_client`, an `httpx.AsyncClient`."""
    transport = httpx.AsyncHTTPTransport(socket_options=SOCKET_OPTIONS, verify=tls_verify(endpoint))
    return httpx.AsyncClient(timeout=limits, transport=transport, **options)


def retry_after(response: httpx.Response) -> float | None:
    """The `Retry-After` header in seconds (a number or an HTTP date), or None."""
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


def connect_failed_message(endpoint: str, reason: str, emulator: str = EMULATOR_COMMAND) -> str:
    """What a refused connection to a pool means: on loopback, no emulator there yet (and how to start one)."""
    if is_loopback_url(endpoint):
        parts = urlsplit(endpoint)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"nothing is listening at {endpoint} ({reason}); start the emulator there: {emulator} --port {port}"
    return (
        f"could not connect to {endpoint} ({reason}); check the endpoint (the pool stack's poolManagementEndpoint "
        "output) and that this machine reaches it"
    )


@dataclass(frozen=True)
class Service:
    """What differs between the services the clients call: the error types raised for each failure, the words of
    a failed connection, and which headers hold the trace id."""

    name: str
    """How messages name the service before its endpoint ("" for the pool itself)."""
    denied: type[AccessDenied] = AccessDenied
    throttled: type[Throttled] = Throttled
    unavailable: type[ServiceUnavailable] = ServiceUnavailable
    not_found: type[NotFound] = NotFound
    rejected: type[RequestRejected] = RequestRejected
    connect_failed: type[ConnectFailed] = ConnectFailed
    unreachable: type[UnreachableError] = UnreachableError
    connect_message: Callable[[str, str], str] = connect_failed_message
    """(endpoint, reason) -> the message of a failed connection."""
    trace_headers: tuple[str, ...] = ("x-ms-request-id", "x-ms-correlation-request-id")
    pool_full_404: bool = True
    """Whether a 404 saying the pool is full is `throttled` (the data plane's answer when every session is used)."""


POOL = Service("")
"""A pool's data plane: its code, files, sessions and Shell commands."""


def error_from(response: httpx.Response, service: Service = POOL, subject: str | None = None) -> DataPlaneError:
    """A typed error with status, error code, message and trace id; never a header of the request.

    `subject` names what was asked for (a file), so a 404 says which one does not exist.
    """
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    body = body if isinstance(body, dict) else {}
    error = body.get("error")
    error = error if isinstance(error, dict) else {}
    code = response.headers.get("x-ms-error-code") or error.get("code")
    message = str(error.get("message") or body.get("message") or response.reason_phrase or "")
    message = message or response.text[:200] or "no message"
    cause = response.headers.get("x-ms-failure-cause")
    if cause:
        message += f" (failure cause: {cause})"
    trace = body.get("traceId") or error.get("traceId")
    for header in service.trace_headers:
        trace = trace or response.headers.get(header)
    status = response.status_code
    kind: type[DataPlaneError] = service.rejected
    if status in (401, 403):
        kind = service.denied
    elif status == 429 or (
        status == 404 and service.pool_full_404 and any(w in message.lower() for w in _CAPACITY_WORDS)
    ):
        kind = service.throttled
    elif status >= 500:
        kind = service.unavailable
    elif status == 404:
        kind = service.not_found
        if subject:
            message = f"{subject} does not exist ({message})"
    return kind(status, message, code, trace, retry_after(response))


def unreachable(error: httpx.TransportError, endpoint: str, service: Service = POOL) -> UnreachableError:
    """No answer: a `ConnectFailed` when no connection was made (the request was never sent), else an
    `UnreachableError`."""
    reason = f"{type(error).__name__}: {error}"
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
        return service.connect_failed(service.connect_message(endpoint, reason), endpoint=endpoint, reason=reason)
    where = f"{service.name} at {endpoint}" if service.name else endpoint
    return service.unreachable(f"no answer from {where} ({reason})")


def succeeded(response: httpx.Response, service: Service = POOL, subject: str | None = None) -> httpx.Response:
    """`response` when it is not an HTTP error; else its typed error."""
    if response.status_code >= 400:
        raise error_from(response, service, subject)
    return response


def json_of(response: httpx.Response, service: Service = POOL) -> Any:
    """The JSON body of a successful answer; `UnexpectedResponse` when it is not JSON."""
    succeeded(response, service)
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("content-type", "no content type")
        where = f"{service.name} answered " if service.name else ""
        raise UnexpectedResponse(
            f"{where}HTTP {response.status_code} with a body that is not JSON ({kind}): {response.text[:120]!r}"
        ) from None
