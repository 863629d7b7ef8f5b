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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette import responses

from dynamic_sessions import api_versions
from dynamic_sessions.azure_facts import MAX_EXECUTION_TIMEOUT_S
from dynamic_sessions.emulator.sessions.session import Outcome, Session

LEGACY_VERSIONS = api_versions.CODE_EXECUTE_VERSIONS
EXECUTIONS_VERSIONS = api_versions.EXECUTIONS_VERSIONS
SESSION_VERSIONS = api_versions.SESSION_API_VERSIONS
ALL_VERSIONS = api_versions.SUPPORTED_API_VERSIONS
MAX_TIMEOUT_S = MAX_EXECUTION_TIMEOUT_S
DEFAULT_LEGACY_TIMEOUT_S = 220
# The specs' identifier pattern (2024-10-02-preview and later): 4..128 of these characters (fullmatch:
# `$` alone would let a trailing newline through).
# operation-id names an execution (GET /executions/{id}); clients send a GUID. Held to a size and to
# printable ASCII: it is kept in the session's history and in the resource's URL.
OPERATION_ID = re.compile(r"[\x21-\x7e]{1,128}")
IDENTIFIER = re.compile(r"""[a-zA-Z0-9_|}{\[\]:";'<>?/.,@#$%^&*()\-+=!~`]{4,128}""")
# The most a request may ask for (or the emulator's --output-max-length, when that is higher).
MAX_OUTPUT_STREAMS_MAX_LENGTH = 1024 * 1024


@dataclass(frozen=True)
class ExecutionOptions:
    """The optional request fields of Azure's interpreters (2025-10-02-preview spec, Python image spec)."""

    output_limit: int | None = None
    """`outputStreamsMaxLength`; None: the emulator's default."""
    empty_kernel: bool = False
    """`useEmptyKernel`: the interpreter without its preloaded packages."""
    jupyter_format: bool = False
    """`returnJupyterFormatExecutionResult`: the result as the kernel's Jupyter outputs."""


NO_OPTIONS = ExecutionOptions()


def render_json(content: Any) -> bytes:
    """`content` as compact UTF-8 JSON, as Starlette renders it, except that text UTF-8 cannot carry (a lone
    surrogate in session output, say) is sent as a JSON escape instead of failing the request."""
    try:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class JSONResponse(responses.JSONResponse):
    """Starlette's JSON response, rendered by `render_json`."""

    def render(self, content: Any) -> bytes:
        return render_json(content)


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


def execution_options(fields: dict[str, Any], where: str, most: int) -> ExecutionOptions:
    """The optional fields, every problem with them named at once; `most` caps `outputStreamsMaxLength`."""
    problems = []
    limit = fields.get("outputStreamsMaxLength")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= most):
        problems.append(f"{where}outputStreamsMaxLength is {json.dumps(limit)}; it must be an integer in 1..{most}")
    flags = {}
    for name in ("useEmptyKernel", "returnJupyterFormatExecutionResult"):
        value = fields.get(name, False)
        if not isinstance(value, bool):
            problems.append(f"{where}{name} is {json.dumps(value)}; it must be true or false")
        flags[name] = value is True
    if problems:
        raise BadRequest(400, "InvalidRequest", "; ".join(problems) + ".")
    return ExecutionOptions(limit, flags["useEmptyKernel"], flags["returnJupyterFormatExecutionResult"])


def legacy_request(body: Any, most: int = MAX_OUTPUT_STREAMS_MAX_LENGTH) -> tuple[str, int, ExecutionOptions]:
    """(code, timeout, options) from a `code/execute` body."""
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
    timeout = _timeout(properties.get("timeoutInSeconds"), DEFAULT_LEGACY_TIMEOUT_S)
    return code, timeout, execution_options(properties, "properties.", most)


def executions_request(body: Any, most: int = MAX_OUTPUT_STREAMS_MAX_LENGTH) -> tuple[str, str, int, ExecutionOptions]:
    """(code, execution type, timeout, options) from an `executions` body; the four fields the spec names
    are required."""
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
    timeout = _timeout(body["timeoutInSeconds"], None)
    return code, body["executionType"], timeout, execution_options(body, "", most)


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


def shown_result(outcome: Outcome, options: ExecutionOptions) -> Any:
    """executionResult: the value as JSON, or with `returnJupyterFormatExecutionResult` the kernel's outputs."""
    return outcome.outputs if options.jupyter_format else outcome.result


def legacy_result(
    outcome: Outcome, result_key: str = "executionResult", options: ExecutionOptions = NO_OPTIONS
) -> dict[str, Any]:
    """`result_key`: NodeLTS answers `executionResult` (the tutorial), Azure's Python interpreter `result`."""
    return {
        "properties": {
            "status": "Success" if outcome.succeeded else "Failure",
            "stdout": outcome.stdout,
            "stderr": outcome.stderr,
            result_key: shown_result(outcome, options),
            "executionTimeInMilliseconds": outcome.milliseconds,
        }
    }


def execution_resource(
    execution_id: str,
    identifier_: str,
    execution_type: str,
    outcome: Outcome | None,
    options: ExecutionOptions = NO_OPTIONS,
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
        "executionResult": shown_result(outcome, options),
        "executionTimeInMilliseconds": outcome.milliseconds,
    }
    if not outcome.succeeded:
        resource["error"] = {"error": {"code": "ExecutionFailed", "message": _error_message(outcome.stderr)}}
    return resource


# `Name: message`, as a JavaScript error's stack and nel's `ename: evalue` begin.
ERROR_LINE = re.compile(r"[A-Za-z_$][\w$]*: ")


def _error_message(stderr: str) -> str:
    """The line of stderr that names the error: a Python traceback's last, a JavaScript error's first
    `Name: message` line (after the source excerpt Node puts above a SyntaxError)."""
    lines = stderr.strip().splitlines() or ["The code failed."]
    if lines[0].startswith("Traceback (most recent call last)"):
        return lines[-1]
    return next((line for line in lines if ERROR_LINE.match(line)), lines[0])


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
