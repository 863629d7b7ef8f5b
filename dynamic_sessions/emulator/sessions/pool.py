"""The pool: identifiers to live sessions, capacity, cooldown, and pre-started (ready) sessions."""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from dynamic_sessions.emulator.sandbox import network
from dynamic_sessions.emulator.sandbox.cgroups import EmulatorGroups
from dynamic_sessions.emulator.sandbox.launcher import Launcher
from dynamic_sessions.emulator.sandbox.scratch import Scratch
from dynamic_sessions.emulator.sessions.session import Session, SessionEnded

log = logging.getLogger("emulator")
REFILL_DELAY_S = 0.05


class PoolFull(RuntimeError):
    """Every session the pool may hold is allocated."""


@dataclass(frozen=True)
class PoolSettings:
    max_sessions: int = 5
    cooldown_s: float = 300.0
    ready_sessions: int = 0


class Pool:
    """Allocates one session per identifier, at most `max_sessions` at once.

    Ready sessions are started ahead of demand and handed to new identifiers, so those skip
    the interpreter's start-up; they count towards `max_sessions` like allocated ones, as spare capacity.
    """

    def __init__(self, launcher: Launcher, settings: PoolSettings):
        self.launcher = launcher
        self.settings = settings
        self.sessions: dict[str, Session] = {}
        self._starting: dict[str, asyncio.Future[Session]] = {}
        self._ready: list[Session] = []
        self._warming = 0
        self.scratch = Scratch()
        try:
            self._groups = (
                EmulatorGroups(list(launcher.controllers), launcher.caps.memory, launcher.caps.processes)
                if launcher.controllers
                else None
            )
            # Copies every session uid can reach, even when the package sits in a folder closed to them.
            kernel = launcher.runtime.kernel
            files = {kernel.name: kernel.read_text(), "resolv.conf": network.RESOLV_CONF}
            self._shared = self.scratch.share(files)
        except BaseException:
            self.scratch.close()
            raise
        self._free_slots: set[int] = set()
        self._next_slot = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._refill_soon: asyncio.TimerHandle | None = None
        self.created_at = time.time()

    async def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_forever())
        self._refill()
        while self._warming:
            await asyncio.sleep(0.01)

    def _allocated(self) -> int:
        return len(self.sessions) + len(self._starting)

    async def session_for(self, identifier: str) -> Session:
        """The identifier's session, started (or taken from the ready ones) on first use."""
        # Again after ending a dead session: while it was torn down, another call may have started the next one.
        while (session := self.sessions.get(identifier)) is not None:
            if session.alive and not session.gone:
                session.last_used = time.time()
                return session
            await self.end(identifier, only=session)
        pending = self._starting.get(identifier)
        if pending is not None:
            return await asyncio.shield(pending)
        if self._allocated() >= self.settings.max_sessions:
            raise PoolFull(f"all {self.settings.max_sessions} sessions of the pool are in use")
        future: asyncio.Future[Session] = asyncio.get_running_loop().create_future()
        self._starting[identifier] = future
        try:
            session = await self._take_or_start()
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # a waiter may not exist; the error is theirs and ours
            raise
        finally:
            del self._starting[identifier]
        session.identifier = identifier
        session.last_used = time.time()
        self.sessions[identifier] = session
        future.set_result(session)
        # The replacement ready session starts a moment later: spawned now, it would compete with this
        # session's first execution for the CPU (on 2 busy cores, p50 ~11 ms instead of ~3.5 ms).
        if self._refill_soon is None:
            self._refill_soon = asyncio.get_running_loop().call_later(REFILL_DELAY_S, self._refill_now)
        return session

    def _refill_now(self) -> None:
        self._refill_soon = None
        self._refill()

    async def _take_or_start(self) -> Session:
        while self._ready:
            session = self._ready.pop()
            if session.alive and not session.gone:
                return session
            await session.close()  # it died while waiting: free its folder
        return await self._new_session()

    async def _new_session(self) -> Session:
        """Starts a session in a free slot (its uid, in root mode); the slot is free again once it has ended."""
        slot = min(self._free_slots) if self._free_slots else self._next_slot
        self._free_slots.discard(slot)
        self._next_slot = max(self._next_slot, slot + 1)
        try:
            session = Session(
                self.launcher,
                self.scratch,
                uid=self.launcher.session_uid(slot),
                group=self._groups.new_session() if self._groups else None,
                shared=self._shared,
            )
        except BaseException:
            self._free_slots.add(slot)
            raise
        session.on_closed = lambda: self._free_slots.add(slot)
        return await session.start()

    def _refill(self) -> None:
        free = self.settings.max_sessions - self._allocated()
        wanted = min(self.settings.ready_sessions, free) - len(self._ready) - self._warming
        for _ in range(max(0, wanted)):
            self._warming += 1
            task = asyncio.create_task(self._warm_one())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _warm_one(self) -> None:
        try:
            session = await self._new_session()
        except (SessionEnded, OSError):
            log.warning("a ready session failed to start")
            return
        finally:
            self._warming -= 1
        self._ready.append(session)

    async def end(self, identifier: str, only: Session | None = None) -> bool:
        """Ends the identifier's session at once (DELETE /session, cooldown, or its process ended); with `only`,
        just if that is still the identifier's session: a call that saw its session end must not end the new one
        another call started under the same identifier meanwhile."""
        session = self.sessions.get(identifier)
        if session is None or (only is not None and session is not only):
            return False
        del self.sessions[identifier]
        await session.close()
        self._refill()
        return True

    async def _reap_forever(self) -> None:
        interval = min(1.0, max(0.05, self.settings.cooldown_s / 4))
        while True:
            await asyncio.sleep(interval)
            deadline = time.time() - self.settings.cooldown_s
            for identifier, session in list(self.sessions.items()):
                if session.last_used < deadline and not session.busy:
                    log.info("session ended after %ss idle", self.settings.cooldown_s)
                    await self.end(identifier, only=session)

    async def close(self) -> None:
        """Stops every session process, ready ones included."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        if self._refill_soon is not None:
            self._refill_soon.cancel()
        for task in list(self._tasks):
            task.cancel()
        everything = [*self.sessions.values(), *self._ready]
        self.sessions.clear()
        self._ready.clear()
        await asyncio.gather(*(s.close() for s in everything), return_exceptions=True)
        self._release()

    def kill_all_now(self) -> None:
        for session in [*self.sessions.values(), *self._ready]:
            session.kill_now()
        self._release()

    def _release(self) -> None:
        if self._groups is not None:
            self._groups.remove()
        self.scratch.close()
