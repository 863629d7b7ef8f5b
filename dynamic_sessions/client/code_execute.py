"""The tutorial's contract, `POST code/execute`: its bodies and answers (`contracts.CODE_EXECUTE_CONTRACT`
holds them with its routes)."""

from typing import Any
from urllib.parse import quote

from dynamic_sessions.client.errors import UnexpectedResponse
from dynamic_sessions.client.results import ExecutionResult, FileInfo, file_list


def content_path(name: str) -> str:
    return f"files/content/{quote(name, safe='')}"


def execute_body(code: str, timeout_s: int) -> dict[str, Any]:
    return {
        "properties": {
            "codeInputType": "inline",
            "executionType": "synchronous",
            "code": code,
            "timeoutInSeconds": timeout_s,
        }
    }


def _properties(body: Any) -> dict[str, Any]:
    properties = body.get("properties") if isinstance(body, dict) else None
    if not isinstance(properties, dict):
        raise UnexpectedResponse("the answer has no 'properties' object (is --api-version right?)")
    return properties


def parse_execution(body: Any) -> ExecutionResult:
    properties = _properties(body)
    status = properties.get("status")
    if not isinstance(status, str):
        raise UnexpectedResponse("the answer has no properties.status")
    # A live service has been seen answering `result` where the spec says `executionResult`.
    value = properties.get("executionResult", properties.get("result"))
    return ExecutionResult(
        succeeded=status == "Success",
        status=status,
        stdout=properties.get("stdout") or "",
        stderr=properties.get("stderr") or "",
        execution_result=value,
        execution_ms=properties.get("executionTimeInMilliseconds"),
        raw=body,
    )


def parse_file(entry: Any) -> FileInfo:
    properties = _properties(entry)
    return FileInfo(properties.get("filename", ""), properties.get("size"), properties.get("lastModifiedTime"))


def parse_list(body: Any) -> list[FileInfo]:
    return file_list(body, parse_file)


def parse_upload(body: Any) -> FileInfo:
    # The upload answers with a list holding the stored file.
    files = parse_list(body)
    if not files:
        raise UnexpectedResponse("the upload answer lists no file")
    return files[0]
