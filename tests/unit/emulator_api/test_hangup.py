"""Work that stops when its client hangs up, driven without a server: its result kept while the client stays, the
work cancelled once it goes, and a session the cancelled work killed ended in the pool."""

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from dynamic_sessions.emulator.api import hangup


class FakeRequest:
    """What the watch reads of a request: uvicorn's `receive`, which answers `http.disconnect` once the client has
    gone."""

    def __init__(self) -> None:
        self.gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}


class FakePool:
    """The pool's `end`, noted."""

    def __init__(self) -> None:
        self.ended: list[tuple[str, Any]] = []

    async def end(self, identifier: str, only: Any = None) -> bool:
        self.ended.append((identifier, only))
        return True


def test_work_that_finishes_is_kept():
    async def scenario() -> tuple[str, list[str]]:
        done: list[str] = []

        async def work() -> str:
            done.append("answered")
            return "the answer"

        return await hangup.unless_hung_up(FakeRequest(), work()), done  # type: ignore[arg-type]

    assert asyncio.run(scenario()) == ("the answer", ["answered"])


def test_hanging_up_cancels_the_work_in_progress_and_what_follows_it():
    async def scenario() -> list[str]:
        request = FakeRequest()
        seen: list[str] = []

        async def work() -> None:
            for step in ("first", "second"):
                try:
                    seen.append(f"{step} started")
                    request.gone.set()  # the client hangs up while this step runs
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    seen.append(f"{step} cancelled")
                    raise

        # A generous bound: without the hang-up noticed, the work would sleep for an hour.
        with pytest.raises(hangup.HungUp):
            await asyncio.wait_for(hangup.unless_hung_up(request, work()), 30)  # type: ignore[arg-type]
        return seen

    assert asyncio.run(scenario()) == ["first started", "first cancelled"]


def _running_in(session: Any, request: FakeRequest, kills: bool) -> Any:
    """Work that runs until cancelled; cancelled, it kills `session` when `kills`, as `Session.execute` does for
    a running call (a call still waiting its turn kills nothing)."""

    async def work() -> str:
        request.gone.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if kills:
                session.alive = False
            raise
        return "never"

    return work()


@pytest.mark.parametrize(("kills", "ended"), [(True, True), (False, False)])
def test_a_hang_up_ends_in_the_pool_the_session_the_work_killed_and_no_other(kills, ended):
    session = SimpleNamespace(alive=True)

    async def scenario() -> list[tuple[str, Any]]:
        request, pool = FakeRequest(), FakePool()
        state: Any = SimpleNamespace(pool=pool)
        work = _running_in(session, request, kills)
        with pytest.raises(hangup.HungUp):
            watched = hangup.while_connected(request, state, "id-1", session, work)  # type: ignore[arg-type]
            await asyncio.wait_for(watched, 30)
        return pool.ended

    assert asyncio.run(scenario()) == ([("id-1", session)] if ended else [])
