"""One Shell session: runs each command the way Azure's shell image does (`code-interpreter/shell/api-spec-shell.md`
in Azure-Samples/container-apps-dynamic-sessions-samples): `bash -c` (or `sh -c`) of a `shellCommand`, or the
`execCommandAndArgs` argv as it is, in /mnt/data, with its exit code, its output streams cut at
`outputStreamsMaxLength` characters, and a timeout that stops everything the command started.

Each command is a new shell: what carries over from one command to the next is the files of /mnt/data (and of
/tmp) and the processes a command left running in the background, not shell variables or `cd`. What those
processes write to the command's output after it returned is read and dropped.

The kernel is a child subreaper (prctl PR_SET_CHILD_SUBREAPER): a process the command started that detached
itself (`setsid`, a double fork) becomes the kernel's child, not init's, so on a timeout the kernel still finds
and kills it. It speaks the same JSON lines as kernel.py over an inherited socket (its fd number is the first
argument); `code` is the command as JSON. It imports nothing from the emulator and runs on Python 3.9.
Code-interpreter sessions start it as a one-shot helper for the MCP server's shell tool (see commands.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import selectors
import signal
import socket
import sys
import threading
import time
from typing import Any

PR_SET_CHILD_SUBREAPER = 36
SHELLS = {"bash": "/bin/bash", "sh": "/bin/sh"}
# After the command has exited, output still arriving from what it left in the background is read this long.
LINGER_S = 0.02
READ_BYTES = 65536


def become_subreaper() -> None:
    # Without it a detached process escapes the timeout's kill; the session's end still stops it.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            parents[int(name)] = int(fields[1])
    return parents


def descendants() -> set[int]:
    """Every live process below this kernel (with the subreaper, detached ones too)."""
    parents = _parents()
    found: set[int] = set()
    frontier = {os.getpid()}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def reap() -> None:
    """Collects the exit status of every child (orphans handed to this subreaper included): none stays a zombie."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_started(before: set[int]) -> None:
    """SIGKILLs every process below the kernel that was not there before the command, until none is left."""
    for _ in range(100):
        started = descendants() - before
        if not started:
            return
        for pid in started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)
        reap()


class Stream:
    """One output stream of a command: the first `limit` characters are kept, the rest is read and dropped."""

    def __init__(self, fd: int, limit: int) -> None:
        self.fd = fd
        # A character is at most 4 bytes of UTF-8: this many bytes always hold `limit` characters.
        self.room = limit * 4
        self.limit = limit
        self.kept: list[bytes] = []
        self.ended = False

    def read(self) -> bool:
        """Reads what is there; False at the end of the stream."""
        try:
            chunk = os.read(self.fd, READ_BYTES)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not chunk:
            self.ended = True
            return False
        if self.room > 0:
            self.kept.append(chunk[: self.room])
            self.room -= len(self.kept[-1])
        return True

    def text(self) -> str:
        return b"".join(self.kept).decode("utf-8", "replace")[: self.limit]


def run(request: dict[str, Any], timeout_ms: int, limit: int) -> dict[str, Any]:
    if "execCommandAndArgs" in request:
        argv = [str(a) for a in request["execCommandAndArgs"]]
    else:
        argv = [SHELLS.get(request.get("shellType", "bash"), SHELLS["bash"]), "-c", request["shellCommand"]]
    before = descendants()
    started = time.perf_counter()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = os.posix_spawnp(
            argv[0],
            argv,
            dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out_w, 1),
                (os.POSIX_SPAWN_DUP2, err_w, 2),
            ],
            setsid=True,
            # Python ignores SIGPIPE and an ignored signal stays ignored across exec: commands get the default
            # back, as from a shell (`yes | head -1` ends quietly instead of reporting a broken pipe).
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
        )
    except OSError as error:
        for fd in (out_r, out_w, err_r, err_w):
            os.close(fd)
        message = f"{argv[0]}: {error.strerror}"
        return _answer(started, -1, "", message + "\n", "CommandStartError", message)
    os.close(out_w)
    os.close(err_w)
    streams = [Stream(out_r, limit), Stream(err_r, limit)]
    status = _collect(pid, streams, started + max(timeout_ms, 1) / 1000)
    if status is None:
        kill_started(before)
    for stream in streams:
        if stream.ended or status is None:
            os.close(stream.fd)
        else:
            _drain(stream.fd)
    stdout, stderr = streams[0].text(), streams[1].text()
    if status is None:
        seconds = f"{timeout_ms / 1000:g}"
        message = f"The command did not finish within {seconds} seconds; everything it started was stopped."
        return _answer(started, -1, stdout, stderr, "ExecutionTimeout", message)
    reap()
    return _answer(started, _exit_code(status), stdout, stderr, "", "")


def _collect(pid: int, streams: list[Stream], deadline: float) -> int | None:
    """Reads both streams until they end and the command exits; its wait status, or None at the deadline."""
    selector = selectors.DefaultSelector()
    for stream in streams:
        os.set_blocking(stream.fd, False)
        selector.register(stream.fd, selectors.EVENT_READ, stream)
    exited = _exit_notice(pid)
    if exited >= 0:
        selector.register(exited, selectors.EVENT_READ, None)
    status: int | None = None
    linger_until = float("inf")
    try:
        while True:
            if status is None:
                done, wait_status = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = wait_status
                    linger_until = time.perf_counter() + LINGER_S
                    if exited >= 0:
                        selector.unregister(exited)
            now = time.perf_counter()
            reading = any(key.data is not None for key in selector.get_map().values())
            if status is not None and (not reading or now >= linger_until):
                return status
            if status is None and now >= deadline:
                return None
            wait = (linger_until if status is not None else deadline) - now
            if status is None and exited < 0:
                wait = min(wait, 0.002)  # no pidfd: the command's exit is looked for every 2 ms
            for key, _ in selector.select(max(wait, 0)):
                if key.data is not None and not key.data.read():
                    selector.unregister(key.fd)
    finally:
        selector.close()
        if exited >= 0:
            os.close(exited)


def _drain(fd: int) -> None:
    """Reads and drops what a process left in the background still writes to its command's stream, until it
    ends: closed, the stream would kill the process with SIGPIPE at its next write (a server's log line)."""

    def read_to_the_end() -> None:
        os.set_blocking(fd, True)
        with contextlib.suppress(OSError):
            while os.read(fd, READ_BYTES):
                pass
        os.close(fd)

    threading.Thread(target=read_to_the_end, daemon=True).start()


def _exit_notice(pid: int) -> int:
    """A pidfd of the command (readable once it exits), or -1 where the kernel has none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return -1


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)  # as a shell reports a command killed by a signal
    return os.waitstatus_to_exitcode(status)


def _answer(started: float, exit_code: int, stdout: str, stderr: str, error_name: str, message: str) -> dict[str, Any]:
    elapsed = (time.perf_counter() - started) * 1000
    result = {"exitCode": exit_code, "errorName": error_name, "errorMessage": message}
    return {"ok": exit_code == 0, "stdout": stdout, "stderr": stderr, "result": result, "ms": elapsed}


def main(argv: list[str]) -> None:
    channel = socket.socket(fileno=int(argv[1]) if len(argv) > 1 else 3)
    # Commands inherit stdin, stdout and stderr only: not the channel (they could read the requests or answer
    # in the kernel's place), nor whatever else reached the kernel through the sandbox's start.
    for name in os.listdir("/proc/self/fd"):
        if int(name) > 2:
            with contextlib.suppress(OSError):
                os.set_inheritable(int(name), False)
    become_subreaper()
    # The commands' environment: what the sandbox set, and a working folder /mnt/data knows as its own name.
    os.environ["PWD"] = os.getcwd()
    reader = channel.makefile("rb")
    channel.sendall(b'{"ready":true}\n')
    for line in reader:
        request = json.loads(line)
        answer = run(json.loads(request["code"]), int(request["timeoutMs"]), int(request["outputLimit"]))
        answer["seq"] = request["seq"]
        channel.sendall(json.dumps(answer).encode() + b"\n")
    # The emulator closed the channel: the session is over.


if __name__ == "__main__":
    main(sys.argv)
