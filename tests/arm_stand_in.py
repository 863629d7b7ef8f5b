"""Azure Resource Manager on loopback, for the reads `--verify` makes: a pool's GET and the role-assignment
listing at its scope, in ARM's shapes (the 2025-10-02-preview SessionPools spec; Role Assignments - List For
Scope, 2022-04-01) and with ARM's error bodies and headers:

- every error is `{"error": {"code", "message"}}` with `x-ms-failure-cause: gateway` and
  `x-ms-correlation-request-id`, as Resource Manager answers on its own behalf;
- 401 `InvalidAuthenticationToken` without a bearer token, `InvalidAuthenticationTokenAudience` for another audience;
- 403 `AuthorizationFailed`, 404 `ResourceNotFound`, 429 `SubscriptionRequestsThrottled` with `Retry-After`
  and `x-ms-ratelimit-remaining-subscription-reads: 0`, scripted per request;
- a pool answers each GET with the next of its provisioning states (`Updating`, then `Succeeded`);
- the listing honours `$filter=atScope()` (assignments at or above the scope) and pages with `nextLink`.
"""

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.stand_in_server import StandInServer

ARM_AUDIENCE = "https://management.azure.com"
POOL_API_VERSIONS = (
    "2024-02-02-preview",
    "2025-02-02-preview",
    "2025-10-02-preview",
    "2026-01-01",
    "2026-03-02-preview",
)
ROLE_ASSIGNMENTS_API_VERSION = "2022-04-01"
SUBSCRIPTION = "00000000-0000-0000-0000-0000000000aa"
CALLER = "11111111-1111-1111-1111-111111111111"
EXECUTOR_GUID = "0fb8eba5-a2bb-4abe-b1c1-49dfad359bb0"
READER_GUID = "acdd72a7-3385-48ef-bd42-f606fba81ae7"


def role_definition_id(guid: str, subscription: str = SUBSCRIPTION) -> str:
    return f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{guid}"


def pool_id(name: str = "devpool", group: str = "rg-dev") -> str:
    return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.App/sessionPools/{name}"


def pool_properties(endpoint: str, **overrides: Any) -> dict[str, Any]:
    """The `properties` of a NodeLTS pool as a GET at 2025-10-02-preview answers them; keyword arguments
    replace top-level properties."""
    props: dict[str, Any] = {
        "containerType": "NodeLTS",
        "poolManagementType": "Dynamic",
        "nodeCount": 0,
        "scaleConfiguration": {"maxConcurrentSessions": 5, "readySessionInstances": 0},
        "dynamicPoolConfiguration": {
            "lifecycleConfiguration": {"lifecycleType": "Timed", "cooldownPeriodInSeconds": 300}
        },
        "sessionNetworkConfiguration": {"status": "EgressDisabled"},
        "poolManagementEndpoint": endpoint,
        "provisioningState": "Succeeded",
    }
    props.update(overrides)
    return props


@dataclass
class Assignment:
    principal_id: str
    principal_type: str
    role_guid: str
    scope: str
    name: str = field(default_factory=lambda: str(uuid.uuid4()))

    def body(self) -> dict[str, Any]:
        return {
            "properties": {
                "roleDefinitionId": role_definition_id(self.role_guid),
                "principalId": self.principal_id,
                "principalType": self.principal_type,
                "scope": self.scope,
                "condition": None,
                "conditionVersion": None,
                "createdOn": "2026-11-30T10:00:00.0000000Z",
                "updatedOn": "2026-11-30T10:00:00.0000000Z",
                "createdBy": CALLER,
                "updatedBy": CALLER,
                "delegatedManagedIdentityResourceId": None,
                "description": None,
            },
            "id": f"{self.scope}/providers/Microsoft.Authorization/roleAssignments/{self.name}",
            "type": "Microsoft.Authorization/roleAssignments",
            "name": self.name,
        }


@dataclass
class Fault:
    status: int
    retry_after: str | None = None


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class ArmStandIn:
    """A real HTTP server on 127.0.0.1. `faults` are answered first, one per request, in order, to pool GETs
    (`"pool"`) or listings (`"roleAssignments"`); `states` are the pool's provisioning states, one per GET, the
    last repeating. `pool` None answers 404 for the pool."""

    def __init__(
        self,
        pool_id: str,
        pool: dict[str, Any] | None,
        assignments: list[Assignment] | None = None,
        *,
        location: str = "northcentralus",
        states: list[str] | None = None,
        faults: dict[str, list[Fault]] | None = None,
        page_size: int = 100,
    ):
        self.pool_id = pool_id
        self.pool = pool
        self.location = location
        self.assignments = assignments or []
        self.states = list(states or [])
        self.faults = {kind: list(items) for kind, items in (faults or {}).items()}
        self.page_size = page_size
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle's algorithm holds the body of every
            # answer after the first on a kept-alive connection until the client's delayed ACK (~40 ms).
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                with stand_in._lock:
                    stand_in.requests.append(
                        Seen("GET", parts.path, query, {k.lower(): v for k, v in self.headers.items()})
                    )
                    status, body, headers = stand_in.answer(parts.path, query, self.headers.get("Authorization"))
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("x-ms-correlation-request-id", str(uuid.uuid4()))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = StandInServer(Handler)
        self.url = self.server.url

    def __enter__(self) -> "ArmStandIn":
        self.server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.stop()

    # --- answers ------------------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, list[str]], authorization: str | None) -> tuple[int, Any, dict]:
        denied = self._authenticate(authorization)
        if denied:
            return denied
        listing = path.lower() == f"{self.pool_id}/providers/Microsoft.Authorization/roleAssignments".lower()
        kind = "roleAssignments" if listing else "pool"
        pending = self.faults.get(kind)
        if pending:
            return self._fault(pending.pop(0), path, listing)
        if listing:
            return self._listing(query)
        if path.lower() == self.pool_id.lower():
            return self._pool(query)
        return _error(404, "ResourceNotFound", f"The Resource '{path}' was not found.")

    def _authenticate(self, authorization: str | None) -> tuple[int, Any, dict] | None:
        if not authorization or not authorization.startswith("Bearer "):
            return _error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        try:
            payload = authorization.split()[1].split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError):
            return _error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if str(claims.get("aud", "")).rstrip("/") != ARM_AUDIENCE:
            return _error(
                401,
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource '{claims.get('aud')}'. It should "
                f"exactly match with one of the allowed audiences '{ARM_AUDIENCE}/'.",
            )
        return None

    def _fault(self, fault: Fault, path: str, listing: bool) -> tuple[int, Any, dict]:
        action = "Microsoft.Authorization/roleAssignments/read" if listing else "Microsoft.App/sessionPools/read"
        if fault.status == 403:
            return _error(
                403,
                "AuthorizationFailed",
                f"The client '{CALLER}' with object id '{CALLER}' does not have authorization to perform action "
                f"'{action}' over scope '{self.pool_id}' or the scope is invalid. If access was recently granted, "
                "please refresh your credentials.",
            )
        if fault.status == 401:
            return _error(
                401, "ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time."
            )
        if fault.status == 429:
            status, body, headers = _error(
                429,
                "SubscriptionRequestsThrottled",
                f"Number of 'read' requests for subscription '{SUBSCRIPTION}' actor '{CALLER}' exceeded. Please try "
                f"again after '{fault.retry_after}' seconds after additional tokens are available. Refer to "
                "https://aka.ms/arm-throttling for additional information.",
            )
            headers["x-ms-ratelimit-remaining-subscription-reads"] = "0"
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            return status, body, headers
        if fault.status == 404:
            return self._missing()
        return _error(fault.status, "InternalServerError", "Encountered internal server error.")

    def _missing(self) -> tuple[int, Any, dict]:
        parts = self.pool_id.split("/")
        return _error(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.App/sessionPools/{parts[-1]}' under resource group '{parts[4]}' was not found. "
            "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        )

    def _pool(self, query: dict[str, list[str]]) -> tuple[int, Any, dict]:
        version = (query.get("api-version") or [""])[0]
        if version not in POOL_API_VERSIONS:
            return _error(
                400,
                "NoRegisteredProviderFound",
                f"No registered resource provider found for location '{self.location}' and API version '{version}' "
                f"for type 'sessionPools'. The supported api-versions are '{', '.join(POOL_API_VERSIONS)}'.",
            )
        if self.pool is None:
            return self._missing()
        properties = dict(self.pool)
        if self.states:
            properties["provisioningState"] = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        parts = self.pool_id.split("/")
        body = {
            "id": self.pool_id,
            "name": parts[-1],
            "type": "Microsoft.App/sessionPools",
            "location": self.location,
            "systemData": {"createdBy": CALLER, "createdByType": "User", "createdAt": "2026-11-30T10:00:00Z"},
            "properties": properties,
        }
        return 200, body, {}

    def _listing(self, query: dict[str, list[str]]) -> tuple[int, Any, dict]:
        if query.get("api-version") != [ROLE_ASSIGNMENTS_API_VERSION]:
            return _error(
                400, "InvalidApiVersionParameter", f"The api-version '{query.get('api-version')}' is invalid."
            )
        if query.get("$filter") != ["atScope()"]:
            return _error(
                400, "UnsupportedQuery", f"This stand-in answers $filter=atScope() only, not {query.get('$filter')}."
            )
        # atScope(): assignments at the scope or above it (its resource group, its subscription).
        scope = self.pool_id.lower()
        applying = [a for a in self.assignments if scope == a.scope.lower() or scope.startswith(a.scope.lower() + "/")]
        start = int((query.get("$skipToken") or ["0"])[0])
        page = applying[start : start + self.page_size]
        body: dict[str, Any] = {"value": [a.body() for a in page]}
        if start + self.page_size < len(applying):
            params = {
                "$filter": "atScope()",
                "api-version": ROLE_ASSIGNMENTS_API_VERSION,
                "$skipToken": start + self.page_size,
            }
            body["nextLink"] = (
                f"{self.url}{self.pool_id}/providers/Microsoft.Authorization/roleAssignments?{urlencode(params)}"
            )
        return 200, body, {}

    def calls(self, kind: str) -> list[Seen]:
        listing = "/providers/microsoft.authorization/roleassignments"
        return [r for r in self.requests if (listing in r.path.lower()) == (kind == "roleAssignments")]


def _error(status: int, code: str, message: str) -> tuple[int, Any, dict]:
    return status, {"error": {"code": code, "message": message}}, {"x-ms-failure-cause": "gateway"}
