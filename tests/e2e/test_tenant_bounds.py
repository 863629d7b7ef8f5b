"""A hostile tenant against what the emulator holds for it: inherited descriptors, its answers on the
kernel channel, its execution history and queue, slow request bodies, address families, per-user kernel
objects, its uploads and its request numbers (what its sessions leave when they end:
test_tenant_bounds_ending.py).

Each attack is judged from the host: descriptors under /proc/<pid>/fd, host files, the emulator's RSS,
what other sessions and clients get back.
"""

import contextlib
import errno
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dynamic_sessions.emulator.api import bodies
from tests.e2e.test_sandbox import ORDINARY_UID, _python_for, _user_env, as_user
from tests.emulator_process import NO_TLS, ROOT, Emulator, bearer, descendants, serving

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="root mode: the test suite runs as an ordinary user")
V = "2025-10-02-preview"
MIB = 1024 * 1024


def _params(identifier: str) -> dict[str, str]:
    return {"api-version": V, "identifier": identifier}


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _user_emulator(*flags: str, pass_fds: tuple[int, ...] = (), tmpdir: str | None = None) -> Emulator:
    python = _python_for(ORDINARY_UID)
    if python is None:
        pytest.skip("no Python this machine's ordinary users may run with the project importable")
    return Emulator(
        *flags,
        interpreter=[*as_user(ORDINARY_UID), python],
        cwd="/",
        env={**_user_env(), **({"TMPDIR": tmpdir} if tmpdir else {})},
        log_owner=ORDINARY_UID,
        pass_fds=pass_fds,
    )


@pytest.fixture(scope="module")
def emulator_flags() -> tuple[str, ...]:
    """The Node emulator the module's tests share when they need no flags of their own."""
    return ("--max-sessions", "12")


@pytest.fixture(scope="module")
def python_emulator() -> Iterator[Emulator]:
    """The PythonLTS emulator the module's tests share."""
    yield from serving("--container-type", "PythonLTS", "--max-sessions", "6")


@pytest.fixture(scope="module")
def nobody_emulator() -> Iterator[Emulator]:
    """The PythonLTS emulator, without its preloaded packages and with a 256 MiB memory cap, that nobody runs
    for the module's tests of an ordinary user's kernel objects."""
    flags = ("--container-type", "PythonLTS", "--python-packages", "none", "--memory-limit", "256M")
    with _emulator("nobody", *flags) as running:
        yield running


@contextlib.contextmanager
def _emulator(mode: str, *flags: str, pass_fds: tuple[int, ...] = (), tmpdir: str | None = None) -> Iterator[Emulator]:
    """An emulator run by root, by whoever runs the tests ("user") or by nobody, whose scratch folder is then
    under `tmpdir` if given."""
    if mode == "nobody" and os.geteuid() != 0:  # "user" is whoever runs the tests
        pytest.skip("switching to nobody needs root")
    if mode == "nobody":
        running = _user_emulator(*flags, pass_fds=pass_fds, tmpdir=tmpdir)
    else:
        running = Emulator(*flags, pass_fds=pass_fds)
    try:
        yield running
    finally:
        running.stop()


# --- 1. descriptors the emulator inherited -------------------------------------------------------


def _identity(fd: int) -> tuple[int, int]:
    status = os.fstat(fd)
    return status.st_dev, status.st_ino


def _open_files(pid: int) -> set[tuple[int, int]]:
    """(device, inode) of what a process's descriptors name, but anonymous inodes and /dev/null."""
    found = set()
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for entry in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(entry.path).startswith("anon_inode:") or os.readlink(entry.path) == "/dev/null":
                    continue
                target = os.stat(entry.path)
                found.add((target.st_dev, target.st_ino))
    return found


REACH_INHERITED = """
const fs = require('fs');
const found = [];
for (const n of fs.readdirSync('/proc/self/fd')) {
  let target = '';
  try { target = fs.readlinkSync('/proc/self/fd/' + n); } catch { continue; }
  if (target === %(folder)s) {
    try { found.push('listed ' + fs.readdirSync('/proc/self/fd/' + n).join(',')); } catch (e) { found.push(String(e)); }
  }
  if (target === %(file)s) {
    try { fs.writeSync(Number(n), 'appended\\n'); found.push('wrote'); } catch (e) { found.push(String(e)); }
  }
}
found
"""


@pytest.mark.parametrize("mode", ["root", "nobody"])
def test_descriptors_the_emulator_inherited_never_reach_session_code(mode, tmp_path):
    if mode == "root" and os.geteuid() != 0:
        pytest.skip("root mode needs root")
    tmp_path.chmod(0o755)
    folder = tmp_path / "host-folder"
    folder.mkdir(mode=0o755)
    (folder / "host-secret").write_text("secret")
    log = tmp_path / "host.log"
    log.write_text("host log\n")
    log.chmod(0o666)
    directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    appending = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        # Inheritable, as a shell's `9</dir` or a careless supervisor leaves them.
        for fd in (directory, appending):
            os.set_inheritable(fd, True)
        with _emulator(mode, "--max-sessions", "2", pass_fds=(directory, appending)) as emulator:
            code = REACH_INHERITED % {"folder": json.dumps(str(folder)), "file": json.dumps(str(log))}
            seen = emulator.execute(code, "inheritor")["result"]["executionResult"]
            assert seen == [], seen
            # The two planted, and anything else the emulator holds (its pipes, sockets, files), but
            # anonymous inodes (one inode for every epoll or eventfd) and /dev/null.
            held = _open_files(emulator.process.pid) | {_identity(directory), _identity(appending)}
            for pid in descendants(emulator.process.pid):
                shared = _open_files(pid) & held
                assert not shared, f"pid {pid} holds descriptors of the emulator's: {shared}"
        assert log.read_text() == "host log\n"
    finally:
        os.close(directory)
        os.close(appending)


class PeakRss:
    """The emulator's highest RSS while the block runs, sampled every 20 ms from /proc."""

    def __init__(self, pid: int):
        self.pid = pid
        self.before = _rss_mib(pid)
        self.peak = self.before
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.02):
            with contextlib.suppress(OSError, AssertionError):
                self.peak = max(self.peak, _rss_mib(self.pid))

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    @property
    def growth(self) -> float:
        return self.peak - self.before


# --- 2. answers session code forges on the kernel channel ----------------------------------------

# Written straight to the channel's descriptor, all of it before the kernel's real answer.
FORGE = """
const forged = Buffer.from(%s);
let sent = 0;
while (sent < forged.length) {
  try {
    sent += require('fs').writeSync(Number(process.argv[2]), forged, sent);
  } catch (e) { if (e.code !== 'EAGAIN') throw e; }
}
'after the forgery'
"""


def test_a_forged_answer_of_millions_of_objects_costs_the_emulator_little_and_ends_that_session(emulator):
    emulator.execute("1", "forger")
    emulator.execute("1", "bystander")
    # 32 MB of empty objects: about 900 MiB of Python dicts once parsed.
    line = """'{"seq":2,"ok":true,"stdout":"","stderr":"","result":[' + '{},'.repeat(11e6) + '{}],"ms":0}\\n'"""
    with PeakRss(emulator.process.pid) as rss:
        attack = emulator.execute(FORGE % line, "forger", timeoutInSeconds=60)
    assert attack["status"] == "Failed" and "session was stopped" in attack["result"]["stderr"], attack
    assert rss.growth < 120, f"emulator RSS grew {rss.growth:.0f} MiB"
    assert emulator.execute("6 * 7", "bystander")["result"]["executionResult"] == 42
    assert emulator.execute("typeof forged", "forger")["result"]["executionResult"] == "undefined"


def test_a_forged_answer_with_the_right_number_is_held_to_the_output_limit(emulator):
    # The session's first request is number 1: its answer, forged, carries 5,000,000 characters.
    line = """JSON.stringify({seq: 1, ok: true, stdout: 'x'.repeat(5e6), stderr: 'e'.repeat(5e6),
                            result: 'r'.repeat(5e6), ms: 0, extra: ['y'.repeat(5e6)]}) + '\\n'"""
    body = emulator.execute(FORGE % line, "number-forger", timeoutInSeconds=60)["result"]
    limit = 1024 * 1024
    for name in ("stdout", "stderr", "executionResult"):
        assert len(body[name]) <= limit + 200, (name, len(body[name]))
    assert len(json.dumps(body)) < 4 * limit


# --- 10. request numbers -------------------------------------------------------------------------

# The number of the request being run, read from the kernel's own frames (the request it parsed).
OWN_NUMBER = """
import sys
frame, seen = sys._getframe(), None
while frame is not None and seen is None:
    found = (v["seq"] for v in list(frame.f_locals.values()) if isinstance(v, dict) and {"seq", "code"} <= v.keys())
    seen = next(found, None)
    frame = frame.f_back
seen
"""


def test_request_numbers_are_per_session_so_no_tenant_counts_anothers_calls(python_emulator):
    first = python_emulator.execute(OWN_NUMBER, "watcher")["result"]["executionResult"]
    assert isinstance(first, int)
    for n in range(5):
        python_emulator.execute(f"{n}", "busy-neighbour")
    second = python_emulator.execute(OWN_NUMBER, "watcher")["result"]["executionResult"]
    assert second == first + 1, (first, second)


# --- 6. address families ------------------------------------------------------------------------

VSOCK_PORT = 47_001
HOLD_FAMILIES = f"""
import socket
import subprocess
import sys
held, refused = [], {{}}
for name, family, kind in [("vsock", socket.AF_VSOCK, socket.SOCK_STREAM), ("alg", 38, socket.SOCK_SEQPACKET),
                           ("packet", 17, socket.SOCK_DGRAM), ("bluetooth", 31, socket.SOCK_STREAM)]:
    try:
        made = socket.socket(family, kind)
        if family == socket.AF_VSOCK:
            made.bind((socket.VMADDR_CID_ANY, {VSOCK_PORT}))
        held.append(made)
    except OSError as error:
        refused[name] = error.errno
refused
"""


def test_vsock_and_other_unneeded_address_families_are_refused(python_emulator):
    if not Path("/dev/vsock").exists():
        pytest.skip("this machine has no vsock")
    refused = python_emulator.execute(HOLD_FAMILIES, "vsock")["result"]["executionResult"]
    assert refused == dict.fromkeys(("vsock", "alg", "packet", "bluetooth"), errno.EAFNOSUPPORT), refused
    # The session holds no vsock port of the host's: the host binds the port itself.
    with socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) as own:
        own.bind((socket.VMADDR_CID_ANY, VSOCK_PORT))
    assert (
        python_emulator.execute("import socket; socket.socket().close(); 'inet'", "vsock")["result"]["executionResult"]
        == "inet"
    )


# --- 7. kernel objects an ordinary user's sessions share ------------------------------------------

MEMFD_FILL = """
import os
try:
    held = os.memfd_create("hoard")
    for _ in range(512):
        os.write(held, b"m" * (1024 * 1024))
    outcome = "filled"
except OSError as error:
    outcome = error.errno
outcome
"""
INOTIFY_HOARD = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
hoard = [libc.inotify_init1(0) for _ in range(130)]
[ctypes.get_errno(), sum(fd >= 0 for fd in hoard)]
"""


def _shmem_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Shmem:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no Shmem in /proc/meminfo")


@as_root
def test_as_an_ordinary_user_memfd_pages_cannot_escape_the_memory_cap(nobody_emulator):
    before = _shmem_mib()
    outcome = nobody_emulator.execute(MEMFD_FILL, "hoarder", timeoutInSeconds=60)["result"]["executionResult"]
    grown = _shmem_mib() - before
    assert outcome == errno.ENOSYS, outcome
    assert grown < 256, f"the host's shared memory grew {grown:.0f} MiB"
    assert "memfd and System V shared memory" in nobody_emulator.logs()


@as_root
def test_as_an_ordinary_user_one_session_cannot_take_every_inotify_instance_of_the_user(nobody_emulator):
    taken = nobody_emulator.execute(INOTIFY_HOARD, "inotify-hoarder")["result"]["executionResult"]
    assert taken == [errno.ENOSYS, 0], taken
    # The host's own processes of that user still get theirs.
    probe = "import ctypes; fd = ctypes.CDLL(None).inotify_init1(0); print(fd)"
    own = subprocess.run([*as_user(ORDINARY_UID), "/usr/bin/python3", "-c", probe], capture_output=True, text=True)
    assert int(own.stdout) >= 0, own
    assert nobody_emulator.execute("1 + 1", "other")["result"]["executionResult"] == 2


# --- 3. execution history ------------------------------------------------------------------------

SYNC = {"codeInputType": "Inline", "executionType": "Synchronous", "timeoutInSeconds": 20}
ASYNC = {**SYNC, "executionType": "Asynchronous"}


def test_a_long_operation_id_is_refused_naming_the_header_and_costs_nothing(emulator):
    emulator.execute("1", "ids-0")
    before = _rss_mib(emulator.process.pid)
    for n in range(200):
        response = emulator.http.post(
            "/executions",
            params=_params("ids-0"),
            json={**SYNC, "code": "1"},
            headers={"operation-id": f"{n:05d}" + "i" * 60_000},
        )
        assert response.status_code == 400, response.text[:200]
    assert "operation-id" in response.json()["error"]["message"]
    assert _rss_mib(emulator.process.pid) - before < 10
    kept = emulator.http.post(
        "/executions", params=_params("ids-0"), json={**SYNC, "code": "2"}, headers={"operation-id": "op-1"}
    )
    assert kept.status_code == 200 and kept.json()["id"] == "op-1"
    assert emulator.http.get("/executions/op-1", params=_params("ids-0")).json()["result"]["executionResult"] == 2


# --- 5. the execution queue ----------------------------------------------------------------------


def test_executions_queued_behind_a_busy_session_are_bounded_and_refused_with_429(emulator):
    # Busy without spending a core: the session's one thread waits on a value nothing will change.
    blocked = "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)"
    busy = emulator.http.post("/executions", params=_params("spinner"), json={**ASYNC, "code": blocked})
    assert busy.status_code == 202, busy.text
    before = _rss_mib(emulator.process.pid)
    code = "// " + "q" * (2 * MIB)
    statuses = []
    for _ in range(40):  # 80 MB of code, were every one held
        queued = emulator.http.post("/executions", params=_params("spinner"), json={**ASYNC, "code": code})
        statuses.append(queued.status_code)
    grown = _rss_mib(emulator.process.pid) - before
    assert set(statuses) == {202, 429} and statuses.count(202) <= 8, statuses
    assert queued.headers["Retry-After"] and queued.json()["error"]["code"] == "TooManyRequests"
    assert grown < 40, f"emulator RSS grew {grown:.0f} MiB"
    # Other sessions are not held to this one's queue.
    assert emulator.execute("'free'", "neighbour")["result"]["executionResult"] == "free"
    assert emulator.http.delete("/session", params=_params("spinner")).status_code == 204
    # What was queued behind it ends with it, instead of starting a session of its own.
    time.sleep(1)
    listed = emulator.http.get("/listSessions", params={"api-version": V}).json()["sessions"]
    assert "spinner" not in {s["identifier"] for s in listed}, listed


# --- 4. slow request bodies ----------------------------------------------------------------------


def _slow_body(address: tuple[str, int]) -> socket.socket:
    """A connection that sends a whole request head, then its body a byte at a time."""
    head = (
        f"POST /executions?api-version={V}&identifier=slow-body HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {bearer()['Authorization']}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000\r\n\r\n{"
    )
    sock = socket.create_connection(address)
    sock.sendall(head.encode())
    return sock


def _ended(sock: socket.socket) -> bytes | None:
    """What the server sent before ending a connection it cut off (b"" if it sent nothing), or None while it
    still reads the body."""
    try:
        return sock.recv(64, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def test_a_flood_of_slow_bodies_leaves_legitimate_requests_answered(emulator):
    host, port = emulator.url.removeprefix("http://").rsplit(":", 1)
    address = (host, int(port))
    emulator.execute("1", "legit")
    opened = time.monotonic()
    flood = [_slow_body(address) for _ in range(256)]
    stop = threading.Event()
    # When each was answered 408 for its rate, in seconds after the flood opened; others are shed
    # without an answer, the slowest first, to make room for the legitimate connections.
    cut_off: list[float] = []

    def trickle() -> None:  # a byte per connection every second; a connection cut off is opened again
        while not stop.wait(1):
            for n, sock in enumerate(flood):
                try:
                    ended = _ended(sock)
                    if ended is None:
                        sock.sendall(b" ")
                        continue
                except OSError:
                    ended = b""
                if ended.startswith(b"HTTP/1.1 408"):
                    cut_off.append(time.monotonic() - opened)
                sock.close()
                with contextlib.suppress(OSError):
                    flood[n] = _slow_body(address)

    attacker = threading.Thread(target=trickle)
    attacker.start()
    statuses: list[int] = []
    try:
        with httpx.Client(base_url=emulator.url, timeout=30, headers=bearer(), verify=NO_TLS) as client:
            # Two a second, over the grace the slow bodies get, until they are cut off, and past it.
            past = 0
            while past < 3 and len(statuses) < 80:
                answer = client.post(
                    "/executions",
                    params=_params("legit"),
                    json={**SYNC, "code": f"{len(statuses)}"},
                    headers={"Connection": "close"},
                )
                statuses.append(answer.status_code)
                past += bool(cut_off)
                time.sleep(0.5)
    finally:
        stop.set()
        attacker.join()
        for sock in flood:
            sock.close()
    assert statuses == [200] * len(statuses), statuses
    assert cut_off and min(cut_off) >= bodies.BODY_GRACE_S, f"slow bodies cut off for their rate: {cut_off}"


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
    # A file, as the package's client sends one: 64 KiB at a time.
    return emulator.http.post("/files", params=_params(identifier), files={"file": (name, io.BytesIO(b"u" * size))})


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


def test_no_command_line_in_the_session_names_the_hosts_scratch_folder_or_the_emulators_pid(emulator):
    seen = emulator.execute(
        "const fs = require('fs');"
        "fs.readdirSync('/proc').filter((n) => /^\\d+$/.test(n))"
        ".map((n) => { try { return fs.readFileSync(`/proc/${n}/cmdline`, 'utf8'); } catch { return ''; } })"
        ".join('\\n')",
        "reader",
    )["result"]["executionResult"]
    assert "bwrap" in seen  # pid 1 of the session's namespace
    assert "dynamic-sessions-scratch" not in seen and f"emulator-{emulator.process.pid}" not in seen, seen


# --- what --help and docs/sandbox.md say of these limits ------------------------------------------


def test_help_and_the_sandbox_page_state_the_emulators_own_limits():
    from dynamic_sessions.emulator.api import bodies, contract, history, server
    from dynamic_sessions.emulator.sandbox.caps import show_size
    from dynamic_sessions.emulator.sessions import answers, session

    shown = subprocess.run(
        [sys.executable, "-m", "emulator", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    page = (ROOT / "docs" / "sandbox.md").read_text()
    queue = f"{session.MAX_QUEUED} running or waiting per session, {show_size(session.MAX_QUEUED_CODE_BYTES)}"
    kept = f"{history.KEPT_PER_SESSION} executions, {show_size(history.BYTES_PER_SESSION)} per session, "
    kept += f"{show_size(history.BYTES_IN_TOTAL)} in all"
    answer = f"{answers.ANSWER_SLACK_BYTES // 1024} KiB + {2 * answers.BYTES_PER_CHAR} bytes per character"
    rate = f"after {bodies.BODY_GRACE_S:g} s a body must average {bodies.MIN_BODY_BYTES_PER_S // 1024} KiB/s"
    for phrase in (queue, kept, answer, rate, f"connections {server.MAX_CONNECTIONS};", "429 past that"):
        assert phrase in " ".join(shown.split()), phrase
    assert contract.OPERATION_ID.pattern == r"[\x21-\x7e]{1,128}" and "1 to 128 printable ASCII" in shown
    for phrase in (
        f"| {session.MAX_QUEUED}, and {show_size(session.MAX_QUEUED_CODE_BYTES)} of their code |",
        f"{history.KEPT_PER_SESSION} executions and {show_size(history.BYTES_PER_SESSION)} per session, "
        f"{show_size(history.BYTES_IN_TOTAL)} in all",
        f"{answers.ANSWER_SLACK_TOKENS:,} + {answers.TOKENS_PER_RESULT_CHAR} per character of the result limit",
        f"{bodies.BODY_GRACE_S:g} s of grace, then must average {bodies.MIN_BODY_BYTES_PER_S // 1024} KiB/s",
        f"At most {server.MAX_CONNECTIONS} connections",
        f"past {server.MAX_CONNECTIONS + server.CONCURRENCY_SLACK} requests in progress",
        "`429 TooManyRequests`, `Retry-After: 1`",
    ):
        assert phrase in " ".join(page.split()), phrase


# --- the answer parser on its own ------------------------------------------------------------------


@as_root
def test_as_root_inotify_works_and_is_counted_per_session_uid(python_emulator):
    taken = python_emulator.execute(INOTIFY_HOARD, "watcher")["result"]["executionResult"]
    assert taken[1] >= 100, taken  # the session's own uid's instances (the per-user limit is theirs alone)
    assert python_emulator.execute(INOTIFY_HOARD, "other-watcher")["result"]["executionResult"][1] >= 100
