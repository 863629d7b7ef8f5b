"""The pool's own resources (2025-02-02-preview and later): a session (`GET`/`DELETE /session`), the list of
sessions, and the pool's metadata."""

from starlette.requests import Request
from starlette.responses import Response

from dynamic_sessions.emulator.api import contract
from dynamic_sessions.emulator.api.contract import BadRequest, JSONResponse
from dynamic_sessions.emulator.api.state import EmulatorState
from dynamic_sessions.emulator.sessions.session import Session


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
