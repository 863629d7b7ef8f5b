"""What a call to the pool returns, the same whichever contract was spoken."""

from dataclasses import dataclass, field
from typing import Any


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
