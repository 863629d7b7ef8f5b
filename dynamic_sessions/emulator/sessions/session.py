"""One live session: a kernel process (Node.js or Python), its /mnt/data folder, and the channel to it."""

import asyncio
import concurrent.futures
import contextlib
import itertools
import json
import logging
import os
import signal
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from dynamic_sessions.emulator.sandbox import network, processes
from dynamic_sessions.emulator.sandbox.caps import show_size
from dynamic_sessions.emulator.sandbox.cgroups import SessionGroup
from dynamic_sessions.emulator.sandbox.launcher import Launcher
from dynamic_sessions.emulator.sandbox.scratch import Scratch
from dynamic_sessions.emulator.sessions.answers import RESULT_LIMIT, ForgedAnswer, answer_bytes, parse_answer

# The kernel enforces the timeout itself; this margin only catches a kernel that cannot answer
# (a busy loop inside a callback, a hung native call), which is then killed.
WATCHDOG_MARGIN_S = 2.0
log = logging.getLogger("emulator")
START_TIMEOUT_S = 20.0
# Teardowns wait seconds on rm and on cgroups emptying. On threads of their own they never hold the ones of
# asyncio's default pool (cores + 4), which parse the other sessions' large answers.
TEARDOWNS = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="teardown")


@dataclass(frozen=True)
class Outcome:
    """What one execution produced."""

    succeeded: bool
    stdout: str
    stderr: str
    result: Any
    milliseconds: int
    outputs: list[Any] = field(default_factory=list)
    """The kernel's results as Jupyter (nbformat 4) outputs: execute_result, display_data, error."""


class SessionEnded(RuntimeError):
    """The session's process is gone (it exited, crashed, or was stopped)."""


# Characters per output stream (and of the result's JSON) kept from one execution.
DEFAULT_OUTPUT_LIMIT = 1024 * 1024
# The reader's buffer: the channel is read in chunks of this much at most, and stops being read past it.
CHANNEL_CHUNK = 256 * 1024
# Answers longer than this are parsed in a worker thread; shorter ones cost less than the hop.
INLINE_PARSE_BYTES = 64 * 1024


# A session's executions in progress or waiting their turn, and the bytes of their code: past either,
# another is refused (429) instead of held in the emulator's memory behind a busy one.
MAX_QUEUED = 16
MAX_QUEUED_CODE_BYTES = 16 * 1024 * 1024


class QueueFull(RuntimeError):
    """The session already holds as many executions, or as much of their code, as it may."""


class AnswerTooLarge(Exception):
    """The line on the channel grew past what an answer may take."""


class Session:
    """A started kernel. `execute` runs one piece of code at a time, in order of arrival."""

    def __init__(
        self,
        launcher: Launcher,
        scratch: Scratch,
        *,
        uid: int | None = None,
        group: SessionGroup | None = None,
        shared: Path | None = None,
    ):
        self.launcher = launcher
        self.scratch = scratch
        self.uid = uid
        """The session's own host uid (root mode), else None: it runs as the emulator's user."""
        self.group = group
        self._shared = shared
        data_cap = launcher.caps.data if launcher.caps.enabled else None
        self.data_dir = scratch.data_dir(uid, data_cap)
        self._network: processes.Child | None = None
        self._network_exit = -1
        self.on_closed: Callable[[], None] | None = None
        """Called once, when the session's processes and files are gone (the pool frees its slot)."""
        self._when_ended: list[Callable[[], None]] = []
        self._removed = False
        self._removal: asyncio.Future[None] | None = None
        self._queued = 0
        self._queued_bytes = 0
        self.identifier: str | None = None
        now = time.time()
        self.created_at = now
        self.last_used = now
        self._process: processes.Child | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._unread = b""
        # Numbers this session's requests, so that an answer to another request (a stale one, or one
        # session code wrote to the channel) is noticed; per session, so no tenant learns of others' calls.
        self._numbers = itertools.count(1)
        self._lock = asyncio.Lock()
        self.alive = False
        self.executions: OrderedDict[str, dict[str, Any]] = OrderedDict()
        """Execution resources by id, newest last, for GET /executions/{id}; they end with the session."""

    def copier(self) -> list[str] | None:
        """A command that copies stdin to stdout as this session's uid inside its cgroups, for writing
        uploads so that they count towards its memory cap; None where no memory cgroup holds it."""
        if self.group is None or not self.launcher.memory_cgroup or self.uid is None or self.launcher.setpriv is None:
            return None
        uid = str(self.uid)
        drop = [self.launcher.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs"]
        return self.group.entering([*drop, "/bin/cat"])

    def when_ended(self, callback: Callable[[], None]) -> None:
        """Calls `callback` as soon as the session ends, however it ends: before its process is reaped and its
        files are removed, which can take seconds, since nothing can reach what it held once it has ended."""
        self._when_ended.append(callback)

    def enqueue(self, code_bytes: int) -> Callable[[], None]:
        """Counts one more execution (whose code takes `code_bytes` of memory) towards the session's queue; `QueueFull`
        past its bounds. The caller calls what is returned once the execution is over."""
        if self._queued >= MAX_QUEUED or self._queued_bytes + code_bytes > MAX_QUEUED_CODE_BYTES:
            raise QueueFull(
                f"this session already has {self._queued} executions running or waiting "
                f"({show_size(self._queued_bytes)} of code); at most {MAX_QUEUED} "
                f"and {show_size(MAX_QUEUED_CODE_BYTES)} are held per session"
            )
        self._queued += 1
        self._queued_bytes += code_bytes
        done = False

        def release() -> None:
            nonlocal done
            if not done:
                done = True
                self._queued -= 1
                self._queued_bytes -= code_bytes

        return release

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    @property
    def gone(self) -> bool:
        """The session's process ended between calls (a `process.exit()` in a timer, say): the channel is not
        read then, so its exit status tells."""
        return self._process is None or self._process.returncode is not None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def start(self) -> "Session":
        ours, theirs = socket.socketpair()
        with_network = self.launcher.sandboxed and self.launcher.egress
        info_r, info_w = os.pipe() if with_network else (-1, -1)
        seccomp_r = self._seccomp_pipe()
        passed = [theirs.fileno(), *([info_w] if with_network else []), *([seccomp_r] if seccomp_r >= 0 else [])]
        args_r = -1
        try:
            command = self.launcher.command(
                self.data_dir,
                theirs.fileno(),
                uid=self.uid,
                group=self.group,
                info_fd=info_w if with_network else None,
                shared=self._shared,
                seccomp_fd=seccomp_r if seccomp_r >= 0 else None,
            )
            args_r = self._arguments_pipe(command)
            if args_r >= 0:
                command, _ = self.launcher.hiding_arguments(command, args_r)
                passed.append(args_r)
            self._process = processes.spawn(
                command,
                pass_fds=passed,
                env=self.launcher.environment(self.data_dir),
                # "/" keeps the scratch path out of the shell's PWD (bubblewrap moves into /mnt/data).
                cwd="/" if self.launcher.sandboxed else self.data_dir,
                start_new_session=True,
            )
        except BaseException:
            if with_network:
                os.close(info_r)
            self._release_files()
            raise
        finally:
            theirs.close()
            if with_network:
                os.close(info_w)
            if seccomp_r >= 0:
                os.close(seccomp_r)
            if args_r >= 0:
                os.close(args_r)
        try:
            self._reader, self._writer = await asyncio.open_connection(sock=ours, limit=CHANNEL_CHUNK)
        except BaseException:
            if with_network:
                os.close(info_r)
            raise
        try:
            if with_network:
                await self._attach_network(info_r)
            hello = await asyncio.wait_for(self._reader.readline(), START_TIMEOUT_S)
            if not hello:
                log.warning("a session's process ended before it said it was ready")
        except TimeoutError:
            log.warning("a session did not say it was ready within %.0f s", START_TIMEOUT_S)
            hello = b""
        except OSError as error:  # the network's set-up says what failed; the client is told only that it did
            log.warning("a session could not start: %s", error)
            hello = b""
        if json.loads(hello or b"{}").get("ready") is not True:
            await self.close()
            raise SessionEnded("the session's interpreter process did not start")
        self.alive = True
        self._hold_channel()
        return self

    def _hold_channel(self) -> None:
        """Reads nothing from the kernel between calls: what session code writes to the channel then waits
        in the socket's own small buffer, not in the emulator's memory (up to twice the reader's limit)."""
        if self._writer is not None:
            cast(asyncio.Transport, self._writer.transport).pause_reading()

    def _arguments_pipe(self, command: list[str]) -> int:
        """A pipe's read end holding bubblewrap's arguments (see `Launcher.hiding_arguments`), or -1."""
        _, payload = self.launcher.hiding_arguments(command, 0)
        if not payload:
            return -1
        if len(payload) >= 65536:  # written before bubblewrap starts: all of it must fit the pipe's buffer
            raise OSError(f"bubblewrap's arguments take {len(payload)} bytes, more than a pipe holds")
        read, write = os.pipe()
        try:
            os.write(write, payload)
        finally:
            os.close(write)
        return read

    def _seccomp_pipe(self) -> int:
        """A pipe's read end holding the seccomp program for bubblewrap, or -1 without one."""
        program = self.launcher.seccomp_filter if self.launcher.sandboxed else None
        if program is None:
            return -1
        read, write = os.pipe()
        try:
            os.write(write, program)  # a few KiB: well within a pipe's buffer
        finally:
            os.close(write)
        return read

    async def _attach_network(self, info_r: int) -> None:
        assert self.launcher.slirp is not None
        try:
            pid = await asyncio.wait_for(network.child_pid(info_r), START_TIMEOUT_S)
        finally:
            os.close(info_r)
        exit_r, self._network_exit = os.pipe()
        try:
            self._network = await network.attach(self.launcher.slirp, pid, exit_r, self.group)
        finally:
            os.close(exit_r)

    async def execute(
        self, code: str, timeout_s: float, output_limit: int = DEFAULT_OUTPUT_LIMIT, *, empty_kernel: bool = False
    ) -> Outcome:
        """Runs `code`; `output_limit` caps each output stream, in characters; `empty_kernel` runs it in the
        session's kernel without the preloaded packages (PythonLTS).

        An answer that cannot be read, or that answers another request, ends the session: reading on
        would hand one call's answer to the next.
        """
        async with self._lock:
            if not self.alive or self._writer is None or self._reader is None:
                raise SessionEnded("the session has ended")
            self.last_used = time.time()
            seq = next(self._numbers)
            request = {"seq": seq, "code": code, "timeoutMs": int(timeout_s * 1000), "outputLimit": output_limit}
            if empty_kernel:
                request["emptyKernel"] = True
            cast(asyncio.Transport, self._writer.transport).resume_reading()
            self._writer.write(json.dumps(request).encode() + b"\n")
            started = time.perf_counter()
            try:
                # asyncio.timeout, unlike wait_for, does not wrap the read in a new task: cheaper per call.
                async with asyncio.timeout(timeout_s + WATCHDOG_MARGIN_S):
                    line = await self._read_line(answer_bytes(output_limit, RESULT_LIMIT))
            except TimeoutError:
                await self.close()
                elapsed = int((time.perf_counter() - started) * 1000)
                message = f"Error: Execution timed out after {timeout_s:g} s; the session was stopped\n"
                return Outcome(False, "", message, "", elapsed)
            except AnswerTooLarge:
                await self.close()
                most = answer_bytes(output_limit, RESULT_LIMIT)
                raise SessionEnded(
                    f"the session's answer was larger than the {most} bytes its output and result limits allow, "
                    "so the session was stopped"
                ) from None
            except asyncio.CancelledError:
                # Its caller is gone (a client that hung up): the code is killed as at the watchdog's timeout, with
                # the session, whose next call would otherwise read this call's answer. The caller ends it in the pool.
                self._ended()
                self._kill()
                raise
            finally:
                self.last_used = time.time()
            if line is None:
                code_ = await self._exit_code()
                over_memory = self._reached_memory_cap()
                await self.close()
                if over_memory:
                    raise SessionEnded(
                        f"the session exceeded its memory cap ({show_size(self.launcher.caps.memory)}) "
                        "and was stopped; it will be replaced"
                    )
                raise SessionEnded(f"the session's process exited (code {code_}) during the execution")
            try:
                if len(line) <= INLINE_PARSE_BYTES:
                    answer = parse_answer(line, output_limit, RESULT_LIMIT)
                else:
                    answer = await asyncio.to_thread(parse_answer, line, output_limit, RESULT_LIMIT)
                del line
                if answer.seq != seq:
                    raise ForgedAnswer("an answer to another request")
            except ForgedAnswer:
                await self.close()
                raise SessionEnded("the session's answer could not be read, so the session was stopped") from None
            self._hold_channel()
            outputs = answer.extra.get("outputs", [])
            return Outcome(
                answer.ok,
                answer.stdout,
                answer.stderr,
                answer.result,
                round(answer.ms),
                outputs if isinstance(outputs, list) else [],
            )

    async def _read_line(self, bound: int) -> bytes | None:
        """The next line from the kernel, newline excluded; None once the channel has ended. Reads at most
        `bound` bytes of it (`AnswerTooLarge` past that): what follows the line waits for the next call."""
        assert self._reader is not None
        parts: list[bytes] = []
        size = 0
        chunk, self._unread = self._unread, b""
        while True:
            if not chunk:
                try:
                    chunk = await self._reader.read(CHANNEL_CHUNK)
                except OSError:  # a kernel that exits with a request unread resets the channel: it has ended too
                    return None
                if not chunk:
                    return None
            newline = chunk.find(b"\n")
            if newline >= 0:
                parts.append(chunk[:newline])
                self._unread = chunk[newline + 1 :]
                size += newline
                if size > bound:
                    raise AnswerTooLarge
                return parts[0] if len(parts) == 1 else b"".join(parts)
            size += len(chunk)
            if size > bound:
                raise AnswerTooLarge
            parts.append(chunk)
            chunk = b""

    def _reached_memory_cap(self) -> bool:
        """Whether the kernel killed a process of this session for its memory cap (asked before its groups go)."""
        return self.group is not None and self.group.oom_kills() > 0

    async def _exit_code(self) -> int | None:
        if self._process is None:
            return None
        try:
            return await asyncio.wait_for(self._process.wait(), 1.0)
        except TimeoutError:
            return None

    async def close(self) -> None:
        """Ends the process (and, through bubblewrap, everything it started) and removes its files.

        The removal runs in a worker thread: a session's cgroups may take a while to empty, and its
        folder may hold a million files; other sessions are served meanwhile. Its slot is freed after.
        """
        self._ended()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._kill()
        for process in (self._process, self._network):
            if process is not None:
                await process.wait()
        if self.group is not None and self.group.oom_kills():
            log.warning("a session reached its memory cap (%s) and was stopped", show_size(self.launcher.caps.memory))
        self._close_network_exit()
        if self._removal is None and not self._removed:
            self._removed = True
            self._removal = asyncio.get_running_loop().run_in_executor(TEARDOWNS, self._remove_files)
        if self._removal is not None:
            await asyncio.shield(self._removal)  # a second close waits for the same removal
        self._closed()

    def kill_now(self) -> None:
        """Kills the process group and removes the files without waiting; also the last resort at exit."""
        self._ended()
        self._kill()
        self._release_files()

    def _kill(self) -> None:
        for process in (self._process, self._network):
            if process is not None and process.returncode is None:
                # The kernel runs in its own process group; end all of it, not only the leader.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)

    def _close_network_exit(self) -> None:
        if self._network_exit >= 0:
            os.close(self._network_exit)
            self._network_exit = -1

    def _remove_files(self) -> None:
        """The session's cgroups (killing what is left in them) and its folder; safe in a worker thread."""
        if self.group is not None:
            self.group.remove()
        self.scratch.remove_data_dir(self.data_dir)

    def _closed(self) -> None:
        done, self.on_closed = self.on_closed, None
        if done is not None:
            done()

    def _ended(self) -> None:
        """The session takes no more calls, and what waited for its end is told, before any teardown."""
        self.alive = False
        hooks, self._when_ended = self._when_ended, []
        for hook in hooks:
            hook()

    def _release_files(self) -> None:
        self._close_network_exit()
        if not self._removed:
            self._removed = True
            self._remove_files()
        self._closed()
