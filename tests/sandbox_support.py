"""What the sandbox tests (tests/e2e/sandbox) share: session code they run, how they find a session's
processes, files and groups from the host, emulators run by other users, and the far host and listeners
of the network tests."""

import contextlib
import fcntl
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dynamic_sessions.emulator.sandbox.scratch import scratch_root
from tests.emulator_process import ROOT, Emulator, bearer, descendants

MIB = 1024 * 1024
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="root mode: the test suite runs as an ordinary user")


CANARY = "DYNAMIC_SESSIONS_CANARY"


ORDINARY_UID = 65534


def run(emulator: Emulator, code: str, identifier: str = "attacker", timeout: int = 20) -> dict:
    return emulator.execute(code, identifier, timeoutInSeconds=timeout)["result"]


def shell(command: str) -> str:
    """Session code that runs a shell command and yields its output (errors included) as the result."""
    return (
        "(() => { const r = require('child_process').spawnSync('/bin/sh', ['-c', "
        + json.dumps(command)
        + "], { encoding: 'utf8' }); return (r.stdout || '') + (r.stderr || ''); })()"
    )


def kernels(emulator: Emulator) -> list[int]:
    """Host pids of the emulator's Node kernels (session processes)."""
    found = []
    for pid in descendants(emulator.process.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if Path(cmdline[0].decode()).name == "node" and any(arg.endswith(b"kernel.js") for arg in cmdline):
            found.append(pid)
    return found


def kernel_of(emulator: Emulator, identifier: str) -> int:
    """The host pid of one identifier's kernel: the one whose /mnt/data holds a marker only it wrote."""
    marker = f"marker-{identifier}"
    run(emulator, f"require('fs').writeFileSync('/mnt/data/{marker}', '')", identifier)
    for pid in kernels(emulator):
        if os.path.exists(f"/proc/{pid}/root/mnt/data/{marker}"):
            return pid
    raise AssertionError(f"no kernel process found for {identifier}")


def started_by(emulator: Emulator, pid: int) -> int:
    """The process the emulator started that `pid` runs under (a session's sandbox): once it has exited, the
    emulator finds that session ended at its next call."""
    while True:
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        if parent == emulator.process.pid:
            return pid
        assert parent > 1, f"{pid} does not run under the emulator"
        pid = parent


def exited(pid: int) -> bool:
    """Whether `pid` has ended: reaped, or a zombie its parent has yet to reap."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, v in (line.split(":", 1) for line in lines)}


def tree(pid: int) -> set[int]:
    """`pid` and every process below it."""
    return {pid} | descendants(pid)


def tasks(pids: set[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(status(pid)["Threads"])
        except (OSError, KeyError):
            continue
    return total


ALLOCATE_3_GIB = """
const kept = [];
for (let i = 0; i < 48; i++) kept.push(Buffer.alloc(64 * 1024 * 1024, 1));
kept.length
"""


FORK_BOMB = """
const { spawn } = require('child_process');
let started = 0, refused = 0;
for (let i = 0; i < 2000; i++) {
  try {
    const child = spawn('/bin/sleep', ['60'], { detached: true, stdio: 'ignore' });
    child.on('error', () => {});
    if (child.pid) started++; else refused++;
  } catch (e) { refused++; }
}
({ started, refused })
"""


class FarHost:
    """Another host on this machine: a network namespace behind a veth pair, with one TCP listener."""

    address, ours, port = "198.51.100.1", "198.51.100.2", 8443
    LISTEN = (
        "import socket, sys\n"
        "s = socket.create_server((sys.argv[1], int(sys.argv[2])))\n"
        "print('listening', flush=True)\n"
        "s.settimeout(20)\n"
        "c, _ = s.accept()\n"
        "print('accepted', flush=True)\n"
    )

    def __enter__(self) -> "FarHost":
        self.name = f"far-{os.getpid()}"
        link = f"vf{os.getpid() % 100000}"
        self.listener: subprocess.Popen[str] | None = None
        try:
            # One namespace made, entered or removed at a time on this machine: `ip netns add` and `delete`, run
            # at once by two test processes, once left a namespace file bound to nothing ("Invalid argument" for
            # the veth), and `ip netns exec` run beside another's add or delete once found its own so ("setting
            # the network namespace ... failed: Invalid argument"): the listener starts under the lock too.
            with _far_hosts_lock():
                self._delete_namespace()  # a leftover of the same name, from a run that was killed
                # Other programs on this machine make and remove namespaces without this lock (another checkout's
                # tests, say), and one once made `ip link add ... netns` fail with "Invalid argument": each failed
                # attempt is undone, and the namespace made again, three times at most.
                for attempt in range(3):
                    failed = self._make_namespace(link)
                    if failed is None:
                        break
                    self._delete_namespace()
                    assert attempt < 2, failed
                    time.sleep(0.5)
                self.listener = subprocess.Popen(
                    ["ip", "netns", "exec", self.name, sys.executable, "-c", self.LISTEN, self.address, str(self.port)],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                assert self.listener.stdout is not None and self.listener.stdout.readline().strip() == "listening"
        except BaseException:
            self.__exit__()
            raise
        return self

    def _make_namespace(self, link: str) -> str | None:
        """Makes the namespace and its veth pair; returns the command that failed and why, or None."""
        for command in (
            ["ip", "netns", "add", self.name],
            ["ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", self.name],
            ["ip", "addr", "add", f"{self.ours}/30", "dev", link],
            ["ip", "link", "set", link, "up"],
            ["ip", "-n", self.name, "addr", "add", f"{self.address}/30", "dev", "eth0"],
            ["ip", "-n", self.name, "link", "set", "eth0", "up"],
            ["ip", "-n", self.name, "link", "set", "lo", "up"],
        ):
            done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=10)
            if done.returncode != 0:
                return f"{' '.join(command)}: {done.stderr}"
        return None

    def accepted(self) -> bool:
        assert self.listener is not None and self.listener.stdout is not None
        return self.listener.stdout.readline().strip() == "accepted"

    def __exit__(self, *_: object) -> None:
        if self.listener is not None:
            self.listener.kill()
            self.listener.wait()
        with _far_hosts_lock():
            self._delete_namespace()

    def _delete_namespace(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], check=False, capture_output=True, timeout=10)


@contextlib.contextmanager
def _far_hosts_lock() -> Iterator[None]:
    with open(Path(tempfile.gettempdir()) / "dynamic-sessions-tests-netns.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def as_user(uid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]


def _python_for(uid: int) -> str | None:
    """A Python this uid may run with the project importable (the venv's may sit under root's home)."""
    for python in (sys.executable, f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"):
        probe = subprocess.run(
            [*as_user(uid), python, "-c", "import uvicorn"],
            env=_user_env(),
            capture_output=True,
        )
        if probe.returncode == 0:
            return python
    return None


NO_USER_PYTHON = (
    f"no Python nobody may run with the project importable: nobody may not read {ROOT} or its .venv "
    "(a clone under a private home, say; .ci/run tests such a clone from a copy everyone may pass through)"
)


def _user_env() -> dict[str, str]:
    site = next(Path(ROOT, ".venv", "lib").glob("python*/site-packages"))
    return {"PATH": os.environ["PATH"], "PYTHONPATH": f"{ROOT}:{site}", CANARY: "canary-value-user"}


def _cgroups(pid: int) -> dict[str, str]:
    """Each v1 controller's (and v2's unified) cgroup of `pid`."""
    found = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else ["unified"]:
            found[controller] = path
    return found


V = "2025-10-02-preview"


LEGACY = "2024-02-02-preview"


MB = 1024 * 1024


class Canary:
    """A host file no request may read, write, create or remove."""

    def __init__(self, folder: Path):
        self.path = folder / "canary.txt"
        self.path.write_bytes(b"host secret\n")
        os.utime(self.path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
        self.absent = folder / "must-not-exist"

    def assert_untouched(self) -> None:
        status = self.path.stat()
        assert self.path.read_bytes() == b"host secret\n"
        assert status.st_mtime_ns == 1_000_000_000_000_000_000
        assert not self.absent.exists() and not self.absent.is_symlink()


def _params(identifier: str, version: str = V) -> dict[str, str]:
    return {"api-version": version, "identifier": identifier}


def _run(emulator: Emulator, code: str, identifier: str) -> dict:
    body = emulator.execute(code, identifier)
    assert body["status"] == "Succeeded", body
    return body


def _host_folder(emulator: Emulator, identifier: str) -> Path:
    """The session's /mnt/data as the host sees it: the folder of this emulator's scratch (named by its
    pid) that holds a file the session just wrote."""
    marker = f"marker-{uuid.uuid4().hex}"
    _run(emulator, f"require('fs').writeFileSync('/mnt/data/{marker}', '')", identifier)
    sessions = scratch_root().glob(f"emulator-{emulator.process.pid}-*/session-*")
    found = {folder for folder in sessions if (folder / marker).exists()}
    assert len(found) == 1, found
    folder = found.pop()
    (folder / marker).unlink()
    return folder


def _names(emulator: Emulator, identifier: str) -> set[str]:
    return {f["name"] for f in emulator.http.get("/files", params=_params(identifier)).json()["value"]}


def _chunks(total: int, piece: bytes) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield piece
        sent += len(piece)


def _chunked_upload(emulator: Emulator, identifier: str, size: int) -> httpx.Response:
    """A multipart upload of `size` bytes sent without Content-Length, as a stream of chunks."""
    boundary = "hostile-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()

    def body() -> Iterator[bytes]:
        yield head
        yield from _chunks(size, b"\1" * MB)
        yield f"\r\n--{boundary}--\r\n".encode()

    return emulator.http.post(
        "/files",
        params=_params(identifier),
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def _peak_rss_kib(pid: int) -> int:
    """The highest RSS `pid` reached since it started or since `_reset_peak_rss`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _reset_peak_rss(pid: int) -> None:
    """Starts `pid`'s peak RSS again from its RSS now (see proc(5), clear_refs), so that a test on the shared
    emulator measures only its own peak."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


EXECUTION = {"codeInputType": "Inline", "executionType": "Synchronous", "code": "1", "timeoutInSeconds": 5}


def _address(emulator: Emulator) -> tuple[str, int]:
    host, port = emulator.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _head_never_completed(address: tuple[str, int]) -> bool:
    """Whether the server ends a connection whose request head never completes, a byte sent now and then."""
    slow = socket.create_connection(address)
    slow.sendall(b"POST /executions HTTP/1.1\r\nHost: x\r\n")
    slow.settimeout(0.5)
    deadline = time.monotonic() + 20
    ended = False
    while time.monotonic() < deadline and not ended:
        try:
            slow.sendall(b"X-Slow: 1\r\n")  # a byte now and then does not keep it open
            ended = slow.recv(1) == b""
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            ended = True
    slow.close()
    return ended


def _idle_after_an_answer(address: tuple[str, int]) -> tuple[bytes, float]:
    """The answer to one kept-alive request, and how long the server then kept the idle connection."""
    token = bearer()["Authorization"]
    request = f"GET /metadata?api-version={V} HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\r\n".encode()
    with socket.create_connection(address) as sock:
        sock.sendall(request)
        sock.settimeout(20)
        answer = sock.recv(65536)
        started = time.monotonic()
        with contextlib.suppress(ConnectionResetError):
            while sock.recv(65536):
                pass
        return answer, time.monotonic() - started


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _user_emulator(*flags: str, pass_fds: tuple[int, ...] = (), tmpdir: str | None = None) -> Emulator:
    python = _python_for(ORDINARY_UID)
    if python is None:
        pytest.skip(NO_USER_PYTHON)
    return Emulator(
        *flags,
        interpreter=[*as_user(ORDINARY_UID), python],
        cwd="/",
        env={**_user_env(), **({"TMPDIR": tmpdir} if tmpdir else {})},
        log_owner=ORDINARY_UID,
        pass_fds=pass_fds,
    )


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


SYNC = {"codeInputType": "Inline", "executionType": "Synchronous", "timeoutInSeconds": 20}


ASYNC = {**SYNC, "executionType": "Asynchronous"}
