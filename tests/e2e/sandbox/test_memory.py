"""A session's memory cap: what its code allocates, what it keeps in /tmp, and what is uploaded to it.

Each attack runs as session code (or a client) against a real emulator process, and is judged by what
the host sees."""

import contextlib
import io
import os
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

from dynamic_sessions.emulator.sandbox.caps import parse_size
from tests.emulator_process import Emulator, descendants
from tests.sandbox_support import (
    ALLOCATE_3_GIB,
    MIB,
    _emulator,
    _params,
    _rss_mib,
    as_root,
    kernel_of,
    run,
    shell,
    status,
    tree,
)

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


def rss_kib(pids: set[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(status(pid).get("VmRSS", "0 kB").split()[0])
        except OSError:
            continue
    return total


def _memory_group_bytes(pid: int) -> int:
    """What the memory cgroup of `pid` holds (cgroup v1 or v2), pages of its tmpfs files included."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        number, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return int(Path("/sys/fs/cgroup/memory", path.lstrip("/"), "memory.usage_in_bytes").read_text())
        if number == "0" and not Path("/sys/fs/cgroup/memory").is_dir():
            return int(Path("/sys/fs/cgroup", path.lstrip("/"), "memory.current").read_text())
    raise AssertionError(f"no memory cgroup for {pid}")


def _upload(emulator: Emulator, identifier: str, name: str, size: int) -> httpx.Response:
    # A file, as the package's client sends one: 64 KiB at a time.
    return emulator.http.post("/files", params=_params(identifier), files={"file": (name, io.BytesIO(b"u" * size))})


@as_root
def test_three_gib_of_buffers_end_only_that_session_within_its_memory_cap(launch):
    cap = parse_size("256M")
    emulator = launch("--memory-limit", "256M")
    bystander = kernel_of(emulator, "bystander")
    victim = kernel_of(emulator, "hogger")
    peak = [0]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(tree(victim)) * 1024)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        outcome = emulator.execute(ALLOCATE_3_GIB, "hogger", timeoutInSeconds=60)
    finally:
        done.set()
        watcher.join()
    assert outcome["status"] == "Failed"
    assert "exceeded its memory cap (256 MiB)" in outcome["result"]["stderr"], outcome
    assert not os.path.exists(f"/proc/{victim}")
    # RSS also counts Node's binary, mapped from the page cache and charged where it was first read.
    assert peak[0] <= cap + 64 * 1024 * 1024, f"session RSS peaked at {peak[0] >> 20} MiB"
    assert kernel_of(emulator, "hogger") != victim  # the next call gets a fresh session
    assert run(emulator, "21 * 2", "bystander")["executionResult"] == 42
    assert kernel_of(emulator, "bystander") == bystander
    assert "reached its memory cap" in emulator.logs()


@as_root
def test_what_a_session_keeps_in_tmp_counts_towards_its_memory_cap(launch):
    emulator = launch("--memory-limit", "64M", "--tmp-size", "512M")
    pid = kernel_of(emulator, "tmp-hog")
    emulator.execute(shell("head -c 300000000 /dev/zero > /tmp/big; echo done"), "tmp-hog", timeoutInSeconds=60)
    with contextlib.suppress(FileNotFoundError):  # the session may have been ended for it
        assert os.path.getsize(f"/proc/{pid}/root/tmp/big") <= parse_size("64M")


@as_root
def test_uploads_are_charged_to_the_sessions_own_memory_cap():
    with _emulator("root", "--max-sessions", "2", "--memory-limit", "512M") as emulator:
        emulator.execute("1", "uploader")
        kernel = next(
            p
            for p in descendants(emulator.process.pid)
            if Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0].endswith(b"node")
        )
        before = _memory_group_bytes(kernel)
        assert _upload(emulator, "uploader", "first.bin", 100 * MIB).status_code == 200
        assert _memory_group_bytes(kernel) - before > 90 * MIB, "the upload's pages are not the session's"
        # 320 MiB held by code and 300 MiB of uploads cannot both fit in 512 MiB.
        emulator.execute("globalThis.hoard = Buffer.alloc(320 * 1024 * 1024, 1); 'held'", "uploader")
        statuses = [_upload(emulator, "uploader", f"more-{n}.bin", 100 * MIB).status_code for n in range(2)]
        alive = kernel in descendants(emulator.process.pid)
        if alive:  # what its code holds and what its files hold, together
            files = os.statvfs(f"/proc/{kernel}/root/mnt/data")
            in_use = _rss_mib(kernel) * MIB + (files.f_blocks - files.f_bfree) * files.f_frsize
        else:  # the kernel stopped it at its cap
            in_use = 0
        assert in_use <= 540 * MIB, f"the session holds {in_use / MIB:.0f} MiB under a 512 MiB cap ({statuses})"
        assert 507 in statuses or not alive, statuses
