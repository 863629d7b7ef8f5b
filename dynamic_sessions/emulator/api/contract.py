"""The data plane's wire contract as the emulator serves it: versions, request checks, response shapes.

Two shapes exist (see the specs under shared/reference/specs/data-plane):
- `code/execute` (2024-02-02-preview, 2024-08-02-preview): `{"properties": {...}}` in and out,
  status `Success`/`Failure`;
- `executions` (2024-10-02-preview and later): flat request, `{id, identifier, status, result}` out,
  status `Succeeded`/`Failed`; 2024-10-02-preview answers 202, later versions 200.
"""

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

from starlette import responses

from dynamic_sessions.emulator.sessions.session import Outcome, Session

LEGACY_VERSIONS = ("2024-02-02-preview", "2024-08-02-preview")
EXECUTIONS_VERSIONS = ("2024-10-02-preview", "2025-02-02-preview", "2025-10-02-preview")
SESSION_VERSIONS = ("2025-02-02-preview", "2025-10-02-preview")
ALL_VERSIONS = LEGACY_VERSIONS + EXECUTIONS_VERSIONS
MAX_TIMEOUT_S = 220
DEFAULT_LEGACY_TIMEOUT_S = 220
# The specs' identifier pattern (2024-10-02-preview and later): 4..128 of these characters (fullmatch:
# `$` alone would let a trailing newline through).
# operation-id names an execution (GET /executions/{id}); clients send a GUID. Held to a size and to
# printable ASCII: it is kept in the session's history and in the resource's URL.
OPERATION_ID = re.compile(r"[\x21-\x7e]{1,128}")
IDENTIFIER = re.compile(r"""[a-zA-Z0-9_|}{\[\]:";'<>?/.,@#$%^&*()\-+=!~`]{4,128}""")


class JSONResponse(responses.JSONResponse):
    """Starlette's JSON response, except that text UTF-8 cannot carry (a lone surrogate in session
    output, say) is sent as a JSON escape instead of failing the request."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """Azure's error body and header."""
    return JSONResponse(
        {"error": {"code": code, "message": message}},
        status_code=status,
        headers={"x-ms-error-code": code, **(headers or {})},
    )


def api_version(query: Any, allowed: tuple[str, ...], route: str) -> str:
    version = query.get("api-version")
    if not version:
        raise BadRequest(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
    if version not in ALL_VERSIONS:
        raise BadRequest(
            400,
            "UnsupportedApiVersion",
            f"api-version {version!r} is not supported; supported: {', '.join(ALL_VERSIONS)}.",
        )
    if version not in allowed:
        raise BadRequest(
            404,
            "NotFound",
            f"{route} does not exist at api-version {version}; it is served at {', '.join(allowed)}.",
        )
    return version


def identifier(query: Any) -> str:
    value = query.get("identifier")
    if not value:
        raise BadRequest(400, "MissingIdentifier", "The identifier query parameter is required.")
    if not IDENTIFIER.fullmatch(value):
        raise BadRequest(
            400,
            "InvalidIdentifier",
            "The identifier must be 4..128 letters, digits or punctuation such as - and _.",
        )
    return value


def _timeout(value: Any, default: int | None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TIMEOUT_S:
        raise BadRequest(400, "InvalidRequest", f"timeoutInSeconds must be an integer in 1..{MAX_TIMEOUT_S}.")
    return value


def legacy_request(body: Any) -> tuple[str, int]:
    """(code, timeout) from a `code/execute` body."""
    properties = body.get("properties") if isinstance(body, dict) else None
    if not isinstance(properties, dict):
        raise BadRequest(
            400,
            "InvalidRequest",
            'This api-version expects {"properties": {"codeInputType": "inline", '
            '"executionType": "synchronous", "code": "..."}}.',
        )
    if str(properties.get("codeInputType", "")).lower() != "inline":
        raise BadRequest(400, "InvalidRequest", "properties.codeInputType must be 'inline'.")
    if str(properties.get("executionType", "")).lower() != "synchronous":
        raise BadRequest(400, "InvalidRequest", "properties.executionType must be 'synchronous'.")
    code = properties.get("code")
    if not isinstance(code, str):
        raise BadRequest(400, "InvalidRequest", "properties.code must be a string.")
    return code, _timeout(properties.get("timeoutInSeconds"), DEFAULT_LEGACY_TIMEOUT_S)


def executions_request(body: Any) -> tuple[str, str, int]:
    """(code, execution type, timeout) from an `executions` body; all four fields are required."""
    if not isinstance(body, dict) or "properties" in body:
        raise BadRequest(
            400,
            "InvalidRequest",
            'This api-version expects {"codeInputType": "Inline", "executionType": "Synchronous", '
            '"code": "...", "timeoutInSeconds": 60}.',
        )
    missing = [k for k in ("codeInputType", "executionType", "code", "timeoutInSeconds") if k not in body]
    if missing:
        raise BadRequest(400, "InvalidRequest", f"Missing required field(s): {', '.join(missing)}.")
    if body["codeInputType"] not in ("Inline", "InlineText", "InlineBase64"):
        raise BadRequest(400, "InvalidRequest", "codeInputType must be 'Inline', 'InlineText' or 'InlineBase64'.")
    if body["executionType"] not in ("Synchronous", "Asynchronous"):
        raise BadRequest(400, "InvalidRequest", "executionType must be 'Synchronous' or 'Asynchronous'.")
    code = body["code"]
    if not isinstance(code, str):
        raise BadRequest(400, "InvalidRequest", "code must be a string.")
    if body["codeInputType"] == "InlineBase64":
        try:
            code = base64.b64decode(code, validate=True).decode()
        except ValueError:
            raise BadRequest(400, "InvalidRequest", "code is not valid base64-encoded UTF-8.") from None
    return code, body["executionType"], _timeout(body["timeoutInSeconds"], None)


def operation_id(value: str | None) -> str | None:
    """The `operation-id` header, or a 400 naming what is allowed; None when it is absent or empty."""
    if not value:
        return None
    if OPERATION_ID.fullmatch(value) is None:
        raise BadRequest(
            400,
            "InvalidRequest",
            f"The operation-id header ({len(value)} characters) must be 1 to 128 printable ASCII characters "
            "without spaces, such as a GUID.",
        )
    return value


def legacy_result(outcome: Outcome, result_key: str = "executionResult") -> dict[str, Any]:
    """`result_key`: NodeLTS answers `executionResult` (the tutorial), Azure's Python interpreter `result`."""
    return {
        "properties": {
            "status": "Success" if outcome.succeeded else "Failure",
            "stdout": outcome.stdout,
            "stderr": outcome.stderr,
            result_key: outcome.result,
            "executionTimeInMilliseconds": outcome.milliseconds,
        }
    }


def execution_resource(
    execution_id: str, identifier_: str, execution_type: str, outcome: Outcome | None
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "id": execution_id,
        "identifier": identifier_,
        "executionType": execution_type,
        "status": "Running",
    }
    if outcome is None:
        return resource
    resource["status"] = "Succeeded" if outcome.succeeded else "Failed"
    resource["result"] = {
        "stdout": outcome.stdout,
        "stderr": outcome.stderr,
        "executionResult": outcome.result,
        "executionTimeInMilliseconds": outcome.milliseconds,
    }
    if not outcome.succeeded:
        lines = outcome.stderr.strip().splitlines() or ["The code failed."]
        # A Python traceback names the error on its last line; a JavaScript stack on its first.
        message = lines[-1] if lines[0].startswith("Traceback (most recent call last)") else lines[0]
        resource["error"] = {"error": {"code": "ExecutionFailed", "message": message}}
    return resource


def timestamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def session_resource(session: Session, cooldown_s: float) -> dict[str, Any]:
    """The session resource of 2025-02-02-preview and later."""
    return {
        "identifier": session.identifier,
        "createdAt": timestamp(session.created_at),
        "lastAccessedAt": timestamp(session.last_used),
        "expireAt": timestamp(session.last_used + cooldown_s),
        "etag": f'"{session.pid}"',
    }
