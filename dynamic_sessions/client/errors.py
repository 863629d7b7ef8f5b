"""Typed errors of the data plane and of Azure Resource Manager calls. None of them ever carries the bearer token.

Every error derives from `SessionsError`. An HTTP error answer is a `DataPlaneError` with the service's
status, `x-ms-error-code`, message and trace id; no answer at all is an `UnreachableError`.
"""


class SessionsError(Exception):
    """Base of every error this client raises."""


class DataPlaneError(SessionsError):
    """The pool (or Azure Resource Manager) answered with an HTTP error.

    Attributes:
        status: the HTTP status.
        message: the service's message (`error.message` of its body), or the reason phrase.
        error_code: the `x-ms-error-code` header, or `error.code` of the body.
        trace_id: the service's trace or request id, to quote to support.
        retry_after: seconds from the `Retry-After` header, if any.
    """

    def __init__(
        self,
        status: int,
        message: str,
        error_code: str | None = None,
        trace_id: str | None = None,
        retry_after: float | None = None,
    ):
        self.status = status
        self.error_code = error_code
        self.message = message
        self.trace_id = trace_id
        self.retry_after = retry_after
        parts = [f"HTTP {status}"]
        if error_code:
            parts.append(error_code)
        text = " ".join(parts) + f": {message}"
        if trace_id:
            text += f" (trace id {trace_id})"
        super().__init__(text)


class AccessDenied(DataPlaneError):
    """401 or 403: no valid token, or the Session Executor role is missing or not yet propagated."""


class Throttled(DataPlaneError):
    """429, or 404 saying the pool is full: every session is in use."""


class ServiceUnavailable(DataPlaneError):
    """5xx: a transient failure on the service's side."""


class RequestRejected(DataPlaneError):
    """Another 4xx: the request does not fit this endpoint or API version."""


class NotFound(RequestRejected):
    """404 that is not "pool full": no such file in the session, no such route at this API version, or (from Azure
    Resource Manager) no such resource (ResourceNotFound, ResourceGroupNotFound, ...).

    A `RequestRejected`, so code that caught that before keeps catching it.
    """


class UnexpectedResponse(SessionsError):
    """The pool answered 2xx with a body this client cannot read (HTML, wrong shape)."""


class UnreachableError(SessionsError):
    """No HTTP answer: connection refused or reset, DNS failure, or a read timeout."""


class ConnectFailed(UnreachableError):
    """No connection could be made (refused, DNS failure, connect timeout): the request was never sent.

    The message names the endpoint and, for loopback, how to start the emulator there.

    Attributes:
        endpoint: the pool's endpoint the client was given.
        reason: what the transport said, such as `ConnectError: [Errno 111] Connection refused`.
    """

    def __init__(self, message: str, *, endpoint: str, reason: str):
        super().__init__(message)
        self.endpoint = endpoint
        self.reason = reason


class ConfigurationError(SessionsError):
    """The client cannot be set up as asked (bad endpoint, unsupported API version, no credential)."""


class MissingExtra(ConfigurationError, ImportError):
    """A library the call needs is not installed; the message names the extra that brings it.

    Also an `ImportError`, as a missing module would have been.
    """


class NotSupported(ConfigurationError):
    """The operation does not exist in the client's API version; the message names the versions that have it."""


class ArmError(SessionsError):
    """Azure Resource Manager (not the pool's data plane) failed: each ARM error type below derives from this
    and from the data-plane type of the same failure, so `except AccessDenied` still catches an ARM 403."""


class ArmAccessDenied(AccessDenied, ArmError):
    """Resource Manager answered 401 or 403: the identity lacks a role on the resource (Reader, Contributor...)."""


class ArmThrottled(Throttled, ArmError):
    """Resource Manager answered 429."""


class ArmServiceUnavailable(ServiceUnavailable, ArmError):
    """Resource Manager answered 5xx."""


class ArmRequestRejected(RequestRejected, ArmError):
    """Resource Manager answered another 4xx."""


class ArmNotFound(NotFound, ArmRequestRejected):
    """Resource Manager answered 404: no such resource (ResourceNotFound, ResourceGroupNotFound, ...)."""


class ArmConnectFailed(ConnectFailed, ArmError):
    """No connection to Resource Manager could be made."""


class ArmUnreachable(UnreachableError, ArmError):
    """A connection to Resource Manager, but no answer."""
