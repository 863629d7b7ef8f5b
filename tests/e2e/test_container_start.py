"""How `dynamic_sessions.container.RunningImage` reports a container that never announced its endpoint, with a
stand-in engine (a script) in place of Docker or Podman."""

import os
import stat
import subprocess

import pytest

from dynamic_sessions.container import ContainerFailed, RunningImage


def _engine(tmp_path, monkeypatch, body: str) -> str:
    """A `podman` of `body` first on PATH."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "podman"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return "podman"


def test_an_engine_that_refuses_the_container_is_reported_as_an_exit_not_a_wait(tmp_path, monkeypatch):
    # As Podman does when the host's hard rlimits are below its defaults: an error, exit 126, at once.
    engine = _engine(tmp_path, monkeypatch, 'echo "Error: runc create failed" >&2\nexit 126\n')
    with pytest.raises(ContainerFailed) as failed:
        RunningImage(engine, "dynamic-sessions-emulator", timeout=600, stderr=subprocess.DEVNULL)
    said = str(failed.value)
    assert "exited with status 126 before it announced its endpoint" in said
    assert "within 600 s" not in said


def test_a_container_that_stays_silent_is_reported_as_a_wait(tmp_path, monkeypatch):
    # `run` prints nothing and waits; `stop` ends it, as the engine's own would.
    body = 'case "$1" in\n  run) echo $$ > "$0.pid"; exec sleep 60;;\n  stop) kill "$(cat "$0.pid")";;\nesac\n'
    engine = _engine(tmp_path, monkeypatch, body)
    with pytest.raises(ContainerFailed) as failed:
        RunningImage(engine, "dynamic-sessions-emulator", timeout=1, stderr=subprocess.DEVNULL)
    assert "did not announce its endpoint within 1 s" in str(failed.value)
