"""What a call to the pool returns, the same whichever contract was spoken."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dynamic_sessions.client.errors import UnexpectedResponse


@dataclass(frozen=True)
class ExecutionResult:
    """One execution's outcome, the same shape for both contracts."""

    succeeded: bool
    """Whether the code ran to its end: test this, not `status`, whose words differ between contracts."""
    status: str
    """The service's own word: Success/Failure (code/execute) or Succeeded/Failed/... (executions)."""
    stdout: str
    """What the code printed (console.log/info; print)."""
    stderr: str
    """What it wrote to stderr, the error of a failed execution included."""
    execution_result: Any
    """The value of the code's last expression, as the pool answered it."""
    execution_ms: int | None
    """The pool's own timing of the execution, when it reports one."""
    raw: dict[str, Any] = field(repr=False)
    """The whole answer, as the pool sent it."""


@dataclass(frozen=True)
class CommandResult:
    """One shell command's outcome in a Shell pool (`run_command`)."""

    succeeded: bool
    """Whether the command exited 0 and the pool's `status` says so (`Succeeded`, or the exit code itself:
    see `exit_code`). A command that exits non-zero, is killed or times out is not an error, only this False."""
    status: str
    """The pool's own word: `Succeeded` or `Failed` as Microsoft's shell image spec answers; `NotStarted` and
    `Running` are polled until done."""
    exit_code: int | None
    """The command's exit code: the answer's `exitCode`; when it has none, a numeric `status` (LangChain's
    SessionsBashTool reads the exit code from `status`, which its maintainers report as a string such as "0"
    on a live Shell pool). 128 + N when signal N killed it, -1 when it could not start or ran out of time;
    None when the answer holds neither."""
    error_name: str
    """Why the pool could not run it to its end, such as `ExecutionTimeout` or `CommandStartError`; else empty."""
    error_message: str
    """The pool's words for `error_name`; else empty."""
    stdout: str
    """What the command wrote to stdout, cut to the pool's `outputStreamsMaxLength`."""
    stderr: str
    """What it wrote to stderr, cut alike."""
    execution_ms: int | None
    """The pool's own timing of the command, when it reports one."""
    raw: dict[str, Any] = field(repr=False)
    """The whole answer, as the pool sent it."""


@dataclass(frozen=True)
class FileInfo:
    """A file in a session's /mnt/data."""

    name: str
    size: int | None
    """In bytes, when the pool reports it."""
    last_modified: str | None
    """An ISO 8601 time, as the pool reports it."""


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
