"""What a session is on the host: its uids, capabilities and user namespaces, the emulator's environment,
descriptors and command lines it must not see, and all of it as an ordinary user's emulator.

Each attack runs as session code (or a client) against a real emulator process, and is judged by what
the host sees."""

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from dynamic_sessions.emulator.sandbox.caps import parse_size
from dynamic_sessions.emulator.sandbox.launcher import (
    SESSION_UID_BASE,
)
from tests.emulator_process import Emulator, descendants
from tests.sandbox_support import (
    ALLOCATE_3_GIB,
    CANARY,
    FORK_BOMB,
    NO_USER_PYTHON,
    ORDINARY_UID,
    _emulator,
    _python_for,
    _user_env,
    as_root,
    as_user,
    kernel_of,
    kernels,
    run,
    shell,
    status,
    tasks,
    tree,
)

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


NS_GET_PARENT = 0xB702  # ioctl: the parent of a user namespace  # nobody: an ordinary user with no files of its own


class UserEmulator(Emulator):
    """The emulator run by an ordinary user (nobody), as `python -m emulator` from the clone."""

    def __init__(self, python: str, *flags: str):
        user = [*as_user(ORDINARY_UID), python]
        super().__init__(*flags, interpreter=user, cwd="/", env=_user_env(), log_owner=ORDINARY_UID)


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


@as_root
def test_the_session_holds_no_capability_and_is_not_root_on_the_host(emulator):
    pid = kernel_of(emulator, "capless")
    for member in tree(pid):
        seen = status(member)
        assert seen["CapEff"] == seen["CapPrm"] == seen["CapAmb"] == "0000000000000000", member
        real, effective, _, _ = (int(u) for u in seen["Uid"].split())
        assert real >= SESSION_UID_BASE and effective >= SESSION_UID_BASE
        assert seen["NoNewPrivs"] == "1"


@as_root
def test_two_sessions_run_as_two_different_uids(emulator):
    first, second = kernel_of(emulator, "uid-one"), kernel_of(emulator, "uid-two")
    assert status(first)["Uid"].split()[0] != status(second)["Uid"].split()[0]


def test_a_nested_user_namespace_cannot_be_made(emulator):
    attempt = shell(
        "unshare -U sleep 30 >/dev/null 2>&1 & unshare -U -r sleep 30 >/dev/null 2>&1 & sleep 0.5; echo tried"
    )
    assert "tried" in run(emulator, attempt, "nester")["executionResult"]
    own = os.readlink(f"/proc/{kernel_of(emulator, 'nester')}/ns/user")
    parents = set()
    # Whatever the shell left behind was handed to the sandbox's init: look at every process of the sandbox.
    for member in descendants(emulator.process.pid):
        with contextlib.suppress(OSError):
            namespace = os.open(f"/proc/{member}/ns/user", os.O_RDONLY)
            try:
                parent = fcntl.ioctl(namespace, NS_GET_PARENT)
                parents.add(os.readlink(f"/proc/self/fd/{parent}"))
                os.close(parent)
            finally:
                os.close(namespace)
    assert parents and own not in parents


def test_no_variable_of_the_emulators_environment_is_visible_under_proc(launch, monkeypatch):
    monkeypatch.setenv(CANARY, "canary-value-7f3a")
    emulator = launch()
    found = run(emulator, shell("cat /proc/*/environ /proc/*/task/*/environ 2>/dev/null | tr '\\0' '\\n'"), "reader")
    assert "canary-value-7f3a" not in found["executionResult"]
    assert "PATH=" in found["executionResult"]  # the reads worked: the session's own variables are there
    # From the host: every process the emulator started (bubblewrap and its helpers included) lacks it.
    started = descendants(emulator.process.pid)
    assert len(started) >= 2
    for member in started:
        with open(f"/proc/{member}/environ", "rb") as environ:
            assert b"canary-value-7f3a" not in environ.read(), member


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


@as_root
def test_as_an_ordinary_user_sessions_are_confined_and_capped():
    python = _python_for(ORDINARY_UID)
    if python is None:
        pytest.skip(NO_USER_PYTHON)
    emulator = UserEmulator(python, "--max-processes", "64", "--memory-limit", "256M")
    try:
        logs = emulator.logs()
        assert "as an ordinary user" in logs and "cap processes: 64 tasks" in logs
        assert "NOT ENFORCED" in logs  # memory as a whole needs a cgroup this user has not been given
        assert run(emulator, "6 * 7", "plain")["executionResult"] == 42
        found = run(emulator, shell("cat /proc/*/environ | tr '\\0' '\\n'"), "plain")["executionResult"]
        assert "canary-value-user" not in found and "PATH=" in found
        run(emulator, shell("mount -o remount,rw,bind /usr /usr; unshare -U true"), "plain")
        emulator.execute(FORK_BOMB, "bomber", timeoutInSeconds=60)
        time.sleep(0.5)
        for pid in kernels(emulator):
            seen = status(pid)
            assert seen["CapEff"] == "0000000000000000"
            assert seen["Uid"].split()[0] == str(ORDINARY_UID)
            mounts = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
            assert next(m for m in mounts if m.split()[4] == "/usr").split()[5].startswith("ro")
            assert tasks(tree(pid)) <= 64
            limits = Path(f"/proc/{pid}/limits").read_text()
            assert re.search(r"Max processes\s+64\s+64", limits)
            assert re.search(rf"Max address space\s+{parse_size('256M') + parse_size('1G')}\s", limits)
            assert re.search(rf"Max file size\s+{parse_size('1G')}\s", limits)
        hog = emulator.execute(ALLOCATE_3_GIB, "hogger", timeoutInSeconds=60)
        assert hog["status"] == "Failed"
    finally:
        emulator.stop()
