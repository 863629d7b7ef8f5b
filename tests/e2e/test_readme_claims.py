"""Documentation sentences that no other test stood behind: each test here holds one of them to the program."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from bench.test_suite import fresh_make_env
from dynamic_sessions.client.tokens import EntraToken
from dynamic_sessions.emulator.__main__ import parse_args
from dynamic_sessions.emulator.sessions.runtimes import SYSTEM_PYTHON
from tests.emulator_process import ROOT, Emulator
from tests.fakes import StandInCredential


def _emulator_flag_rows() -> list[list[str]]:
    section = (ROOT / "docs" / "emulator.md").read_text()
    rows = [line for line in section.splitlines() if line.startswith("| `--")]
    return [[cell.strip() for cell in row.split("|")[1:-1]] for row in rows]


def _flags(cell: str) -> list[str]:
    return re.findall(r"`(--[a-z-]+)", cell)


def test_the_emulator_flag_tables_list_exactly_the_flags_of_help():
    documented = {flag for row in _emulator_flag_rows() for flag in _flags(row[0])}
    done = subprocess.run([sys.executable, "-m", "emulator", "--help"], cwd=ROOT, capture_output=True, text=True)
    offered = set(re.findall(r"^  (--[a-z-]+)", done.stdout, re.MULTILINE)) - {"--help"}
    assert documented == offered


@pytest.mark.parametrize("row", _emulator_flag_rows(), ids=lambda row: _flags(row[0])[0])
def test_each_documented_emulator_default_is_the_default(row):
    """Passing the documented default explicitly must change nothing; `none`/`off` must be the unset value."""
    flag, default = _flags(row[0])[0], row[1]
    unset = vars(parse_args([]))[flag[2:].replace("-", "_")]
    if default in ("none", "off"):
        assert not unset
    elif re.fullmatch(r"`[^`\s]+`", default):
        assert parse_args([flag, default.strip("`")]) == parse_args([])
    elif flag == "--python":  # resolved at start-up, where the machine is known
        assert unset is None and default.startswith(f"`{SYSTEM_PYTHON}`, else the emulator's own")
    else:
        pytest.fail(f"{flag}: the documented default {default!r} is neither a value nor none/off")


def _emulator(*flags: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emulator", "--port", "0", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_a_python_older_than_3_9_is_refused_naming_the_floor(tmp_path):
    old = tmp_path / "python3.8"
    old.write_text("#!/bin/sh\necho 3.8.18\necho /usr\n")
    old.chmod(0o755)
    done = _emulator("--container-type", "PythonLTS", "--python", str(old))
    assert done.returncode == 2
    assert f"--python {old} is Python 3.8.18; PythonLTS sessions need 3.9 or later" in done.stderr


def test_a_scratch_root_others_may_write_is_refused_naming_it(tmp_path):
    root = tmp_path / f"dynamic-sessions-scratch-{os.geteuid()}"
    root.mkdir()
    root.chmod(0o777)
    done = _emulator(env={"TMPDIR": str(tmp_path)})
    assert done.returncode == 2
    assert f"scratch folder {root} is not a directory owned by uid {os.geteuid()}" in done.stderr
    assert "POOL_MANAGEMENT_ENDPOINT" not in done.stdout


@pytest.mark.parametrize(("level", "logged"), [("info", True), ("warning", False)])
def test_the_per_request_log_lines_are_info(launch, level, logged):
    emulator = launch("--log-level", level)
    emulator.http.get("/metadata", params={"api-version": "2025-10-02-preview", "identifier": "readme-log"})
    emulator.process.terminate()  # its log is complete once it has exited; `stop()` would remove it
    emulator.process.wait(15)
    assert (" GET /metadata " in emulator.logs()) is logged


def _demo(path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"PATH": path} if path else {})}
    demo = [sys.executable, "-m", "dynamic_sessions.emulator.demo"]
    return subprocess.run(demo, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)


def test_the_demo_prints_pass_and_exits_0():
    done = _demo()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS  hello-world ran on the pool" in done.stdout


def test_without_bubblewrap_the_demo_says_so_and_still_passes(tmp_path):
    node = shutil.which("node")
    assert node is not None
    (tmp_path / "node").symlink_to(node)  # a PATH with Node.js but no bubblewrap
    done = _demo(str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bubblewrap is not installed; running the emulator --unsandboxed" in done.stdout
    assert "PASS  hello-world ran on the pool" in done.stdout


@pytest.mark.parametrize(("lifetime_s", "fetched"), [(5 * 60 + 30, 1), (5 * 60 - 30, 3)])
def test_a_token_is_reused_until_5_minutes_before_it_expires(lifetime_s, fetched):
    tokens = EntraToken(StandInCredential(lifetime_s))
    assert {tokens.token() for _ in range(3)} == {f"entra-token-{n}" for n in range(1, fetched + 1)}


# Runs `python -m emulator` on a machine where the dynamic loader finds no libseccomp.
WITHOUT_LIBSECCOMP = """
import ctypes.util, runpy, sys
found = ctypes.util.find_library
ctypes.util.find_library = lambda name: None if name == "seccomp" else found(name)
sys.argv = ["emulator", *sys.argv[3:]]
runpy.run_module("emulator", run_name="__main__")
"""


@pytest.mark.parametrize(
    ("hidden", "reported"), [(False, "sandbox: seccomp: io_uring"), (True, "sandbox: seccomp: NOT ENFORCED")]
)
def test_the_start_up_report_says_whether_seccomp_is_enforced(hidden, reported):
    interpreter = (sys.executable, "-c", WITHOUT_LIBSECCOMP) if hidden else (sys.executable,)
    emulator = Emulator(interpreter=interpreter)
    try:
        assert reported in emulator.logs()
        assert emulator.execute('console.log("hi")')["result"]["stdout"] == "hi\n"
    finally:
        emulator.stop()


def test_the_emulators_description_names_every_container_type():
    from dynamic_sessions.emulator.__main__ import DESCRIPTION
    from dynamic_sessions.emulator.sessions.runtimes import CONTAINER_TYPES

    what_it_serves = DESCRIPTION.split("\n\n", 1)[0]
    assert [kind for kind in CONTAINER_TYPES if kind not in what_it_serves] == []


def test_the_quickstart_names_what_ci_installs_and_no_npm():
    sentence = (ROOT / "docs" / "quickstart.md").read_text().split("\n\n", 2)[1]
    installed = re.findall(r"missing\+=\(([\w.-]+)\)", (ROOT / ".ci" / "run").read_text())
    assert installed and [name for name in installed if f"`{name}`" not in sentence] == []
    count = {3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}[len(installed)]
    assert f"`.ci/run` installs whichever of these {count} is missing" in sentence
    # Nothing runs npm to build or test: the docs that time `make test` say so too.
    assert "npm" not in (ROOT / "Makefile").read_text() and "npm" not in sentence
    assert "npm ci" not in (ROOT / "docs" / "performance.md").read_text()


# Without what an outer make passes down (`make test TEST_WORKERS=1` reaches a make run from the tests through
# MAKEFLAGS) or a TEST_WORKERS of the shell's: the count the Makefile picks by itself.
MAKE_FREE_ENVIRON = {name: value for name, value in fresh_make_env().items() if name != "TEST_WORKERS"}


@pytest.mark.parametrize(("cores", "processes"), [(1, 2), (2, 5), (4, 10)])
def test_make_test_runs_five_processes_for_every_two_cores(tmp_path, cores, processes):
    assert "five for every two cores the machine has" in (ROOT / "docs" / "quickstart.md").read_text()
    (tmp_path / "nproc").write_text(f"#!/bin/sh\necho {cores}\n")  # the machine's core count, as nproc says it
    (tmp_path / "nproc").chmod(0o755)
    done = subprocess.run(
        ["make", "-n", "-s", "test"],
        cwd=ROOT,
        env={**MAKE_FREE_ENVIRON, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        check=True,
    )
    (command,) = [line for line in done.stdout.splitlines() if " -m pytest " in line]
    assert f" -n {processes} --dist loadfile " in command
