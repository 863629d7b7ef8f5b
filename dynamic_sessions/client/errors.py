"""Typed errors of the data plane and of Azure Resource Manager reads. None of them ever carries the bearer token."""


class SessionsError(Exception):
    """Base of every error this client raises."""


class DataPlaneError(SessionsError):
    """The pool (or Azure Resource Manager) answered with an HTTP error."""

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
    """404 from Azure Resource Manager: no such resource (ResourceNotFound, ResourceGroupNotFound, ...)."""


class UnexpectedResponse(SessionsError):
    """The pool answered 2xx with a body this client cannot read (HTML, wrong shape)."""


class UnreachableError(SessionsError):
    """No HTTP answer: connection refused or reset, DNS failure, or a read timeout."""


class ConnectFailed(UnreachableError):
    """No connection could be made (refused, DNS failure, connect timeout): the request was never sent."""


class ConfigurationError(SessionsError):
    """The client cannot be set up as asked (bad endpoint, unsupported API version, no credential)."""


class NotSupported(ConfigurationError):
    """The operation does not exist in the client's API version; the message names the versions that have it."""
