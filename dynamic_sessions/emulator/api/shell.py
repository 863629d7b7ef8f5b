"""The executions contract of Shell pools (2025-02-02-preview and later).

Request and answer as Microsoft's shell image spec has them (`code-interpreter/shell/api-spec-shell.md` in
Azure-Samples/container-apps-dynamic-sessions-samples): `shellCommand` or `execCommandAndArgs` (exactly one),
`shellType` bash (default) or sh, `timeoutInSeconds` (default 180), `outputStreamsMaxLength` (default 4096);
`{status, exitCode, errorName, errorMessage, result: {stdout, stderr, executionTimeInMilliseconds}}` back,
`exitCode` -1 with `errorName` ExecutionTimeout on a timeout. No `codeInputType` or `executionType`: a
code-interpreter body is refused with a 400 that says what a Shell pool takes.
"""

import json
import sys
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dynamic_sessions import api_versions
from dynamic_sessions.azure_facts import DEFAULT_OUTPUT_STREAMS_MAX_LENGTH
from dynamic_sessions.emulator.api import contract, hangup
from dynamic_sessions.emulator.api.bodies import json_body
from dynamic_sessions.emulator.api.contract import BadRequest, JSONResponse
from dynamic_sessions.emulator.api.state import EmulatorState
from dynamic_sessions.emulator.sessions.commands import CommandOutcome, ShellCommand, run_command
from dynamic_sessions.emulator.sessions.session import SessionEnded

SHELL_VERSIONS = api_versions.SHELL_API_VERSIONS
SHELL_TYPES = ("bash", "sh")
DEFAULT_TIMEOUT_S = 180
DEFAULT_OUTPUT_MAX_LENGTH = DEFAULT_OUTPUT_STREAMS_MAX_LENGTH
CODE_INTERPRETER_FIELDS = ("code", "codeInputType", "executionType", "properties")
EXAMPLE = '{"shellCommand": "ls -la"} or {"execCommandAndArgs": ["ls", "-la"]}'


def command_from(arguments: Any, output_ceiling: int) -> ShellCommand:
    """The command in a Shell executions body (or MCP tool arguments); every problem at once in one 400."""
    if not isinstance(arguments, dict):
        raise BadRequest(400, "InvalidRequest", f"A shell command is a JSON object: {EXAMPLE}.")
    problems = []
    interpreter_fields = [f for f in CODE_INTERPRETER_FIELDS if f in arguments]
    if interpreter_fields:
        problems.append(
            f"{', '.join(interpreter_fields)}: fields of code-interpreter pools, which a shell command does not take; "
            f"send {EXAMPLE}"
        )
    shell_command = arguments.get("shellCommand")
    exec_args = arguments.get("execCommandAndArgs")
    if shell_command is None and exec_args is None:
        if not interpreter_fields:
            problems.append(
                "no command provided in the request, at least one of the 'shellCommand' or "
                "'execCommandAndArgs' fields should be provided"
            )
    elif shell_command is not None and exec_args is not None:
        problems.append("shellCommand and execCommandAndArgs were both given; send exactly one")
    if shell_command is not None and not isinstance(shell_command, str):
        problems.append(f"shellCommand must be a string, not {type(shell_command).__name__}")
    if exec_args is not None and not (
        isinstance(exec_args, list) and exec_args and all(isinstance(a, str) and "\0" not in a for a in exec_args)
    ):
        problems.append('execCommandAndArgs must be a non-empty array of strings, e.g. ["ls", "-la"]')
    if isinstance(shell_command, str) and "\0" in shell_command:
        problems.append("shellCommand may not contain a NUL character")
    shell_type = arguments.get("shellType", "bash")
    if shell_type not in SHELL_TYPES:
        problems.append(f"shellType {shell_type!r} is not one of {', '.join(SHELL_TYPES)}")
    timeout = _integer(arguments, "timeoutInSeconds", DEFAULT_TIMEOUT_S, contract.MAX_TIMEOUT_S, problems)
    limit = _integer(arguments, "outputStreamsMaxLength", DEFAULT_OUTPUT_MAX_LENGTH, output_ceiling, problems)
    if problems:
        raise BadRequest(400, "InvalidRequest", "; ".join(problems) + ".")
    return ShellCommand(
        shell_command=shell_command,
        exec_command_and_args=tuple(exec_args) if exec_args is not None else None,
        shell_type=shell_type,
        timeout_s=timeout,
        output_max_length=limit,
    )


def _integer(arguments: dict[str, Any], name: str, default: int, most: int, problems: list[str]) -> int:
    value = arguments.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        problems.append(f"{name} must be an integer in 1..{most}, got {value!r}")
        return default
    return value


def execution_resource(execution_id: str, identifier: str, outcome: CommandOutcome) -> dict[str, Any]:
    return {
        "id": execution_id,
        "identifier": identifier,
        "status": "Succeeded" if outcome.succeeded else "Failed",
        "exitCode": outcome.exit_code,
        "errorName": outcome.error_name,
        "errorMessage": outcome.error_message,
        "result": {
            "stdout": outcome.stdout,
            "stderr": outcome.stderr,
            "executionTimeInMilliseconds": outcome.milliseconds,
        },
    }


def ended_outcome(ended: SessionEnded) -> CommandOutcome:
    message = f"{ended}; the next call with this identifier starts a new session"
    return CommandOutcome(-1, "", f"Error: {message}\n", "SessionEnded", message, 0)


async def create_execution(request: Request, state: EmulatorState) -> Response:
    """POST /executions of a Shell pool, held to the same per-session queue, history and operation-id bounds as
    the code interpreter's."""
    contract.api_version(request.query_params, SHELL_VERSIONS, "executions (Shell pools)")
    identifier = contract.identifier(request.query_params)
    command = command_from(await json_body(request), state.output_limit)
    execution_id = contract.operation_id(request.headers.get("operation-id")) or str(uuid.uuid4())
    session, release = await state.admit(identifier, sys.getsizeof(json.dumps(command.request())))
    try:
        run = run_command(session, "Shell", command)
        outcome = await hangup.while_connected(request, state, identifier, session, run)
    except SessionEnded as ended:
        await state.pool.end(identifier, only=session)
        outcome = ended_outcome(ended)
    finally:
        release()
    resource = execution_resource(execution_id, identifier, outcome)
    if session.alive:
        state.history.keep(session.executions, execution_id, resource)
    return JSONResponse(resource)
