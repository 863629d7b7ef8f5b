"""Work that stops when its client hangs up, for every route that runs code while its client waits (the data
plane's synchronous executions and the MCP endpoint).

The work runs in a task while the request's ASGI `receive` is watched: once the request body has been read,
uvicorn's next message is `http.disconnect`, sent when the client has gone. The work is then cancelled: a call
waiting its session's turn leaves the queue, and a running one is killed with its session by `Session.execute`,
as the watchdog's timeout kills one; `ended_if_cancelled` ends that session in the pool, so the identifier's next
call starts a new one.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.types import Receive

from dynamic_sessions.emulator.api.state import EmulatorState
from dynamic_sessions.emulator.sessions.session import Session

# The status logged for a request whose client hung up before its answer (nginx's "client closed request"): no
# client reads it.
CLIENT_CLOSED = 499

T = TypeVar("T")


class HungUp(Exception):
    """The client hung up before its answer was ready; its work was cancelled."""


async def unless_hung_up(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """What `work` returns, or HungUp once the client hangs up first: `work` is then cancelled and awaited.

    Call it only after the request's body has been read: the watch consumes the request's next messages."""
    task = asyncio.ensure_future(work)
    hang_up = asyncio.ensure_future(_hang_up(request.receive))
    try:
        await asyncio.wait((task, hang_up), return_when=asyncio.FIRST_COMPLETED)
    finally:
        hang_up.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        raise HungUp("the client hung up")
    return task.result()


async def _hang_up(receive: Receive) -> None:
    """Returns once the client has gone: after the body, uvicorn's next message is `http.disconnect`."""
    while (await receive())["type"] != "http.disconnect":
        pass


@contextlib.asynccontextmanager
async def ended_if_cancelled(state: EmulatorState, identifier: str, session: Session) -> AsyncIterator[None]:
    """Ends `session` in the pool when the block is cancelled after `Session.execute` killed it (its client hung
    up), so the identifier's next call starts a new session, as after a timeout."""
    try:
        yield
    except asyncio.CancelledError:
        if not session.alive:
            await state.pool.end(identifier, only=session)
        raise


async def while_connected(
    request: Request, state: EmulatorState, identifier: str, session: Session, work: Coroutine[Any, Any, T]
) -> T:
    """What `work` in the identifier's `session` returns, or HungUp once the client hangs up first: `work` is then
    cancelled, and the session it was running code in ends."""

    async def guarded() -> T:
        async with ended_if_cancelled(state, identifier, session):
            return await work

    return await unless_hung_up(request, guarded())
