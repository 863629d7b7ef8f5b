"""The pool's MCP server (`--mcp`): JSON-RPC 2.0 over HTTP POST, as Azure's platform-managed MCP server answers
Microsoft's tutorials `sessions-tutorial-shell-mcp` and `sessions-tutorial-python-mcp` (preview, 2026-02).

One more contract over the same pool: an `environmentId` that `launchShell` hands out is a session identifier
of the pool, allocated on its first command (capacity, cooldown and release as for the data plane). Only
environment ids this server issued are accepted, so an MCP caller cannot reach a data-plane session by naming
its identifier. Auth is the `x-ms-apikey` header, compared in constant time and never logged.

The server keeps no MCP session (no `Mcp-Session-Id`): each POST is answered with one JSON body, which the
streamable-HTTP transport of MCP clients accepts; GET (a server-sent event stream) answers 405, as the
transport allows a server that offers none. It is not the MCP SDK's server transport: that one answers 406
to a POST whose Accept header does not name application/json (curl sends `*/*`) and refuses an `initialize`
without params, so the tutorials' own requests would fail against it.
"""

import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from dynamic_sessions.emulator.api import shell
from dynamic_sessions.emulator.api.bodies import json_body
from dynamic_sessions.emulator.api.contract import BadRequest, JSONResponse
from dynamic_sessions.emulator.sessions.commands import CommandOutcome, run_command
from dynamic_sessions.emulator.sessions.pool import PoolFull
from dynamic_sessions.emulator.sessions.session import QueueFull, SessionEnded

if TYPE_CHECKING:
    from dynamic_sessions.emulator.api.app import EmulatorState

PATH = "/mcp"
KEY_HEADER = "x-ms-apikey"
PROTOCOL_VERSION = "2025-03-26"
SERVER_NAME = "Microsoft Container Apps MCP Server"
# Environment ids issued and not yet forgotten; past this many, those without a live session are dropped first.
MAX_ENVIRONMENTS = 10_000
PYTHON_OUTPUT_MAX_LENGTH = 4096
# Characters of a caller's value an error message repeats.
SHOWN_CHARS = 80
# JSON-RPC 2.0 error codes.
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, SERVER_ERROR = -32700, -32600, -32601, -32602, -32000

ENVIRONMENT_ID = {"type": "string", "description": "The environmentId that launchShell returned."}
TOOLS = {
    "launchShell": {
        "name": "launchShell",
        "description": "Creates a new shell environment and returns an environmentId",
        "inputSchema": {"type": "object", "properties": {}},
    },
    "runShellCommandInRemoteEnvironment": {
        "name": "runShellCommandInRemoteEnvironment",
        "description": "Executes a shell command in an existing environment",
        "inputSchema": {
            "type": "object",
            "properties": {
                "environmentId": ENVIRONMENT_ID,
                "shellCommand": {"type": "string", "description": "A command line, run by bash."},
                "execCommandAndArgs": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "An executable and its arguments, run without a shell (exact argument escaping).",
                },
            },
            "required": ["environmentId"],
        },
    },
    "runPythonCodeInRemoteEnvironment": {
        "name": "runPythonCodeInRemoteEnvironment",
        "description": "Executes Python code in an existing environment",
        "inputSchema": {
            "type": "object",
            "properties": {"environmentId": ENVIRONMENT_ID, "pythonCode": {"type": "string"}},
            "required": ["environmentId", "pythonCode"],
        },
    },
}
# Per container type, as the tutorials list them. Nothing documents the MCP server of NodeLTS pools: they get
# the two tools every documented pool has, and no JavaScript tool.
TOOLS_OF = {
    "Shell": ("launchShell", "runShellCommandInRemoteEnvironment"),
    "PythonLTS": ("launchShell", "runPythonCodeInRemoteEnvironment", "runShellCommandInRemoteEnvironment"),
    "NodeLTS": ("launchShell", "runShellCommandInRemoteEnvironment"),
}


def new_key() -> str:
    """256 random bits as hex: a key that can start with `-` (as URL-safe base64 can) is read as a flag when
    passed on, as in `python -m smoke --mcp-api-key KEY`."""
    return secrets.token_hex(32)


def _version() -> str:
    from importlib import metadata  # here: ~12 ms of every emulator's start, MCP server or not

    try:
        return metadata.version("dynamic-sessions")
    except metadata.PackageNotFoundError:
        return "0"


@dataclass
class McpServer:
    """The MCP server's own state: its key and the environment ids it issued (id -> when last used)."""

    key: str
    environments: dict[str, float] = field(default_factory=dict)

    def accepts(self, presented: str | None) -> bool:
        """Compared as digests in constant time: neither the key's characters nor its length show in timing."""
        if presented is None:
            return False
        given = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        return hmac.compare_digest(given, hashlib.sha256(self.key.encode()).digest())


class RpcError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _error(message_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": message_id, "error": {"code": error.code, "message": error.message}}


def _shown(value: Any) -> str:
    """A caller's value in an error message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."


def _foreign_origin(origin: str | None) -> bool:
    """A browser page from elsewhere (MCP's streamable HTTP asks local servers to check Origin: DNS rebinding)."""
    if origin is None:
        return False
    host = urlsplit(origin).hostname or ""
    return host not in ("localhost", "127.0.0.1", "::1")


async def endpoint(request: Request, state: "EmulatorState") -> Response:
    if _foreign_origin(request.headers.get("origin")):
        return JSONResponse(
            _error(None, RpcError(INVALID_REQUEST, "Requests from web pages of other origins are refused.")),
            status_code=403,
        )
    if request.method != "POST":
        return Response(status_code=405, headers={"Allow": "POST"})
    try:
        body = await json_body(request)
    except BadRequest as bad:
        if bad.status != 400:
            raise
        return JSONResponse(_error(None, RpcError(PARSE_ERROR, bad.message)), status_code=400)
    if isinstance(body, list):
        if not body:
            return JSONResponse(_error(None, RpcError(INVALID_REQUEST, "An empty batch.")), status_code=400)
        answers = [a for a in [await _answer(m, state) for m in body] if a is not None]
        return JSONResponse(answers) if answers else Response(status_code=202)
    answer = await _answer(body, state)
    return JSONResponse(answer) if answer is not None else Response(status_code=202)


async def _answer(message: Any, state: "EmulatorState") -> dict[str, Any] | None:
    """The response to one JSON-RPC message; None for a notification or a client's response."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return _error(None, RpcError(INVALID_REQUEST, 'A JSON-RPC 2.0 message is an object with "jsonrpc": "2.0".'))
    if "method" not in message:
        return None  # a response to a server request; this server sends none
    message_id = message.get("id")
    if "id" not in message:
        return None  # a notification (notifications/initialized, notifications/cancelled)
    if not isinstance(message_id, str | int) or isinstance(message_id, bool):
        return _error(None, RpcError(INVALID_REQUEST, "The id must be a string or an integer."))
    try:
        result = await _dispatch(str(message["method"]), message.get("params"), state)
    except RpcError as error:
        return _error(message_id, error)
    return {"jsonrpc": "2.0", "id": message_id, "result": result}


async def _dispatch(method: str, params: Any, state: "EmulatorState") -> dict[str, Any]:
    if params is not None and not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "params must be an object.")
    params = params or {}
    container_type = state.pool.launcher.runtime.container_type
    if method == "initialize":
        return {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {"tools": {"call": True, "list": True}},
            "serverInfo": {"name": SERVER_NAME, "version": _version()},
        }
    if method == "ping":
        return {}
    if method == "tools/list":
        return {"tools": [TOOLS[name] for name in TOOLS_OF[container_type]]}
    if method == "tools/call":
        name = params.get("name")
        if name not in TOOLS_OF[container_type]:
            offered = ", ".join(TOOLS_OF[container_type])
            raise RpcError(INVALID_PARAMS, f"Unknown tool {_shown(name)}; this {container_type} pool offers {offered}.")
        arguments = params.get("arguments", {})
        if not isinstance(arguments, dict):
            raise RpcError(INVALID_PARAMS, "arguments must be an object.")
        return await _call(str(name), arguments, state)
    raise RpcError(METHOD_NOT_FOUND, f"Method not found: {_shown(method)}.")


async def _call(name: str, arguments: dict[str, Any], state: "EmulatorState") -> dict[str, Any]:
    server = state.mcp
    assert server is not None
    if name == "launchShell":
        return _tool_result({"environmentId": _issue(server, state)}, failed=False)
    environment = arguments.get("environmentId")
    if not isinstance(environment, str) or environment not in server.environments:
        raise RpcError(
            INVALID_PARAMS,
            f"Unknown environmentId {_shown(environment)}: call launchShell first, and use the id it returned.",
        )
    if name == "runPythonCodeInRemoteEnvironment":
        code = arguments.get("pythonCode")
        if not isinstance(code, str):
            raise RpcError(INVALID_PARAMS, "pythonCode must be a string of Python code.")
        return await _run_python(environment, code, state)
    command_arguments = {k: v for k, v in arguments.items() if k != "environmentId"}
    try:
        command = shell.command_from(command_arguments, state.output_limit)
    except BadRequest as bad:
        raise RpcError(INVALID_PARAMS, bad.message) from None
    session, release = await _session(environment, state, len(json.dumps(command.request())))
    try:
        outcome = await run_command(session, state.pool.launcher.runtime.container_type, command)
    except SessionEnded as ended:
        await state.pool.end(environment, only=session)
        outcome = shell.ended_outcome(ended)
    finally:
        release()
    return _tool_result(_command_content(outcome), failed=not outcome.succeeded)


def _issue(server: McpServer, state: "EmulatorState") -> str:
    if len(server.environments) >= MAX_ENVIRONMENTS:
        _forget_idle(server, state)
    if len(server.environments) >= MAX_ENVIRONMENTS:
        raise RpcError(SERVER_ERROR, f"{MAX_ENVIRONMENTS} environments are in use; end some, or wait for cooldown.")
    environment = str(uuid.uuid4())
    server.environments[environment] = time.time()
    return environment


def _forget_idle(server: McpServer, state: "EmulatorState") -> None:
    """Drops the ids whose sessions are gone and that no one used for a cooldown period."""
    deadline = time.time() - state.pool.settings.cooldown_s
    for environment, used in list(server.environments.items()):
        if used < deadline and environment not in state.pool.sessions:
            del server.environments[environment]


async def _session(environment: str, state: "EmulatorState", code_size: int) -> tuple[Any, Callable[[], None]]:
    """The environment's session, admitted to its queue as a data-plane execution is (the same per-session limit),
    and the callable that takes the call out of the queue again."""
    assert state.mcp is not None
    state.mcp.environments[environment] = time.time()
    try:
        return await state.admit(environment, code_size)
    except PoolFull as full:
        raise RpcError(SERVER_ERROR, f"{full}; retry when a session's cooldown ends.") from None
    except QueueFull as full:
        raise RpcError(SERVER_ERROR, f"{full}; retry when one of its calls has finished.") from None
    except SessionEnded as ended:
        raise RpcError(SERVER_ERROR, f"No session could be started: {ended}.") from None


async def _run_python(environment: str, code: str, state: "EmulatorState") -> dict[str, Any]:
    session, release = await _session(environment, state, len(code.encode("utf-8", "surrogatepass")))
    try:
        outcome = await session.execute(code, shell.DEFAULT_TIMEOUT_S, PYTHON_OUTPUT_MAX_LENGTH)
    except SessionEnded as ended:
        await state.pool.end(environment, only=session)
        message = f"Error: {ended}; the next call with this environmentId starts a new session\n"
        content = {"status": "Failed", "stdout": "", "stderr": message, "result": "", "executionTimeInMilliseconds": 0}
        return _tool_result(content, failed=True)
    finally:
        release()
    content = {
        "status": "Succeeded" if outcome.succeeded else "Failed",
        "stdout": outcome.stdout,
        "stderr": outcome.stderr,
        "result": outcome.result,
        "executionTimeInMilliseconds": outcome.milliseconds,
    }
    return _tool_result(content, failed=not outcome.succeeded)


def _command_content(outcome: CommandOutcome) -> dict[str, Any]:
    return {
        "status": "Succeeded" if outcome.succeeded else "Failed",
        "exitCode": outcome.exit_code,
        "stdout": outcome.stdout,
        "stderr": outcome.stderr,
        "errorName": outcome.error_name,
        "errorMessage": outcome.error_message,
        "executionTimeInMilliseconds": outcome.milliseconds,
    }


def _tool_result(structured: dict[str, Any], failed: bool) -> dict[str, Any]:
    """`structuredContent` as Azure answers, and the same as text for clients that read `content` only."""
    text = json.dumps(structured, ensure_ascii=False)
    return {"content": [{"type": "text", "text": text}], "structuredContent": structured, "isError": failed}
