"""What a call to the pool returns, the same whichever contract was spoken."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dynamic_sessions.client.errors import UnexpectedResponse


@dataclass(frozen=True)
class ExecutionResult:
    succeeded: bool
    status: str
    """The service's own word: Success/Failure (code/execute) or Succeeded/Failed/... (executions)."""
    stdout: str
    stderr: str
    execution_result: Any
    execution_ms: int | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class FileInfo:
    name: str
    size: int | None
    last_modified: str | None


@dataclass(frozen=True)
class SessionInfo:
    """A live session of the pool (2025-02-02-preview and later)."""

    identifier: str
    created_at: str | None
    last_accessed_at: str | None
    expire_at: str | None
    """When the session ends unless used again: the pool's cooldown after its last use."""
    etag: str | None


def file_list(body: Any, parse_file: Callable[[Any], FileInfo]) -> list[FileInfo]:
    """Both contracts list files as `{"value": [entry, ...]}`; only the entries differ."""
    values = body.get("value") if isinstance(body, dict) else None
    if not isinstance(values, list):
        raise UnexpectedResponse("the file list has no 'value' array")
    return [parse_file(v) for v in values]
