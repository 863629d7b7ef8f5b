"""Shell pools' commands: `POST executions` (2025-02-02-preview and later) with a command, not code.

The body is Microsoft's shell image spec's (`code-interpreter/shell/api-spec-shell.md` in
Azure-Samples/container-apps-dynamic-sessions-samples): exactly one of `shellCommand` (a command line) and
`execCommandAndArgs` (an executable and its arguments), `timeoutInSeconds`, and optionally `shellType` and
`outputStreamsMaxLength`. It never holds `codeInputType` or `executionType`: a Shell pool refuses them.
"""

import re
from collections.abc import Sequence
from typing import Any

from dynamic_sessions.client.errors import ConfigurationError, UnexpectedResponse
from dynamic_sessions.client.results import CommandResult

SHELL_TYPES = ("bash", "sh")
"""What `shellType` may name; the pool runs `bash` when the body names none."""
EXECUTE_PATH = "executions"
_INTEGER = re.compile(r"-?[0-9]+")


def command_body(
    command: str | Sequence[str],
    timeout_s: int,
    shell_type: str | None,
    output_max_length: int | None,
    most_s: int,
) -> dict[str, Any]:
    """The request body; a `ConfigurationError` naming every bad argument at once (`most_s`: the longest timeout)."""
    problems = []
    body: dict[str, Any] = {}
    if isinstance(command, str):
        if "\0" in command:
            problems.append("command may not contain a NUL character")
        body["shellCommand"] = command
    elif isinstance(command, Sequence) and command and all(isinstance(a, str) for a in command):
        if any("\0" in a for a in command):
            problems.append("command's arguments may not contain a NUL character")
        if shell_type is not None:
            problems.append(
                f"shell_type={shell_type!r} applies to a string command; a list runs its executable without a shell"
            )
        body["execCommandAndArgs"] = list(command)
    else:
        problems.append(
            f"command {command!r} is not allowed: a string (a command line the shell runs) or a non-empty "
            'list of strings (an executable and its arguments, such as ["ls", "-la"])'
        )
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int) or not 1 <= timeout_s <= most_s:
        problems.append(f"timeout_s={timeout_s!r} is not allowed: 1..{most_s} seconds")
    body["timeoutInSeconds"] = timeout_s
    if shell_type is not None:
        if shell_type not in SHELL_TYPES:
            problems.append(f"shell_type={shell_type!r} is not allowed: one of {', '.join(SHELL_TYPES)}")
        body["shellType"] = shell_type
    if output_max_length is not None:
        if isinstance(output_max_length, bool) or not isinstance(output_max_length, int) or output_max_length < 1:
            problems.append(
                f"output_max_length={output_max_length!r} is not allowed: a number of characters, 1 or more"
            )
        body["outputStreamsMaxLength"] = output_max_length
    if problems:
        raise ConfigurationError("; ".join(problems))
    return body


def _integer(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    return None


def parse_command(body: Any) -> CommandResult:
    """The answer of a Shell pool, `exitCode` and all; one whose `status` is the exit code is read as such."""
    status = body.get("status") if isinstance(body, dict) else None
    if not isinstance(status, str | int) or isinstance(status, bool):
        raise UnexpectedResponse("the answer has no 'status' (is the pool a Shell pool, and --api-version right?)")
    result = body.get("result") or {}
    if not isinstance(result, dict):
        raise UnexpectedResponse("the answer's 'result' is not an object")
    # The spec answers `exitCode` beside a Succeeded/Failed status; LangChain's SessionsBashTool reads the exit
    # code from `status` instead, which its maintainers report as a string such as "0" on a live pool.
    status_code = _integer(status)
    exit_code = _integer(body.get("exitCode"))
    if exit_code is None:
        exit_code = status_code
    return CommandResult(
        succeeded=exit_code == 0 and (status == "Succeeded" or status_code is not None),
        status=str(status),
        exit_code=exit_code,
        error_name=str(body.get("errorName") or ""),
        error_message=str(body.get("errorMessage") or ""),
        stdout=result.get("stdout") or "",
        stderr=result.get("stderr") or "",
        execution_ms=result.get("executionTimeInMilliseconds"),
        raw=body,
    )
