"""What sessions and emulators leave when they end: a killed emulator's scratch folder and cgroups, a clean
stop, sessions of hundreds of thousands of files or thousands of levels torn down while others run, folders
a session locked, the history of sessions that end by cooldown.

Each attack runs as session code (or a client) against a real emulator process, and is judged by what
the host sees."""

import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from dynamic_sessions.emulator.sandbox import cgroups
from dynamic_sessions.emulator.sandbox.scratch import scratch_root
from tests.conditions import until
from tests.emulator_process import NO_TLS, Emulator, bearer, descendants
from tests.sandbox_support import (
    ASYNC,
    MIB,
    SYNC,
    V,
    _emulator,
    _host_folder,
    _params,
    _rss_mib,
    _run,
    exited,
    kernel_of,
    run,
    started_by,
)

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


def _groups_of(pid: int) -> list[Path]:
    """Where an emulator with this pid, started by this test process, makes its control groups."""
    found, _ = cgroups.discover()
    return [controller.parent / f"{cgroups.PREFIX}{pid}" for controller in found]


MANY_FILES = """
const script = 'cd /mnt/data && seq 1 %d | xargs touch && ls -f | wc -l';
const made = require('child_process').spawnSync('/bin/sh', ['-c', script]);
Number(String(made.stdout).trim())
"""


# A bystander calls every 20 ms, not back to back: a stall of the emulator's loop long enough to fail these tests
# (0.15 s and more) still catches one of its calls, and the teardown is not slowed by a neighbour that takes a
# whole core.
PACE_S = 0.02


def _latencies_while(emulator: Emulator, identifier: str, stop: threading.Event, into: list[float]) -> None:
    with httpx.Client(base_url=emulator.url, timeout=60, headers=bearer(), verify=NO_TLS) as client:
        while not stop.is_set():
            started = time.monotonic()
            answer = client.post("/executions", params=_params(identifier), json={**SYNC, "code": "1"})
            into.append(time.monotonic() - started)
            assert answer.status_code == 200
            stop.wait(PACE_S)


LOCKED = """
const fs = require('fs');
fs.mkdirSync('/mnt/data/k/l', {recursive: true});
fs.writeFileSync('/mnt/data/k/l/locked-blob', Buffer.alloc(1024 * 1024, 1));
fs.chmodSync('/mnt/data/k/l', 0); fs.chmodSync('/mnt/data/k', 0); fs.chmodSync('/mnt/data', 0);
'locked'
"""


def _found(folder: str, name: str) -> list[str]:
    """Every path named `name` below `folder`, as root sees them (through folders without permissions)."""
    return [os.path.join(where, name) for where, _, files in os.walk(folder) if name in files]


DIES_LEAVING_MANY_FILES = """
require('child_process').spawnSync('/bin/sh', ['-c', 'cd /mnt/data && seq 1 200000 | xargs touch']);
setTimeout(() => process.exit(3), 100);
'made'
"""


def _etags(emulator: Emulator) -> dict[str, str]:
    """Each live session's identifier and etag: a new etag under an identifier is a new session."""
    listed = emulator.http.get("/listSessions", params={"api-version": V}).json()["sessions"]
    return {session["identifier"]: session["etag"] for session in listed}


def _rss_while(pid: int, stop: threading.Event, into: list[tuple[float, float]]) -> None:
    while not stop.is_set():
        into.append((time.monotonic(), _rss_mib(pid)))
        time.sleep(0.01)


# Holds its session busy, so that the cooldown cannot end it, until the test puts a file named `go` in its /mnt/data
# (an upload reaches the folder without the session's kernel); a file named `waiting` says it has begun.
HOLD = """
const fs = require('fs');
fs.writeFileSync('/mnt/data/waiting', '');
const cell = new Int32Array(new SharedArrayBuffer(4));
while (!fs.existsSync('/mnt/data/go')) Atomics.wait(cell, 0, 0, 50);
'released'
"""


def _files(emulator: Emulator, identifier: str) -> set[str]:
    listed = emulator.http.get("/files", params=_params(identifier)).json()["value"]
    return {entry["name"] for entry in listed}


@pytest.fixture
def private_tmpdir() -> Iterator[str]:
    """A TMPDIR of the test's own, session uids may pass through: the scratch root of the emulators given it,
    where no other emulator (another test process's) removes a killed one's folder first."""
    folder = tempfile.mkdtemp(prefix="scratch-root-")
    os.chmod(folder, 0o711)  # noqa: S103  (passed through, never listed, as the scratch root itself)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_killed_emulators_scratch_folder_is_removed_by_the_next_one(private_tmpdir):
    env = {**os.environ, "TMPDIR": private_tmpdir}
    doomed = Emulator("--max-sessions", "4", env=env)
    try:
        run(doomed, "require('fs').writeFileSync('/mnt/data/tenant.txt', 'secret')", "tenant")
        root = Path(private_tmpdir, scratch_root().name)
        folders = list(root.glob(f"emulator-{doomed.process.pid}-*"))
        assert len(folders) == 1 and any(folders[0].glob("session-*/tenant.txt"))
        groups = _groups_of(doomed.process.pid)
        assert all(group.is_dir() for group in groups)
        sandboxes = descendants(doomed.process.pid)
        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait()
    finally:
        doomed.stop()
    # Its sandboxes die with it (bubblewrap's --die-with-parent); on a busy machine that takes a while.
    until(lambda: not any(os.path.exists(f"/proc/{p}") for p in sandboxes), "the killed emulator's sandboxes ended")
    assert folders[0].exists()
    # Its groups are where every emulator of this cgroup looks: another test process's may remove them first.
    Emulator("--max-sessions", "4", env=env).stop()
    assert not folders[0].exists()
    assert not any(folders[0].name in line for line in Path("/proc/self/mountinfo").read_text().splitlines())
    assert not [group for group in groups if group.exists()]


def test_nothing_stays_after_a_clean_stop(launch):
    emulator = launch("--ready-sessions", "1")
    run(emulator, "require('fs').writeFileSync('/mnt/data/x', 'y')", "cleaner")
    pid = emulator.process.pid
    groups = _groups_of(pid)
    assert list(scratch_root().glob(f"emulator-{pid}-*"))
    assert emulator.stop() in (0, -signal.SIGTERM)
    assert not list(scratch_root().glob(f"emulator-{pid}-*"))
    assert not any(f"emulator-{pid}-" in line for line in Path("/proc/self/mountinfo").read_text().splitlines())
    assert not [group for group in groups if group.exists()]


@pytest.mark.parametrize("mode", ["root", "nobody"])
def test_ending_a_session_of_hundreds_of_thousands_of_files_never_stalls_other_sessions(mode, memory_folder):
    if mode == "root" and os.geteuid() != 0:
        pytest.skip("root mode needs root")
    # On a tmpfs in both modes: the session's own as root, as a user (whose /mnt/data is a plain folder of
    # the scratch folder, removed by the same code as on a disk) under a TMPDIR on /dev/shm, as many systems'
    # /tmp is; a disk would only make the files slower to make, and their number less even.
    count = 300_000
    flags = ("--max-sessions", "3", "--output-max-length", str(40 * MIB))
    with _emulator(mode, *flags, tmpdir=memory_folder) as emulator:
        making = {**SYNC, "code": MANY_FILES % count, "timeoutInSeconds": 150}
        made = emulator.http.post("/executions", params=_params("hoarder"), json=making, timeout=180).json()
        assert made["result"]["executionResult"] >= count, made
        emulator.execute("1", "bystander")
        before = _rss_mib(emulator.process.pid)
        emulator.execute("console.log('x'.repeat(36 * 1024 * 1024)); 'kept'", "hoarder", timeoutInSeconds=60)
        held = _rss_mib(emulator.process.pid) - before
        stop, latencies, rss = threading.Event(), list[float](), list[tuple[float, float]]()
        pinger = threading.Thread(target=_latencies_while, args=(emulator, "bystander", stop, latencies))
        watcher = threading.Thread(target=_rss_while, args=(emulator.process.pid, stop, rss))
        pinger.start()
        time.sleep(0.3)
        watcher.start()
        started = time.monotonic()
        ended = emulator.http.delete("/session", params=_params("hoarder"))
        teardown = time.monotonic() - started
        time.sleep(0.3)
        stop.set()
        pinger.join()
        watcher.join()
        assert ended.status_code == 204
        # The teardown takes real time (else this proves nothing); the bystander never waits for it.
        assert teardown > 0.3, f"the teardown took only {teardown:.2f} s"
        assert max(latencies) < teardown / 2, (max(latencies), teardown, len(latencies))
        # Nothing can read the hoarder's history once it has ended, so it is not held while its files go.
        assert held > 30, f"the hoarder's history should hold about 36 MiB, RSS grew {held:.0f} MiB"
        early = [mib - before for at, mib in rss if started < at < started + teardown / 2]
        least = min(early, default=held)
        assert least < held / 3, f"{least:.0f} of {held:.0f} MiB still held in the teardown's first half"
        assert emulator.execute("2", "hoarder")["status"] == "Succeeded"


def test_as_an_ordinary_user_folders_a_session_locked_are_removed_with_it(memory_folder):
    # Run by an ordinary user, session code is that user, and may take every permission off its own folders.
    with _emulator("nobody", "--max-sessions", "2", tmpdir=memory_folder) as emulator:
        assert emulator.execute(LOCKED, "locker")["result"]["executionResult"] == "locked"
        assert len(_found(memory_folder, "locked-blob")) == 1
        assert emulator.http.delete("/session", params=_params("locker")).status_code == 204
        assert _found(memory_folder, "locked-blob") == [], "the session's files outlived it on the host"
        assert emulator.execute("1 + 1", "after-locker")["result"]["executionResult"] == 2


def test_calls_that_arrive_while_a_dead_session_is_torn_down_share_one_new_session():
    # The first call finds the session dead and waits out its teardown (200,000 files); the second, meanwhile,
    # starts the next session. The first must then use that one, not start a third over it.
    with _emulator("root" if os.geteuid() == 0 else "user", "--max-sessions", "4") as emulator:
        started = started_by(emulator, kernel_of(emulator, "phoenix"))
        made = emulator.execute(DIES_LEAVING_MANY_FILES, "phoenix", timeoutInSeconds=120)
        assert made["result"]["executionResult"] == "made", made
        until(lambda: exited(started), "the session's sandbox ended")

        def count() -> int:
            code = "globalThis.calls = (globalThis.calls || 0) + 1"
            return emulator.execute(code, "phoenix", timeoutInSeconds=60)["result"]["executionResult"]

        with ThreadPoolExecutor(2) as threads:
            first = threads.submit(count)
            time.sleep(0.05)
            second = threads.submit(count)
            counted = sorted([first.result(), second.result()])
        assert counted == [1, 2], f"the two calls ran in two different sessions: {counted}"
        listed = emulator.http.get("/listSessions", params={"api-version": V}).json()["sessions"]
        assert [s["identifier"] for s in listed] == ["phoenix"]


def test_the_history_of_sessions_that_end_by_cooldown_is_released():
    # Outputs of 36 MiB: the allocator maps each apart (past its 32 MiB threshold) and unmaps it once
    # freed, so the emulator's RSS shows what is held. One after another (three at once once left 72 of 180 MiB
    # mapped after every session had ended). Behind each output, queued in the same session, code that holds the
    # session busy until the test lets it go: the cooldown ends no session before the RSS is read, however slowly
    # the machine runs the test, and then ends every one.
    flags = ("--max-sessions", "4", "--cooldown", "6", "--output-max-length", str(40 * MIB))
    with _emulator("root" if os.geteuid() == 0 else "user", *flags) as emulator:
        emulator.execute("1", "warm")
        before = _rss_mib(emulator.process.pid)
        kept: dict[str, str] = {}  # identifier: the etag (its process) of the session that holds the output
        for s in range(3):
            identifier = f"kept-{s}"
            output = {**ASYNC, "code": "console.log('x'.repeat(36 * 1024 * 1024)); 'kept'", "timeoutInSeconds": 120}
            for body in (output, {**ASYNC, "code": HOLD, "timeoutInSeconds": 220}):
                queued = emulator.http.post("/executions", params=_params(identifier), json=body)
                assert queued.status_code == 202, queued.text
            until(lambda: "waiting" in _files(emulator, identifier), f"{identifier}'s output and hold")  # noqa: B023
            kept[identifier] = _etags(emulator)[identifier]
        held = _rss_mib(emulator.process.pid) - before
        now = _etags(emulator)
        assert {name: now.get(name) for name in kept} == kept, "a kept session ended before its history was measured"
        assert held > 80, f"the history should hold about 108 MiB, RSS grew {held:.0f} MiB"
        for identifier in kept:
            let_go = emulator.http.post("/files", params=_params(identifier), files={"file": ("go", b"")})
            assert let_go.status_code == 200, let_go.text
        until(lambda: not _etags(emulator), "every session ended by its cooldown")
        left = _rss_mib(emulator.process.pid) - before
        assert left < held / 3, f"{left:.0f} of {held:.0f} MiB still held after every session ended"


def test_teardowns_at_once_leave_other_sessions_large_answers_on_time(memory_folder):
    # Seven sessions of 60,000 files ended together. Each teardown waits on rm in a thread; on asyncio's default
    # pool (cores + 4 threads, 6 here) they held every thread that parses another session's answer of more
    # than 64 KiB, which then waited for them. Run by nobody where the tests run as root: a root emulator's
    # sessions keep their files on a tmpfs of their own, which the kernel may free after the teardown has
    # returned (once the session's last process is gone), so the teardowns' length would be the kernel's to
    # choose (0.06 s in one run, 0.5 s in others); a user's are removed by rm, in the teardown itself.
    heavy = [f"heavy-{n}" for n in range(7)]
    mode = "nobody" if os.geteuid() == 0 else "user"
    with _emulator(mode, "--max-sessions", "8", tmpdir=memory_folder) as emulator:
        for identifier in heavy:
            made = emulator.execute(MANY_FILES % 60_000, identifier, timeoutInSeconds=60)
            assert made["result"]["executionResult"] >= 60_000, made
        large = "'x'.repeat(300000)"  # its answer is parsed in a worker thread
        assert len(emulator.execute(large, "victim")["result"]["executionResult"]) == 300_000

        def end(identifier: str) -> float:
            started = time.monotonic()
            ended = emulator.http.delete("/session", params=_params(identifier))
            assert ended.status_code == 204
            return time.monotonic() - started

        latencies: list[float] = []
        with ThreadPoolExecutor(len(heavy)) as threads:
            endings = [threads.submit(end, identifier) for identifier in heavy]
            time.sleep(0.05)
            while not all(ending.done() for ending in endings):
                started = time.monotonic()
                assert emulator.execute(large, "victim")["status"] == "Succeeded"
                latencies.append(time.monotonic() - started)
                time.sleep(PACE_S)
            teardown = max(ending.result() for ending in endings)
    assert teardown > 0.3, f"the teardowns took only {teardown:.2f} s"
    # Held by the teardowns, it took most of their time (0.29 and 0.39 s of 0.48 and 0.56 s); now about 0.05 s.
    assert latencies and max(latencies) < teardown / 3, (max(latencies, default=None), teardown, len(latencies))


def test_a_folder_tree_thousands_of_levels_deep_is_removed_with_its_session(launch):
    # Without caps (as for an ordinary user) /mnt/data is a plain host folder the emulator deletes itself.
    fresh = launch("--no-caps", "--max-sessions", "1")
    folder = _host_folder(fresh, "deep-tree")
    _run(
        fresh,
        "const fs = require('fs'); for (let i = 0; i < 3000; i++) { fs.mkdirSync('d'); process.chdir('d'); } 1",
        "deep-tree",
    )
    ended = fresh.http.delete("/session", params={"api-version": V, "identifier": "deep-tree"})
    assert ended.status_code == 204, ended.text
    assert not folder.exists()
    _run(fresh, "1", "after-deep-tree")  # its slot was freed
