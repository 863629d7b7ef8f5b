"""The emulator's pipe reads and writes (dynamic_sessions/emulator/sandbox/pipes.py), under both event loops it
may run on: asyncio's own and uvloop (which uvicorn picks when it is installed). Each leaves its descriptor
open for its owner to close once, starts no thread, and leaves the loop watching nothing once it returns or is
cancelled, so a number closed afterwards and reused at once is never read or written by what came before.
The egress fence, a process awaited on the loop with its errors read through a pipe, is held here too."""

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop

from dynamic_sessions.emulator.sandbox import pipes
from tests.conditions import until_async

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture(params=sorted(LOOPS))
def run(request) -> Iterator[Callable[[Coroutine[Any, Any, Any]], Any]]:
    loop = LOOPS[request.param]()
    yield loop.run_until_complete
    loop.close()


class Pipe:
    """A pipe's two ends; what the test does not close itself is closed after it, once."""

    def __init__(self) -> None:
        self.read, self.write = os.pipe()
        self.open = {self.read, self.write}

    def close(self, fd: int) -> None:
        self.open.remove(fd)
        os.close(fd)


@pytest.fixture
def pipe() -> Iterator[Pipe]:
    made = Pipe()
    yield made
    for fd in made.open:
        os.close(fd)


def _assert_unwatched(fd: int) -> None:
    """The running loop watches `fd` neither for reading nor for writing. asyncio's loop says so when a watch is
    removed; uvloop's says nothing, and its tests rest on what the reads and writes return."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, uvloop.Loop):
        assert (loop.remove_reader(fd), loop.remove_writer(fd)) == (False, False)


async def _cancelled_while_waiting(operation: Coroutine[Any, Any, Any]) -> None:
    """Starts `operation`, checks that no thread was started to wait in it, then cancels it."""
    threads = set(threading.enumerate())  # others' threads may end meanwhile; none may start
    pending = asyncio.ensure_future(operation)
    await asyncio.sleep(0.05)
    assert not pending.done()
    assert set(threading.enumerate()) <= threads, "a thread waits on the pipe, and would outlive the cancel"
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending


def test_a_read_returns_what_is_there_then_the_end_and_leaves_the_descriptor_open(run, pipe):
    read, write = pipe.read, pipe.write

    async def reads() -> list[bytes]:
        later = asyncio.get_running_loop().call_later(0.05, os.write, write, b"child-pid")
        got = [await pipes.read(read, 5), await pipes.read(read, 100)]
        later.cancel()
        pipe.close(write)
        got.append(await pipes.read(read, 100))
        _assert_unwatched(read)
        return got

    assert run(reads()) == [b"child", b"-pid", b""]
    os.fstat(read)  # still open: its owner closes it


def test_a_cancelled_read_leaves_nothing_reading_a_reused_descriptor(run):
    read, write = os.pipe()

    async def cancelled() -> bytes:
        await _cancelled_while_waiting(pipes.read(read, 1))
        _assert_unwatched(read)
        os.close(read)
        os.close(write)
        again, writer = os.pipe()
        try:
            assert again == read  # the kernel hands out the lowest free number: the one just closed
            os.write(writer, b"1")
            await asyncio.sleep(0.1)
            return os.read(again, 1)  # nothing of the cancelled read took it
        finally:
            os.close(again)
            os.close(writer)

    assert run(cancelled()) == b"1"


def test_a_write_waits_while_the_pipe_is_full_and_then_writes_everything(run, pipe):
    read, write = pipe.read, pipe.write
    data = os.urandom(4 << 20)  # 64 times what a pipe holds by default

    async def drained() -> bytes:
        got = bytearray()

        async def drain() -> None:
            while len(got) < len(data):
                await asyncio.sleep(0.001)
                got.extend(await pipes.read(read, 1 << 20))

        await asyncio.gather(pipes.write_all(write, data), drain())
        _assert_unwatched(write)
        return bytes(got)

    assert run(drained()) == data
    os.fstat(write)


def test_a_write_to_a_pipe_whose_reader_is_gone_raises_broken_pipe(run, pipe):
    pipe.close(pipe.read)
    with pytest.raises(BrokenPipeError):
        run(pipes.write_all(pipe.write, b"x" * 100_000))


def test_a_cancelled_write_leaves_the_loop_watching_nothing(run, pipe):
    async def cancelled() -> None:
        await _cancelled_while_waiting(pipes.write_all(pipe.write, b"x" * (1 << 20)))  # nobody reads
        _assert_unwatched(pipe.write)
        pipe.close(pipe.read)
        pipe.close(pipe.write)
        again, writer = os.pipe()
        try:
            os.write(writer, b"next")
            await asyncio.sleep(0.1)
            assert os.read(again, 100) == b"next"  # nothing more of the cancelled write arrived
        finally:
            os.close(again)
            os.close(writer)

    run(cancelled())


# --- the egress fence, run as a process of its own and awaited on the loop (sandbox/network.py) ---


def test_a_fence_that_fails_says_why_in_the_error(run):
    from dynamic_sessions.emulator.sandbox import network

    not_a_namespace = os.open(os.devnull, os.O_RDONLY)
    try:
        with pytest.raises(OSError, match=r"^cannot fence the session's network: setns: "):
            run(network._fence(not_a_namespace, os.getpid()))
    finally:
        os.close(not_a_namespace)


@pytest.fixture
def hanging_fence(tmp_path, monkeypatch) -> Path:
    """The fence replaced by one that never ends; returns the file it writes its pid to once started."""
    from dynamic_sessions.emulator.sandbox import network

    marker = tmp_path / "fence.pid"
    hanging = tmp_path / "fence.py"
    hanging.write_text(f"import os, time\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n")
    monkeypatch.setattr(network, "FENCE", hanging)
    return marker


def test_a_fence_that_hangs_is_killed_at_its_timeout(run, hanging_fence, monkeypatch):
    from dynamic_sessions.emulator.sandbox import network

    monkeypatch.setattr(network, "FENCE_TIMEOUT_S", 0.5)
    began = time.monotonic()
    with pytest.raises(OSError, match="fencing the session's network took too long"):
        run(network._fence(0, os.getpid()))
    assert time.monotonic() - began < 5
    fence = Path(f"/proc/{int(hanging_fence.read_text())}")
    # The emulator's loop runs on: the killed fence is reaped there.
    run(until_async(lambda: not fence.exists(), "the hung fence was killed and reaped"))


def _open_descriptors() -> set[str]:
    """This process's descriptors, each by its number and what it points at (every pidfd reads the same)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed by now
            found.add(f"{fd} {os.readlink(f'/proc/self/fd/{fd}')}")
    return found


def test_a_fence_whose_start_is_given_up_is_killed_and_reaped(run, hanging_fence):
    from dynamic_sessions.emulator.sandbox import network

    marker = hanging_fence
    before = _open_descriptors()

    async def given_up() -> None:
        fencing = asyncio.ensure_future(network._fence(0, os.getpid()))
        while not marker.exists() or not marker.read_text():
            await asyncio.sleep(0.02)
        fencing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await fencing
        fence = Path(f"/proc/{int(marker.read_text())}")
        await until_async(lambda: not fence.exists(), "the fence was killed and reaped on the loop")

    run(given_up())
    assert _open_descriptors() - before == set(), "its pidfd or its pipe was left open"


def test_an_upload_given_up_while_its_copier_lags_leaves_no_file_and_no_copier(run, tmp_path):
    from dynamic_sessions.emulator.sandbox.files import UPLOAD_PREFIX, Upload

    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    temporary = f"{UPLOAD_PREFIX}given-up"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=folder)
    before = _open_descriptors()

    async def given_up() -> int:
        # A copier that reads nothing: the held bytes fill its pipe, and finishing waits on it.
        upload = Upload(folder, temporary, "big.bin", fd, ["/bin/sleep", "60"])
        copier = upload._copy
        assert copier is not None
        upload.write(b"x" * (4 << 20))
        finishing = asyncio.ensure_future(upload.finish())
        await asyncio.sleep(0.2)
        assert not finishing.done()
        finishing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await finishing
        reaped = Path(f"/proc/{copier.pid}")
        await until_async(lambda: not reaped.exists(), "the copier was killed and reaped on the loop")
        return copier.pid

    try:
        pid = run(given_up())
        assert os.listdir(tmp_path) == [], "the upload's temporary file was left in the session's folder"
        assert not Path(f"/proc/{pid}").exists(), "the copier was left running, or a zombie"
        assert _open_descriptors() - before == set(), "a descriptor of the upload was left open"
    finally:
        os.close(folder)
