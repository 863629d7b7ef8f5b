"""Azure Resource Manager: a session pool as Azure holds it, the role assignments at its scope, and the pool's
actions (its MCP server's key).

Plain GETs over httpx rather than the azure-mgmt SDKs: each SDK is pinned to the API versions it was
generated for, while the pool must be read at the version the stack sent it with (the stack's
`poolApiVersion`), and the reads share the data-plane client's typed errors and `RetryPolicy`.
Tokens come from azure-identity for `<endpoint>/.default` (`https://management.azure.com/.default` for
the public cloud); a loopback `http` endpoint (a local stand-in) gets a locally minted one. A token is
sent to the ARM endpoint's own origin only, and never appears in an error or a log line.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import httpx

from dynamic_sessions import api_versions, azure_facts
from dynamic_sessions.client import http as core
from dynamic_sessions.client.errors import (
    ArmAccessDenied,
    ArmConnectFailed,
    ArmNotFound,
    ArmRequestRejected,
    ArmServiceUnavailable,
    ArmThrottled,
    ArmUnreachable,
    ConfigurationError,
    UnexpectedResponse,
)
from dynamic_sessions.client.retries import RetryPolicy
from dynamic_sessions.client.tokens import EntraToken, LocalToken, TokenProvider

DEFAULT_ENDPOINT = azure_facts.ARM_ENDPOINT
POOL_API_VERSION = api_versions.POOL_API_VERSION
"""The pool's ARM API version when the stack names none."""
ROLE_ASSIGNMENTS_API_VERSION = api_versions.ROLE_ASSIGNMENTS_API_VERSION
READ_TIMEOUT_S = 30.0
SETTLED_STATES = ("Succeeded", "Failed", "Canceled", "Deleting")
"""Provisioning states that do not change by waiting; any other (InProgress, Updating, ...) is still changing."""
MAX_PAGES = 100
ENDPOINT_FORMS = (
    "allowed: an https:// Resource Manager endpoint (such as https://management.azure.com), or http:// on loopback"
)

T = TypeVar("T")


def _connect_message(endpoint: str, reason: str) -> str:
    return (
        f"could not connect to Azure Resource Manager at {endpoint} ({reason}); check --arm-endpoint "
        "and that this machine reaches it"
    )


ARM = core.Service(
    "Azure Resource Manager",
    denied=ArmAccessDenied,
    throttled=ArmThrottled,
    unavailable=ArmServiceUnavailable,
    not_found=ArmNotFound,
    rejected=ArmRequestRejected,
    connect_failed=ArmConnectFailed,
    unreachable=ArmUnreachable,
    connect_message=_connect_message,
    # ARM's ids are in x-ms-correlation-request-id; its 404s are never "pool full".
    trace_headers=("x-ms-correlation-request-id", "x-ms-request-id"),
    pool_full_404=False,
)
"""Azure Resource Manager, whose failures raise the `Arm*` errors."""


def normalize_arm_endpoint(endpoint: str) -> str:
    url = core.checked_http_url(endpoint, "--arm-endpoint", ENDPOINT_FORMS)
    parts = urlsplit(url)
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ConfigurationError(f"--arm-endpoint {endpoint!r} must be an origin only, with no path or query")
    return url


def token_audience(endpoint: str) -> str:
    """The audience of a token for this Resource Manager: the cloud's endpoint itself, as azure-identity's scope
    (`<audience>/.default`); a plain-http stand-in on loopback stands for the public cloud's."""
    endpoint = endpoint.rstrip("/")
    return DEFAULT_ENDPOINT if urlsplit(endpoint).scheme == "http" else endpoint


def check_resource_id(resource_id: str) -> str:
    """An ARM id as `/subscriptions/<id>/...`, or a ConfigurationError naming it."""
    parts = resource_id.split("/")
    if (
        not resource_id.startswith("/subscriptions/")
        or len(parts) < 3
        or not parts[2]
        or any(bad in resource_id for bad in ("?", "#", "..", "//", "\\"))
    ):
        raise ConfigurationError(f"{resource_id!r} is not an ARM resource id (/subscriptions/<id>/resourceGroups/...)")
    return resource_id


def _body(response: httpx.Response) -> dict[str, Any]:
    body = core.json_of(response, ARM)
    if not isinstance(body, dict):
        kind = response.headers.get("content-type", "no content type")
        raise UnexpectedResponse(
            f"Resource Manager answered HTTP {response.status_code} without a JSON object ({kind})"
        )
    return body


def _dig(body: Any, *path: str) -> Any:
    for key in path:
        body = body.get(key) if isinstance(body, dict) else None
    return body


@dataclass(frozen=True)
class PoolState:
    """What Azure holds for a pool, read from its ARM GET (2025-01-01 and later shapes, and the older cooldown)."""

    container_type: str | None
    egress: str | None
    """`sessionNetworkConfiguration.status`: EgressEnabled or EgressDisabled."""
    lifecycle_type: str | None
    cooldown_seconds: int | None
    max_sessions: int | None
    ready_sessions: int | None
    provisioning_state: str | None
    endpoint: str | None
    mcp_endpoint: str | None
    location: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def settled(self) -> bool:
        return self.provisioning_state in SETTLED_STATES

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> "PoolState":
        props = body.get("properties")
        props = props if isinstance(props, dict) else {}
        lifecycle = _dig(props, "dynamicPoolConfiguration", "lifecycleConfiguration")
        # Up to 2024-10-02-preview the cooldown sat on dynamicPoolConfiguration itself, beside executionType.
        legacy = _dig(props, "dynamicPoolConfiguration")
        cooldown = _dig(lifecycle, "cooldownPeriodInSeconds")
        if cooldown is None:
            cooldown = _dig(legacy, "cooldownPeriodInSeconds")
        lifecycle_type = _dig(lifecycle, "lifecycleType") or _dig(legacy, "executionType")
        return cls(
            container_type=props.get("containerType"),
            egress=_dig(props, "sessionNetworkConfiguration", "status"),
            lifecycle_type=lifecycle_type,
            cooldown_seconds=cooldown,
            max_sessions=_dig(props, "scaleConfiguration", "maxConcurrentSessions"),
            ready_sessions=_dig(props, "scaleConfiguration", "readySessionInstances"),
            provisioning_state=props.get("provisioningState"),
            endpoint=props.get("poolManagementEndpoint"),
            mcp_endpoint=_dig(props, "mcpServerSettings", "mcpServerEndpoint"),
            location=body.get("location"),
            raw=body,
        )


@dataclass(frozen=True)
class RoleAssignment:
    id: str
    principal_id: str
    principal_type: str
    role_definition_id: str
    scope: str

    @classmethod
    def from_body(cls, item: Any) -> "RoleAssignment":
        props = item.get("properties") if isinstance(item, dict) else None
        if not isinstance(props, dict):
            raise UnexpectedResponse("a role assignment in Resource Manager's listing has no properties")
        return cls(
            id=str(item.get("id", "")),
            principal_id=str(props.get("principalId", "")),
            principal_type=str(props.get("principalType", "")),
            role_definition_id=str(props.get("roleDefinitionId", "")),
            scope=str(props.get("scope", "")),
        )


class ArmReader:
    """GETs against Azure Resource Manager with the `Arm*` errors (each also the data-plane error of the same
    failure) and opt-in retries. `credential` must be sync: an async one is a `ConfigurationError`. An `http`
    client given is left open by `close()`; the one the reader makes is closed.

    >>> with ArmReader() as arm:
    ...     pool = arm.get_pool(pool_id)
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        credential: Any = None,
        token_provider: TokenProvider | None = None,
        retry: RetryPolicy | None = None,
        http: httpx.Client | None = None,
    ):
        self.endpoint = normalize_arm_endpoint(endpoint)
        self.remote = not core.is_loopback_url(self.endpoint)
        plain_http = urlsplit(self.endpoint).scheme == "http"
        self._owns_tokens = token_provider is None
        if token_provider is None:
            audience = token_audience(self.endpoint)
            token_provider = (
                LocalToken(audience=audience) if plain_http else EntraToken(credential, f"{audience}/.default")
            )
        self.tokens = token_provider
        self.retry = retry
        self.calls = 0
        """HTTP requests sent, retries included."""
        self.deadline: float | None = None
        """A `time.monotonic()` instant no request may outlast."""
        self.timeout = core.timeout(READ_TIMEOUT_S)
        self._owns_http = http is None
        self._http = http or core.sync_client(self.endpoint, self.timeout)

    def get_pool(self, pool_id: str, api_version: str = POOL_API_VERSION) -> PoolState:
        url = httpx.URL(f"{self.endpoint}{check_resource_id(pool_id)}", params={"api-version": api_version})
        return PoolState.from_body(self._call(self._reader(url)))

    def role_assignments(self, scope: str) -> list[RoleAssignment]:
        """Every role assignment at or above `scope` (`$filter=atScope()`), all pages."""
        url = httpx.URL(
            f"{self.endpoint}{check_resource_id(scope)}/providers/Microsoft.Authorization/roleAssignments",
            params={"$filter": "atScope()", "api-version": ROLE_ASSIGNMENTS_API_VERSION},
        )
        found: list[RoleAssignment] = []
        for _ in range(MAX_PAGES):
            page = self._call(self._reader(url))
            items = page.get("value")
            if not isinstance(items, list):
                raise UnexpectedResponse("Resource Manager's role-assignment listing has no `value` list")
            found += [RoleAssignment.from_body(item) for item in items]
            next_link = page.get("nextLink")
            if not next_link:
                return found
            url = self._same_origin(url, str(next_link))
        raise UnexpectedResponse(f"the role-assignment listing still had a next page after {MAX_PAGES} pages")

    def post_action(self, resource_id: str, action: str, api_version: str = POOL_API_VERSION) -> dict[str, Any]:
        """POSTs the ARM action `action` (such as `fetchMcpServerCredentials`) on a resource; its JSON answer."""
        url = httpx.URL(
            f"{self.endpoint}{check_resource_id(resource_id)}/{action}", params={"api-version": api_version}
        )
        return self._call(lambda: _body(self._send("POST", url)))

    def _reader(self, url: httpx.URL) -> Callable[[], dict[str, Any]]:
        return lambda: _body(self._send("GET", url))

    def _same_origin(self, previous: httpx.URL, link: str) -> httpx.URL:
        url = previous.join(link)
        if (url.scheme, url.host, url.port) != (previous.scheme, previous.host, previous.port):
            raise UnexpectedResponse(f"a nextLink leaves the Resource Manager endpoint: {url.host}")
        return url

    def _call(self, attempt: Callable[[], T]) -> T:
        if self.retry is None:
            return attempt()
        retrying = self.retry.controller(self.remote, lambda: self.deadline, asynchronous=False)
        return retrying(attempt)  # type: ignore[no-any-return]

    def _send(self, method: str, url: httpx.URL) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {self.tokens.token()}",
            "User-Agent": core.USER_AGENT,
            "Accept": "application/json",
        }
        request = core.bounded(httpx.Request(method, url, headers=headers), self.timeout, self.deadline)
        self.calls += 1
        try:
            return self._http.send(request)
        except httpx.TransportError as error:
            raise core.unreachable(error, self.endpoint, ARM) from None

    def close(self) -> None:
        """Closes the reader's own httpx client and the default credential it made; not ones it was given."""
        if self._owns_tokens and isinstance(self.tokens, EntraToken):
            self.tokens.close()
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
