"""A hostile tenant against what the emulator holds for it: inherited descriptors, its answers on the
kernel channel, its execution history and queue, slow request bodies, address families, per-user kernel
objects, its teardown, its uploads and its request numbers.

Each attack is judged from the host: descriptors under /proc/<pid>/fd, host files, the emulator's RSS,
what other sessions and clients get back.
"""

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.emulator_process import Emulator, descendants
from tests.test_sandbox import ORDINARY_UID, _python_for, _user_env, as_user

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


def _user_emulator(*flags: str, pass_fds: tuple[int, ...] = ()) -> Emulator:
    python = _python_for(ORDINARY_UID)
    if python is None:
        pytest.skip("no Python this machine's ordinary users may run with the project importable")
    return Emulator(
        *flags,
        interpreter=[*as_user(ORDINARY_UID), python],
        cwd="/",
        env=_user_env(),
        log_owner=ORDINARY_UID,
        pass_fds=pass_fds,
    )


@contextlib.contextmanager
def _emulator(mode: str, *flags: str, pass_fds: tuple[int, ...] = ()) -> Iterator[Emulator]:
    if mode == "nobody" and os.geteuid() != 0:
        pytest.skip("switching to nobody needs root")
    running = _user_emulator(*flags, pass_fds=pass_fds) if mode == "nobody" else Emulator(*flags, pass_fds=pass_fds)
    try:
        yield running
    finally:
        running.stop()


# --- 1. descriptors the emulator inherited -------------------------------------------------------

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
            held = {(os.stat(directory).st_dev, os.stat(directory).st_ino), (os.stat(log).st_dev, os.stat(log).st_ino)}
            for pid in descendants(emulator.process.pid):
                with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                    for entry in os.scandir(f"/proc/{pid}/fd"):
                        with contextlib.suppress(OSError):
                            target = os.stat(entry.path)
                            assert (target.st_dev, target.st_ino) not in held, f"pid {pid} holds fd {entry.name}"
        assert log.read_text() == "host log\n"
    finally:
        os.close(directory)
        os.close(appending)
