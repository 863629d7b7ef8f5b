"""A hostile tenant against what the emulator holds for it in its /mnt/data: a session of hundreds of
thousands of files torn down while other sessions run, and uploads charged to the session's memory cap.

Each is judged from the host: what other sessions get back and how long they wait, the session's memory
cgroup and what its files hold.
"""

import os
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.emulator_process import Emulator, bearer, descendants
from tests.test_tenant_bounds import MIB, SYNC, _emulator, _params, _rss_mib, as_root

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


# --- 7, 8. tearing down a session of many files --------------------------------------------------

MANY_FILES = """
const script = 'cd /mnt/data && seq 1 %d | xargs touch && ls -f | wc -l';
const made = require('child_process').spawnSync('/bin/sh', ['-c', script]);
Number(String(made.stdout).trim())
"""


def _latencies_while(emulator: Emulator, identifier: str, stop: threading.Event, into: list[float]) -> None:
    with httpx.Client(base_url=emulator.url, timeout=60, headers=bearer()) as client:
        while not stop.is_set():
            started = time.monotonic()
            answer = client.post("/executions", params=_params(identifier), json={**SYNC, "code": "1"})
            into.append(time.monotonic() - started)
            assert answer.status_code == 200


@pytest.mark.parametrize("mode", ["root", "nobody"])
def test_ending_a_session_of_hundreds_of_thousands_of_files_never_stalls_other_sessions(mode):
    if mode == "root" and os.geteuid() != 0:
        pytest.skip("root mode needs root")
    count = 400_000 if mode == "root" else 200_000  # on a tmpfs as root, on the host's disk as a user
    with _emulator(mode, "--max-sessions", "3") as emulator:
        making = {**SYNC, "code": MANY_FILES % count, "timeoutInSeconds": 150}
        made = emulator.http.post("/executions", params=_params("hoarder"), json=making, timeout=180).json()
        assert made["result"]["executionResult"] >= count, made
        emulator.execute("1", "bystander")
        stop, latencies = threading.Event(), list[float]()
        pinger = threading.Thread(target=_latencies_while, args=(emulator, "bystander", stop, latencies))
        pinger.start()
        time.sleep(0.3)
        started = time.monotonic()
        ended = emulator.http.delete("/session", params=_params("hoarder"))
        teardown = time.monotonic() - started
        time.sleep(0.3)
        stop.set()
        pinger.join()
        assert ended.status_code == 204
        # The teardown takes real time (else this proves nothing); the bystander never waits for it.
        assert teardown > 0.3, f"the teardown took only {teardown:.2f} s"
        assert max(latencies) < teardown / 2, (max(latencies), teardown, len(latencies))
        assert emulator.execute("2", "hoarder")["status"] == "Succeeded"


# --- 9. uploads count towards the session's memory cap --------------------------------------------


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
    return emulator.http.post("/files", params=_params(identifier), files={"file": (name, b"u" * size)})


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
