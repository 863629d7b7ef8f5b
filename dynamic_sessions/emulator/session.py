"""One live session: a Node.js kernel process, its /mnt/data folder, and the channel to it."""

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynamic_sessions.emulator.sandbox import Launcher

# The kernel enforces the timeout itself; this margin only catches a kernel that cannot answer
# (a busy loop inside a callback, a hung native call), which is then killed.
WATCHDOG_MARGIN_S = 2.0
START_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Outcome:
    """What one execution produced."""

    succeeded: bool
    stdout: str
    stderr: str
    result: Any
    milliseconds: int


class SessionEnded(RuntimeError):
    """The session's process is gone (it exited, crashed, or was stopped)."""


# Numbers requests so that an answer to another request (one forged by session code on the
# channel, say) is noticed instead of being handed to the wrong call.
_REQUEST_NUMBERS = itertools.count(1)
# Characters per output stream (and of the result's JSON) kept from one execution.
DEFAULT_OUTPUT_LIMIT = 1024 * 1024


def _outcome(line: bytes, seq: int) -> Outcome | None:
    """The answer to request `seq`, or None when the line is not one."""
    try:
        answer = json.loads(line)
        if answer["seq"] != seq:
            return None
        stdout, stderr, ok, ms = answer["stdout"], answer["stderr"], answer["ok"], answer["ms"]
        if not (isinstance(stdout, str) and isinstance(stderr, str) and isinstance(ok, bool)):
            return None
        return Outcome(ok, stdout, stderr, answer["result"], round(ms))
    except (ValueError, KeyError, TypeError, RecursionError):
        return None


class NodeSession:
    """A started kernel. `execute` runs one piece of code at a time, in order of arrival."""

    def __init__(self, launcher: Launcher, scratch: Path):
        self.launcher = launcher
        self.data_dir = Path(tempfile.mkdtemp(prefix="session-", dir=scratch))
        self.identifier: str | None = None
        now = time.time()
        self.created_at = now
        self.last_used = now
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()
        self.alive = False
        self.executions: OrderedDict[str, dict[str, Any]] = OrderedDict()
        """Execution resources by id, newest last, for GET /executions/{id}; they end with the session."""

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def start(self) -> "NodeSession":
        ours, theirs = socket.socketpair()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self.launcher.command(self.data_dir, theirs.fileno()),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                env=None if self.launcher.sandboxed else self.launcher.environment(self.data_dir),
                cwd=self.data_dir,
                start_new_session=True,
            )
        finally:
            theirs.close()
        self._reader, self._writer = await asyncio.open_connection(sock=ours, limit=64 * 1024 * 1024)
        try:
            hello = await asyncio.wait_for(self._reader.readline(), START_TIMEOUT_S)
        except TimeoutError:
            hello = b""
        if json.loads(hello or b"{}").get("ready") is not True:
            await self.close()
            raise SessionEnded("the session's interpreter process did not start")
        self.alive = True
        return self

    async def execute(self, code: str, timeout_s: float, output_limit: int = DEFAULT_OUTPUT_LIMIT) -> Outcome:
        """Runs `code`; `output_limit` caps each output stream and the result, in characters.

        An answer that cannot be read, or that answers another request, ends the session: reading on
        would hand one call's answer to the next.
        """
        async with self._lock:
            if not self.alive or self._writer is None or self._reader is None:
                raise SessionEnded("the session has ended")
            self.last_used = time.time()
            seq = next(_REQUEST_NUMBERS)
            request = {"seq": seq, "code": code, "timeoutMs": int(timeout_s * 1000), "outputLimit": output_limit}
            self._writer.write(json.dumps(request).encode() + b"\n")
            started = time.perf_counter()
            try:
                # asyncio.timeout, unlike wait_for, does not wrap the read in a new task: cheaper per call.
                async with asyncio.timeout(timeout_s + WATCHDOG_MARGIN_S):
                    line = await self._reader.readline()
            except TimeoutError:
                await self.close()
                elapsed = int((time.perf_counter() - started) * 1000)
                message = f"Error: Execution timed out after {timeout_s:g} s; the session was stopped\n"
                return Outcome(False, "", message, "", elapsed)
            except ValueError:  # the line outgrew the reader's limit
                await self.close()
                raise SessionEnded("the session's answer was too large to read, so the session was stopped") from None
            finally:
                self.last_used = time.time()
            if not line:
                code_ = await self._exit_code()
                await self.close()
                raise SessionEnded(f"the session's process exited (code {code_}) during the execution")
            outcome = _outcome(line, seq)
            if outcome is None:
                await self.close()
                raise SessionEnded("the session's answer could not be read, so the session was stopped")
            return outcome

    async def _exit_code(self) -> int | None:
        if self._process is None:
            return None
        try:
            return await asyncio.wait_for(self._process.wait(), 1.0)
        except TimeoutError:
            return None

    async def close(self) -> None:
        """Ends the process (and, through bubblewrap, everything it started) and removes its files."""
        self.alive = False
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.kill_now()
        if self._process is not None:
            await self._process.wait()

    def kill_now(self) -> None:
        """Kills the process group and removes the files without waiting; also the last resort at exit."""
        if self._process is not None and self._process.returncode is None:
            # The kernel runs in its own process group; end all of it, not only the leader.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signal.SIGKILL)
        shutil.rmtree(self.data_dir, ignore_errors=True)
