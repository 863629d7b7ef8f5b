"""Each command's usage line names the command as it was run: the installed script, the package's module,
or the clone's shortcut."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.emulator_process import ROOT

SCRIPTS = Path(sys.executable).parent
WAYS = [
    ([str(SCRIPTS / "dynamic-sessions-emulator")], "dynamic-sessions-emulator"),
    ([sys.executable, "-m", "dynamic_sessions.emulator"], "python -m dynamic_sessions.emulator"),
    ([sys.executable, "-m", "emulator"], "python -m emulator"),
    ([str(SCRIPTS / "dynamic-sessions-smoke")], "dynamic-sessions-smoke"),
    ([sys.executable, "-m", "dynamic_sessions.smoke"], "python -m dynamic_sessions.smoke"),
    ([sys.executable, "-m", "smoke"], "python -m smoke"),
]


@pytest.mark.parametrize(("argv", "name"), WAYS, ids=[name for _, name in WAYS])
def test_the_usage_line_names_the_command_as_it_was_run(argv, name):
    done = subprocess.run([*argv, "--no-such-flag"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"usage: {name} [-h]")
    assert f"\n{name}: error: unrecognized arguments: --no-such-flag" in done.stderr


@pytest.mark.parametrize(
    ("argv", "emulator"),
    [
        ([sys.executable, "-m", "dynamic_sessions.smoke"], "python -m dynamic_sessions.emulator"),
        ([sys.executable, "-m", "smoke"], "python -m emulator"),
    ],
)
def test_the_smoke_names_the_emulator_the_way_it_was_run_itself(argv, emulator):
    done = subprocess.run(
        [*argv, "--endpoint", "http://127.0.0.1:9", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert json.loads(done.stdout)["message"].endswith(f"start the emulator there: {emulator} --port 9")
