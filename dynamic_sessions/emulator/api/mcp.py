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

Each POST is bounded as `batches` says: a batch's size, and the answer bytes it and every POST in progress may
hold, each answer kept only as the JSON bytes it is sent as (a tool's rendered in a worker thread when large, as
the data plane parses large answers). A client that hangs up is noticed between messages and while a tool call
runs: what is left of its batch is not run, a call waiting its turn leaves the session's queue, and a running one
is killed with its session, as the watchdog's timeout kills one (docs/sandbox.md says why).
"""

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

import dynamic_sessions
from dynamic_sessions.azure_facts import MCP_KEY_HEADER
from dynamic_sessions.emulator.api import batches, hangup, shell
from dynamic_sessions.emulator.api.bodies import json_body
from dynamic_sessions.emulator.api.contract import BadRequest, JSONResponse, render_json
from dynamic_sessions.emulator.api.mcp_state import McpServer
from dynamic_sessions.emulator.api.state import EmulatorState
from dynamic_sessions.emulator.sessions.commands import CommandOutcome, run_command
from dynamic_sessions.emulator.sessions.pool import PoolFull
from dynamic_sessions.emulator.sessions.session import QueueFull, Session, SessionEnded

PATH = "/mcp"
KEY_HEADER = MCP_KEY_HEADER
PROTOCOL_VERSION = "2025-03-26"
SERVER_NAME = "Microsoft Container Apps MCP Server"
# Characters of a caller's value an error message repeats.
SHOWN_CHARS = 80
# Characters of a tool's output up to which its answer is rendered on the event loop: less than the hop to a thread.
INLINE_RENDER_CHARS = 64 * 1024
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


@dataclass(frozen=True)
class ToolResult:
    """A tool's answer, rendered off the event loop: its text copy doubles what its output weighs."""

    structured: dict[str, Any]
    failed: bool

    @property
    def small(self) -> bool:
        """Whether its strings are short enough to render on the event loop; a structured result never is."""
        size = 0
        for value in self.structured.values():
            if isinstance(value, dict | list):
                return False
            size += len(value) if isinstance(value, str) else 0
        return size <= INLINE_RENDER_CHARS

    def as_json(self) -> dict[str, Any]:
        """`structuredContent` as Azure answers, and the same as text for clients that read `content` only."""
        text = json.dumps(self.structured, ensure_ascii=False)
        content = [{"type": "text", "text": text}]
        return {"content": content, "structuredContent": self.structured, "isError": self.failed}


def _render(answer: dict[str, Any]) -> bytes:
    result = answer.get("result")
    if isinstance(result, ToolResult):
        answer = {**answer, "result": result.as_json()}
    return render_json(answer)


class _Answered(Response):
    """The answers' bytes, sent part by part (a batch's parts are never joined into a copy), and given back to the
    server's budget once sent, or once sending failed."""

    def __init__(self, answers: batches.Answers, batch: bool):
        super().__init__(media_type="application/json")
        self._answers = answers
        parts = answers.parts
        self._chunks = [b"[", *_separated(parts), b"]"] if batch else parts
        self.headers["content-length"] = str(sum(len(chunk) for chunk in self._chunks))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            for chunk in self._chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self._chunks = []
            self._answers.release()


def _separated(parts: list[bytes]) -> Iterator[bytes]:
    for index, part in enumerate(parts):
        if index:
            yield b","
        yield part


async def endpoint(request: Request, state: EmulatorState) -> Response:
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
    if isinstance(body, list) and (refused := batches.batch_refusal(body)) is not None:
        return JSONResponse(_error(None, RpcError(INVALID_REQUEST, refused)), status_code=400)
    assert state.mcp is not None
    answers = batches.Answers(state.mcp.answers)
    try:
        messages = body if isinstance(body, list) else [body]
        await hangup.unless_hung_up(request, _answer_all(messages, state, answers))
    except hangup.HungUp:
        answers.release()
        return Response(status_code=hangup.CLIENT_CLOSED)
    except BaseException:
        answers.release()
        raise
    if not answers.parts:
        return Response(status_code=202)
    return _Answered(answers, batch=isinstance(body, list))


async def _answer_all(messages: list[Any], state: EmulatorState, answers: batches.Answers) -> None:
    """Answers the messages one after another into `answers`, as far as its bounds let them run."""
    for message in messages:
        answer = await _answer(message, state, answers.refusal())
        if answer is None:
            continue
        result = answer.get("result")
        if isinstance(result, ToolResult) and not result.small:
            answers.add(await asyncio.to_thread(_render, answer))
        else:
            answers.add(_render(answer))


async def _answer(message: Any, state: EmulatorState, refusal: str | None = None) -> dict[str, Any] | None:
    """The response to one JSON-RPC message; None for a notification or a client's response. With `refusal`, a
    request is answered with that error instead of being run."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return _error(None, RpcError(INVALID_REQUEST, 'A JSON-RPC 2.0 message is an object with "jsonrpc": "2.0".'))
    if "method" not in message:
        return None  # a response to a server request; this server sends none
    message_id = message.get("id")
    if "id" not in message:
        return None  # a notification (notifications/initialized, notifications/cancelled)
    if not isinstance(message_id, str | int) or isinstance(message_id, bool):
        return _error(None, RpcError(INVALID_REQUEST, "The id must be a string or an integer."))
    if refusal is not None:
        return _error(message_id, RpcError(SERVER_ERROR, refusal))
    try:
        result = await _dispatch(str(message["method"]), message.get("params"), state)
    except RpcError as error:
        return _error(message_id, error)
    return {"jsonrpc": "2.0", "id": message_id, "result": result}


async def _dispatch(method: str, params: Any, state: EmulatorState) -> dict[str, Any] | ToolResult:
    if params is not None and not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "params must be an object.")
    params = params or {}
    container_type = state.pool.launcher.runtime.container_type
    if method == "initialize":
        return {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {"tools": {"call": True, "list": True}},
            "serverInfo": {"name": SERVER_NAME, "version": dynamic_sessions.__version__},
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


async def _call(name: str, arguments: dict[str, Any], state: EmulatorState) -> ToolResult:
    server: McpServer | None = state.mcp
    assert server is not None
    if name == "launchShell":
        return ToolResult({"environmentId": server.issue()}, failed=False)
    environment = arguments.get("environmentId")
    if not server.issued(environment):
        raise RpcError(
            INVALID_PARAMS,
            f"Unknown environmentId {_shown(environment)}: call launchShell first, and use the id it returned.",
        )
    assert isinstance(environment, str)
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
    container_type = state.pool.launcher.runtime.container_type

    async def run(session: Session) -> CommandOutcome:
        try:
            return await run_command(session, container_type, command)
        except SessionEnded as ended:
            await state.pool.end(environment, only=session)
            return shell.ended_outcome(ended)

    outcome = await _in_session(environment, state, len(json.dumps(command.request())), run)
    return ToolResult(_command_content(outcome), failed=not outcome.succeeded)


T = TypeVar("T")


async def _in_session(
    environment: str, state: EmulatorState, code_size: int, run: Callable[[Session], Awaitable[T]]
) -> T:
    """`run` in the environment's session, admitted to its queue as a data-plane execution is (the same per-session
    limit). Cancelled (its client hung up), a call waiting its turn leaves the queue, and a running one has been
    killed with its session by `Session.execute`, as its watchdog's timeout kills it: that session ends here, and
    the environment's next call starts a new one."""
    try:
        # Shielded: a session half started when its caller hung up is still put in the pool, not left running.
        await asyncio.shield(state.pool.session_for(environment))
        session, release = await state.admit(environment, code_size)
    except PoolFull as full:
        raise RpcError(SERVER_ERROR, f"{full}; retry when a session's cooldown ends.") from None
    except QueueFull as full:
        raise RpcError(SERVER_ERROR, f"{full}; retry when one of its calls has finished.") from None
    except SessionEnded as ended:
        raise RpcError(SERVER_ERROR, f"No session could be started: {ended}.") from None
    try:
        async with hangup.ended_if_cancelled(state, environment, session):
            return await run(session)
    finally:
        release()


async def _run_python(environment: str, code: str, state: EmulatorState) -> ToolResult:
    async def run(session: Session) -> ToolResult:
        try:
            outcome = await session.execute(code, shell.DEFAULT_TIMEOUT_S, shell.DEFAULT_OUTPUT_MAX_LENGTH)
        except SessionEnded as ended:
            await state.pool.end(environment, only=session)
            message = f"Error: {ended}; the next call with this environmentId starts a new session\n"
            failed: dict[str, Any] = {"status": "Failed", "stdout": "", "stderr": message, "result": ""}
            return ToolResult({**failed, "executionTimeInMilliseconds": 0}, failed=True)
        content = {
            "status": "Succeeded" if outcome.succeeded else "Failed",
            "stdout": outcome.stdout,
            "stderr": outcome.stderr,
            "result": outcome.result,
            "executionTimeInMilliseconds": outcome.milliseconds,
        }
        return ToolResult(content, failed=not outcome.succeeded)

    return await _in_session(environment, state, len(code.encode("utf-8", "surrogatepass")), run)


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
