"""The code interpreter's executions contracts: `code/execute` (2024-02-02-preview, 2024-08-02-preview) and
`executions` (2024-10-02-preview and later; a Shell pool's are `shell`'s), run in the identifier's session and held
to its queue, with the execution history `GET /executions/{id}` reads. A synchronous execution stops when its
client hangs up (see `hangup`)."""

import asyncio
import sys
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dynamic_sessions import api_versions
from dynamic_sessions.emulator.api import contract, hangup, shell
from dynamic_sessions.emulator.api.bodies import json_body
from dynamic_sessions.emulator.api.contract import BadRequest, ExecutionOptions, JSONResponse
from dynamic_sessions.emulator.api.state import EmulatorState
from dynamic_sessions.emulator.sessions.session import Outcome, Session, SessionEnded


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


async def _run_for(
    request: Request,
    state: EmulatorState,
    ident: str,
    session: Session,
    code: str,
    timeout_s: float,
    options: ExecutionOptions,
) -> Outcome:
    """`_run` while its client waits: stopped, with its session, once the client hangs up (HungUp)."""
    return await hangup.while_connected(request, state, ident, session, _run(state, session, code, timeout_s, options))


async def legacy_execute(request: Request, state: EmulatorState) -> Response:
    if state.shell_pool:
        raise BadRequest(
            404, "NotFound", f"Shell pools run commands at POST /executions ({', '.join(shell.SHELL_VERSIONS)})."
        )
    contract.api_version(request.query_params, contract.LEGACY_VERSIONS, "code/execute")
    ident = contract.identifier(request.query_params)
    code, timeout_s, options = contract.legacy_request(await json_body(request), _most_output(state))
    session, release = await state.admit(ident, sys.getsizeof(code))
    try:
        outcome = await _run_for(request, state, ident, session, code, timeout_s, options)
    finally:
        release()
    return JSONResponse(contract.legacy_result(outcome, state.pool.launcher.runtime.legacy_result_key, options))


async def create_execution(request: Request, state: EmulatorState) -> Response:
    if state.shell_pool:
        return await shell.create_execution(request, state)
    version = contract.api_version(request.query_params, contract.EXECUTIONS_VERSIONS, "executions")
    ident = contract.identifier(request.query_params)
    code, execution_type, timeout_s, options = contract.executions_request(
        await json_body(request), _most_output(state)
    )
    execution_id = contract.operation_id(request.headers.get("operation-id")) or str(uuid.uuid4())
    offers = api_versions.DATA_PLANE_BY_VERSION[version]
    status_code = 202 if offers.accepts else 200
    # Also answers 429 for a full pool, or a full queue, before an asynchronous execution is accepted.
    session, release = await state.admit(ident, sys.getsizeof(code))
    history = session.executions

    def remember(outcome: Outcome | None) -> dict[str, Any]:
        resource = contract.execution_resource(execution_id, ident, execution_type, outcome, options)
        if outcome is not None and offers.output_limit_in_result:
            resource["result"]["outputStreamsMaxLength"] = _output_limit(state, options)
        if session.alive:
            state.history.keep(history, execution_id, resource)
        return resource

    if execution_type == "Synchronous":
        try:
            outcome = await _run_for(request, state, ident, session, code, timeout_s, options)
            return JSONResponse(remember(outcome), status_code=status_code)
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
