"""The HTTP surface: both data-plane contracts over one pool of real sessions (Node.js or Python)."""

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import math
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dynamic_sessions.emulator.api import auth, contract, mcp, shell
from dynamic_sessions.emulator.api.bodies import json_body, receive_upload
from dynamic_sessions.emulator.api.contract import BadRequest, ExecutionOptions, JSONResponse, error_response
from dynamic_sessions.emulator.api.state import EmulatorState
from dynamic_sessions.emulator.sandbox.files import FileInfo, FileRefused, SessionFiles, read_chunks
from dynamic_sessions.emulator.sessions.pool import Pool, PoolFull
from dynamic_sessions.emulator.sessions.session import Outcome, QueueFull, Session, SessionEnded

log = logging.getLogger("emulator")
# The log shows this much of a path; the rest is counted.
LOGGED_PATH_CHARS = 200
# Entries of a files listing per streamed chunk: each chunk is one hop to a worker thread.
LISTED_PER_CHUNK = 1000


def loggable(path: str) -> str:
    """The path for a log line: control characters escaped, a long path cut, so a line stays one line."""
    shown = path[:LOGGED_PATH_CHARS]
    if not shown.isprintable():
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown)
    if len(path) > LOGGED_PATH_CHARS:
        shown += f"...({len(path) - LOGGED_PATH_CHARS} more)"
    return shown


class FrontDoor:
    """Per request: one log line (method, path, status, ms; never the query or a token) and auth."""

    def __init__(self, app: ASGIApp, state: EmulatorState):
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            try:
                self._check(scope)
            except auth.Denied as denied:
                await error_response(denied.status, denied.code, denied.message)(scope, receive, send_and_note)
                return
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            log.info("%s %s %d %.1fms", scope["method"], loggable(scope["path"]), status, elapsed)

    def _check(self, scope: Scope) -> None:
        """The MCP endpoint takes its API key (x-ms-apikey), every other route a bearer token."""
        if self.state.mcp is not None and scope["path"] == mcp.PATH:
            key = next((v.decode("latin-1") for k, v in scope["headers"] if k == mcp.KEY_HEADER.encode()), None)
            if not self.state.mcp.accepts(key):
                what = "No" if key is None else "A wrong"
                raise auth.Denied(401, "Unauthorized", f"{what} {mcp.KEY_HEADER} header: send the pool's MCP API key.")
            return
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None)
        auth.check(header, self.state.allowed_principals)


Handler = Callable[[Request, EmulatorState], Awaitable[Response]]


def _route(path: str, handler: Handler, state: EmulatorState, methods: list[str]) -> Route:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request, state)
        except BadRequest as bad:
            return error_response(bad.status, bad.code, bad.message, bad.headers)
        except FileRefused as refused:
            return error_response(refused.status, refused.code, refused.message)
        except RecursionError:  # a body that parsed at the edge of the nesting limit, then was looked at
            return error_response(400, "InvalidRequest", "The request body is JSON nested too deeply.")
        except PoolFull as full:
            wait = _retry_after(state.pool)
            return error_response(429, "TooManyRequests", f"{full}; retry after {wait} s.", {"Retry-After": str(wait)})
        except QueueFull as full:
            message = f"{full}; retry once one has finished."
            return error_response(429, "TooManyRequests", message, {"Retry-After": "1"})
        except SessionEnded as ended:  # the session's process could not start: the emulator's log says why
            return error_response(503, "SessionUnavailable", f"No session could be started: {ended}.")

    return Route(path, endpoint, methods=methods)


def _retry_after(pool: Pool) -> int:
    """Seconds until the least recently used session's cooldown ends: when a slot can free up."""
    if not pool.sessions:
        return 1
    oldest = min(s.last_used for s in pool.sessions.values())
    return max(1, math.ceil(oldest + pool.settings.cooldown_s - time.time()))


def _most_output(state: EmulatorState) -> int:
    """The largest `outputStreamsMaxLength` a request may ask for."""
    return max(contract.MAX_OUTPUT_STREAMS_MAX_LENGTH, state.output_limit)


def _output_limit(state: EmulatorState, options: ExecutionOptions) -> int:
    return options.output_limit if options.output_limit is not None else state.output_limit


async def _run(
    state: EmulatorState, session: Session, code: str, timeout_s: float, options: ExecutionOptions
) -> Outcome:
    try:
        return await session.execute(code, timeout_s, _output_limit(state, options), empty_kernel=options.empty_kernel)
    except SessionEnded as ended:
        if session.identifier is not None:
            await state.pool.end(session.identifier, only=session)
        return Outcome(False, "", f"Error: {ended}; the next call with this identifier starts a new session\n", "", 0)


async def _run_now(state: EmulatorState, ident: str, code: str, timeout_s: float, options: ExecutionOptions) -> Outcome:
    """Runs `code` in the identifier's session, counted in its queue while it waits and runs."""
    session, release = await state.admit(ident, sys.getsizeof(code))
    try:
        return await _run(state, session, code, timeout_s, options)
    finally:
        release()


# --- code/execute: 2024-02-02-preview, 2024-08-02-preview -------------------------------------


async def legacy_execute(request: Request, state: EmulatorState) -> Response:
    if _is_shell_pool(state):
        raise BadRequest(
            404, "NotFound", f"Shell pools run commands at POST /executions ({', '.join(shell.SHELL_VERSIONS)})."
        )
    contract.api_version(request.query_params, contract.LEGACY_VERSIONS, "code/execute")
    ident = contract.identifier(request.query_params)
    code, timeout_s, options = contract.legacy_request(await json_body(request), _most_output(state))
    outcome = await _run_now(state, ident, code, timeout_s, options)
    return JSONResponse(contract.legacy_result(outcome, state.pool.launcher.runtime.legacy_result_key, options))


# --- executions: 2024-10-02-preview and later ---------------------------------------------------


def _is_shell_pool(state: EmulatorState) -> bool:
    return state.pool.launcher.runtime.container_type == "Shell"


async def create_execution(request: Request, state: EmulatorState) -> Response:
    if _is_shell_pool(state):
        return await shell.create_execution(request, state)
    version = contract.api_version(request.query_params, contract.EXECUTIONS_VERSIONS, "executions")
    ident = contract.identifier(request.query_params)
    code, execution_type, timeout_s, options = contract.executions_request(
        await json_body(request), _most_output(state)
    )
    execution_id = contract.operation_id(request.headers.get("operation-id")) or str(uuid.uuid4())
    status_code = 202 if version == "2024-10-02-preview" else 200
    # Also answers 429 for a full pool, or a full queue, before an asynchronous execution is accepted.
    session, release = await state.admit(ident, sys.getsizeof(code))
    history = session.executions

    def remember(outcome: Outcome | None) -> dict[str, Any]:
        resource = contract.execution_resource(execution_id, ident, execution_type, outcome, options)
        if outcome is not None and version == "2025-10-02-preview":
            resource["result"]["outputStreamsMaxLength"] = _output_limit(state, options)
        if session.alive:
            state.history.keep(history, execution_id, resource)
        return resource

    if execution_type == "Synchronous":
        try:
            return JSONResponse(remember(await _run(state, session, code, timeout_s, options)), status_code=status_code)
        finally:
            release()

    running = remember(None)

    async def finish() -> None:
        try:
            remember(await _run(state, session, code, timeout_s, options))
        finally:
            release()

    task = asyncio.create_task(finish())
    state.background.add(task)
    task.add_done_callback(state.background.discard)
    location = request.url.replace(path=f"{request.url.path}/{execution_id}")
    return JSONResponse(running, status_code=202, headers={"Operation-Location": str(location)})


async def get_execution(request: Request, state: EmulatorState) -> Response:
    contract.api_version(request.query_params, contract.EXECUTIONS_VERSIONS, "executions/{id}")
    ident = contract.identifier(request.query_params)
    execution_id = request.path_params["execution_id"]
    session = state.pool.sessions.get(ident)
    resource = session.executions.get(execution_id) if session is not None else None
    if resource is None:
        raise BadRequest(404, "NotFound", f"No execution {execution_id!r} in this session.")
    return JSONResponse(resource)


# --- files --------------------------------------------------------------------------------------


async def _session_files(request: Request, state: EmulatorState, versions: tuple[str, ...], route: str) -> SessionFiles:
    contract.api_version(request.query_params, versions, route)
    session = await state.pool.session_for(contract.identifier(request.query_params))
    try:
        folder = SessionFiles(session.data_dir, session.copier())
    except OSError:
        raise BadRequest(404, "NotFound", "This session's /mnt/data is gone; the session has ended.") from None
    path = request.query_params.get("path")
    if path:
        try:
            folder.descend(path)
        except FileRefused:
            folder.close()
            raise
    return folder


def _file_entry(info: FileInfo, legacy: bool) -> dict[str, Any]:
    if legacy:
        return {
            "properties": {
                "filename": info.name,
                "size": info.size,
                "lastModifiedTime": contract.timestamp(info.modified),
            }
        }
    return {
        "name": info.name,
        "type": info.kind,
        "contentType": "application/octet-stream",
        "sizeInBytes": info.size,
        "lastModifiedAt": contract.timestamp(info.modified),
        "directory": info.folder,
    }


def _content(folder: SessionFiles, name: str) -> Response:
    fd, info = folder.open_for_reading(name)
    # A synchronous iterator: Starlette reads it in a worker thread, off the event loop.
    return StreamingResponse(
        read_chunks(fd, info.size),
        media_type="application/octet-stream",
        headers={"Content-Length": str(info.size)},
    )


async def legacy_upload(request: Request, state: EmulatorState) -> Response:
    with await _session_files(request, state, contract.LEGACY_VERSIONS, "files/upload") as folder:
        stored = await receive_upload(request, folder)
    return JSONResponse({"value": [_file_entry(stored, legacy=True)]})


def _listing(folder: SessionFiles, legacy: bool, folders: bool = False, recursive: bool = False) -> Response:
    """The folder's listing, streamed: a session can hold hundreds of thousands of files within its own
    memory cap, and their listing must cost the emulator neither that much memory nor a stalled event loop.
    `folders`: folders listed too (Shell pools); `recursive`: what is below them too (`recursive=true`)."""
    # A synchronous iterator: Starlette reads it in a worker thread, off the event loop.
    return StreamingResponse(_listing_chunks(folder, legacy, folders, recursive), media_type="application/json")


def _listing_chunks(
    folder: SessionFiles, legacy: bool, folders: bool = False, recursive: bool = False
) -> Iterator[bytes]:
    with folder:
        listed = folder.entries(folders, recursive)
        entries = (json.dumps(_file_entry(info, legacy), ensure_ascii=False) for info in listed)
        separator = ""
        yield b'{"value":['
        while batch := list(itertools.islice(entries, LISTED_PER_CHUNK)):
            yield (separator + ",".join(batch)).encode()
            separator = ","
        yield b"]}"


async def legacy_list(request: Request, state: EmulatorState) -> Response:
    return _listing(await _session_files(request, state, contract.LEGACY_VERSIONS, "files"), legacy=True)


async def legacy_content(request: Request, state: EmulatorState) -> Response:
    with await _session_files(request, state, contract.LEGACY_VERSIONS, "files/content/{name}") as folder:
        return _content(folder, request.path_params["name"])


async def files(request: Request, state: EmulatorState) -> Response:
    if request.method == "GET" and request.query_params.get("api-version") in contract.LEGACY_VERSIONS:
        return await legacy_list(request, state)
    folder = await _session_files(request, state, contract.EXECUTIONS_VERSIONS, "files")
    if request.method != "POST":
        recursive = request.query_params.get("recursive", "").lower() == "true"
        return _listing(folder, False, folders=_is_shell_pool(state), recursive=recursive)
    with folder:
        stored = dataclasses.replace(await receive_upload(request, folder), folder=folder.where)
        return JSONResponse(_file_entry(stored, legacy=False))


async def file_item(request: Request, state: EmulatorState) -> Response:
    with await _session_files(request, state, contract.EXECUTIONS_VERSIONS, "files/{name}") as folder:
        name = request.path_params["name"]
        if request.method == "DELETE":
            folder.delete(name)
            return Response(status_code=204)
        return JSONResponse(_file_entry(folder.info(name), legacy=False))


async def file_content(request: Request, state: EmulatorState) -> Response:
    with await _session_files(request, state, contract.EXECUTIONS_VERSIONS, "files/{name}/content") as folder:
        return _content(folder, request.path_params["name"])


# --- sessions and metadata: 2025-02-02-preview and later ----------------------------------------


async def session_item(request: Request, state: EmulatorState) -> Response:
    contract.api_version(request.query_params, contract.SESSION_VERSIONS, "session")
    ident = contract.identifier(request.query_params)
    session: Session | None = state.pool.sessions.get(ident)
    if session is None:
        raise BadRequest(404, "SessionNotFound", "No live session has this identifier.")
    if request.method == "DELETE":
        await state.pool.end(ident)
        return Response(status_code=204)
    return JSONResponse(contract.session_resource(session, state.pool.settings.cooldown_s))


async def list_sessions(request: Request, state: EmulatorState) -> Response:
    contract.api_version(request.query_params, contract.SESSION_VERSIONS, "listSessions")
    cooldown = state.pool.settings.cooldown_s
    return JSONResponse({"sessions": [contract.session_resource(s, cooldown) for s in state.pool.sessions.values()]})


async def metadata(request: Request, state: EmulatorState) -> Response:
    contract.api_version(request.query_params, contract.SESSION_VERSIONS, "metadata")
    created = contract.timestamp(state.pool.created_at)
    runtime = state.pool.launcher.runtime
    runtimes = [{"name": runtime.name, "version": runtime.version}]
    packages = [{"name": p.name, "version": p.version} for p in runtime.packages]
    return JSONResponse(
        {
            "runtimes": runtimes,
            "preInstalledPackages": packages,
            "createdAt": created,
            "lastUpdatedAt": created,
        }
    )


def create_app(state: EmulatorState, on_ready: Callable[[], None] | None = None) -> ASGIApp:
    """The ASGI application; the pool is started and stopped with it."""

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await state.pool.start()
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            for task in list(state.background):
                task.cancel()
            await state.pool.close()

    routes = [
        _route("/code/execute", legacy_execute, state, ["POST"]),
        _route("/files/upload", legacy_upload, state, ["POST"]),
        _route("/files/content/{name}", legacy_content, state, ["GET"]),
        _route("/executions", create_execution, state, ["POST"]),
        _route("/executions/{execution_id}", get_execution, state, ["GET"]),
        _route("/files", files, state, ["GET", "POST"]),
        _route("/files/{name}", file_item, state, ["GET", "DELETE"]),
        _route("/files/{name}/content", file_content, state, ["GET"]),
        _route("/session", session_item, state, ["GET", "DELETE"]),
        _route("/listSessions", list_sessions, state, ["GET"]),
        _route("/metadata", metadata, state, ["GET"]),
    ]
    if state.mcp is not None:
        routes.append(_route(mcp.PATH, mcp.endpoint, state, ["POST", "GET", "DELETE"]))

    async def no_route(request: Request, error: Exception) -> Response:
        status = getattr(error, "status_code", 404)
        if status == 405:
            return error_response(405, "MethodNotAllowed", f"{request.method} is not allowed on {request.url.path}.")
        return error_response(404, "NotFound", f"No route {request.url.path}; check the path and api-version.")

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: no_route, 405: no_route})
    return FrontDoor(app, state)
