"""What the emulator checks and says as it starts: its caps and how they hold, bad sizes, a Node.js session
uids cannot reach, a missing emulator extra; the benchmarks' emulators print nothing on stderr.

Each attack runs as session code (or a client) against a real emulator process, and is judged by what
the host sees."""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dynamic_sessions.emulator.sandbox.launcher import (
    SandboxUnavailable,
    _closed_to_others,
    make_launcher,
)
from dynamic_sessions.emulator.sessions.runtimes import node_runtime
from dynamic_sessions.extras import install_command
from tests.emulator_process import ROOT
from tests.sandbox_support import as_root

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


BLOCKED = (
    "import runpy, sys\n"
    "for name in {names!r}: sys.modules[name] = None\n"
    "sys.argv = ['emulator', '--port', '0']\n"
    "runpy.run_module('dynamic_sessions.emulator', run_name='__main__')\n"
)


@needs_bwrap
def test_caps_and_how_they_hold_are_printed_at_start_up(launch):
    emulator = launch("--memory-limit", "512M", "--max-processes", "100")
    logs = emulator.logs()
    assert "cap processes: 100 tasks" in logs
    assert "cap /mnt/data: 1 GiB" in logs
    assert "memory" in logs and "512 MiB" in logs
    lifted = launch("--no-caps")
    assert (
        "cap memory, processes, cpu share, /tmp, /dev/shm, /mnt/data: NOT ENFORCED: lifted by --no-caps"
        in lifted.logs()
    )


def test_a_bad_size_is_refused_naming_the_flag_and_what_is_allowed():
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "--memory-limit", "lots"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "--memory-limit" in done.stderr and "'lots' is not a size" in done.stderr and "1G" in done.stderr


@needs_bwrap
@as_root
def test_a_node_that_session_uids_cannot_reach_is_refused_up_front(monkeypatch):
    base = Path(tempfile.mkdtemp(prefix="closed-node-"))
    try:
        base.chmod(0o755)
        hidden = base / "home" / "bin"
        hidden.mkdir(parents=True)
        (base / "home").chmod(0o700)
        for tool in ("bwrap", "setpriv", "prlimit"):
            (hidden / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
        # A Node installed under a private home, as version managers do.
        (hidden / "node").write_text(f'#!/bin/sh\nexec {shutil.which("node")} "$@"\n')
        (hidden / "node").chmod(0o755)
        monkeypatch.setenv("PATH", str(hidden))
        with pytest.raises(SandboxUnavailable, match=f"{base / 'home'} is closed to other users"):
            make_launcher(node_runtime(), egress=False, unsandboxed=False)
        assert _closed_to_others(Path(shutil.which("node", path="/usr/bin:/bin") or "/usr/bin/node")) is None
    finally:
        shutil.rmtree(base)


@pytest.mark.parametrize("names", [("uvicorn",), ("starlette",), ("uvicorn", "starlette")])
def test_without_the_emulator_extra_the_emulator_exits_2_naming_it(names):
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED.format(names=names)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert f"install the 'emulator' extra: {install_command('emulator')}" in done.stderr
    assert "Traceback" not in done.stderr
    for name in names:
        assert name in done.stderr


@needs_bwrap
def test_the_benchmarks_emulators_print_nothing_on_stderr_even_without_caps(capfd):
    from bench.emulators import EmulatorProcess

    capfd.readouterr()
    with EmulatorProcess("--no-caps") as pool:
        assert pool.url.startswith("http://127.0.0.1:")
    assert capfd.readouterr().err == ""  # `make bench` prints its table alone
