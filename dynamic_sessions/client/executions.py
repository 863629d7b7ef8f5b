"""The current contract, `POST executions`: its bodies, answers and routes by name (`contracts.EXECUTIONS_CONTRACT`
holds them for the client), and the session routes of 2025-02-02-preview and later."""

from typing import Any
from urllib.parse import quote

from dynamic_sessions.client.errors import UnexpectedResponse
from dynamic_sessions.client.results import ExecutionResult, FileInfo, SessionInfo, file_list

SESSION_PATH = "session"
LIST_SESSIONS_PATH = "listSessions"


def content_path(name: str) -> str:
    return f"files/{quote(name, safe='')}/content"


def file_path(name: str) -> str:
    return f"files/{quote(name, safe='')}"


def execution_path(execution_id: str) -> str:
    return f"executions/{quote(execution_id, safe='')}"


def execute_body(code: str, timeout_s: int) -> dict[str, Any]:
    # The spec marks all four fields required.
    return {"codeInputType": "Inline", "executionType": "Synchronous", "code": code, "timeoutInSeconds": timeout_s}


def parse_execution(body: Any) -> ExecutionResult:
    status = body.get("status") if isinstance(body, dict) else None
    if not isinstance(status, str):
        raise UnexpectedResponse("the answer has no 'status' (is --api-version right?)")
    result = body.get("result") or {}
    if not isinstance(result, dict):
        raise UnexpectedResponse("the answer's 'result' is not an object")
    stderr = result.get("stderr") or ""
    error = (body.get("error") or {}).get("error") if isinstance(body.get("error"), dict) else None
    if not stderr and isinstance(error, dict) and error.get("message"):
        stderr = str(error["message"])
    return ExecutionResult(
        succeeded=status == "Succeeded",
        status=status,
        stdout=result.get("stdout") or "",
        stderr=stderr,
        execution_result=result.get("executionResult", result.get("result")),
        execution_ms=result.get("executionTimeInMilliseconds"),
        raw=body,
    )


def parse_file(entry: Any) -> FileInfo:
    if not isinstance(entry, dict) or "name" not in entry:
        raise UnexpectedResponse("a file entry has no 'name'")
    return FileInfo(entry["name"], entry.get("sizeInBytes"), entry.get("lastModifiedAt"))


def parse_list(body: Any) -> list[FileInfo]:
    return file_list(body, parse_file)


def parse_upload(body: Any) -> FileInfo:
    return parse_file(body)


def parse_session(entry: Any) -> SessionInfo:
    if not isinstance(entry, dict) or not isinstance(entry.get("identifier"), str):
        raise UnexpectedResponse("a session has no 'identifier'")
    return SessionInfo(
        identifier=entry["identifier"],
        created_at=entry.get("createdAt"),
        last_accessed_at=entry.get("lastAccessedAt"),
        expire_at=entry.get("expireAt"),
        etag=entry.get("etag"),
    )


def parse_session_page(body: Any) -> tuple[list[SessionInfo], str | None]:
    """One page of `GET /listSessions`: its sessions and the link to the next page, if any."""
    sessions = body.get("sessions") if isinstance(body, dict) else None
    if not isinstance(sessions, list):
        raise UnexpectedResponse("the session list has no 'sessions' array")
    next_link = body.get("nextLink")
    return [parse_session(s) for s in sessions], next_link if isinstance(next_link, str) and next_link else None
