"""The HTTP surface's route table: every contract's routes over one pool of real sessions, the front door that
checks each request's credentials and logs it, and the mapping of the contracts' errors onto HTTP answers."""

import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dynamic_sessions.emulator.api import auth, executions, files, hangup, mcp, pool_routes
from dynamic_sessions.emulator.api.contract import BadRequest, error_response
from dynamic_sessions.emulator.api.state import EmulatorState
from dynamic_sessions.emulator.sandbox.files import FileRefused
from dynamic_sessions.emulator.sessions.pool import Pool, PoolFull
from dynamic_sessions.emulator.sessions.session import QueueFull, SessionEnded

log = logging.getLogger("emulator")
# The log shows this much of a path; the rest is counted.
LOGGED_PATH_CHARS = 200


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
        except hangup.HungUp:  # no client reads it: the status is for the log
            return Response(status_code=hangup.CLIENT_CLOSED)
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
        _route("/code/execute", executions.legacy_execute, state, ["POST"]),
        _route("/files/upload", files.legacy_upload, state, ["POST"]),
        _route("/files/content/{name}", files.legacy_content, state, ["GET"]),
        _route("/executions", executions.create_execution, state, ["POST"]),
        _route("/executions/{execution_id}", executions.get_execution, state, ["GET"]),
        _route("/files", files.files, state, ["GET", "POST"]),
        _route("/files/{name}", files.file_item, state, ["GET", "DELETE"]),
        _route("/files/{name}/content", files.file_content, state, ["GET"]),
        _route("/session", pool_routes.session_item, state, ["GET", "DELETE"]),
        _route("/listSessions", pool_routes.list_sessions, state, ["GET"]),
        _route("/metadata", pool_routes.metadata, state, ["GET"]),
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
