"""A session's processes: the task cap, the CPU share, signals, core dumps, and sessions whose process
ends before it is ready or between calls.

Each attack runs as session code (or a client) against a real emulator process, and is judged by what
the host sees."""

import os
import shutil
import time
from pathlib import Path

import pytest

from dynamic_sessions.emulator.sandbox import cgroups
from tests.conditions import until
from tests.sandbox_support import FORK_BOMB, _cgroups, _params, as_root, exited, kernel_of, run, started_by, tasks, tree

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


SPINNERS = """
const { spawn } = require('child_process');
for (let i = 0; i < 8; i++) {
  spawn('/bin/sh', ['-c', 'while :; do :; done'], { detached: true, stdio: 'ignore' }).unref();
}
'spinning'
"""


def _cpu_cgroup(pid: int) -> str:
    groups = _cgroups(pid)
    if "cpu" in groups:
        return groups["cpu"]
    if "unified" in groups and "cpu" in _v2_controllers():
        return groups["unified"]
    raise AssertionError(f"no cpu cgroup for {pid}")


def _v2_controllers() -> list[str]:
    return Path("/sys/fs/cgroup/cgroup.controllers").read_text().split() if os.path.exists("/sys/fs/cgroup") else []


def _limit(pid: int, name: str) -> tuple[str, str]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith(name):
            soft, hard = line[len(name) :].split()[:2]
            return soft, hard
    raise AssertionError(f"no {name} in /proc/{pid}/limits")


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def test_a_fork_bomb_of_2000_processes_is_held_to_the_process_cap(launch):
    emulator = launch("--max-processes", "64")
    pid = kernel_of(emulator, "bomber")
    emulator.execute(FORK_BOMB, "bomber", timeoutInSeconds=60)
    time.sleep(0.5)
    assert tasks(tree(pid)) <= 64
    assert len(tree(pid)) < 64
    assert run(emulator, "'still here'", "neighbour")["executionResult"] == "still here"


@as_root
def test_a_sessions_busy_processes_share_one_cpu_group_apart_from_other_sessions(emulator):
    _, why_not = cgroups.discover()
    if "cpu" in why_not:
        pytest.skip(f"this machine gives the emulator no cpu cgroup: {why_not['cpu']}")
    assert "cap cpu: a fair share per session" in emulator.logs()
    bystander = kernel_of(emulator, "bystander")
    hogger = kernel_of(emulator, "hogger")
    assert run(emulator, SPINNERS, "hogger")["executionResult"] == "spinning"
    # Detached (a session of their own), they are still the kernel's children.
    deadline = time.monotonic() + 10
    while len(tree(hogger) - {hogger}) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    spinners = [p for p in tree(hogger) if _comm(p) == "sh"]
    assert len(spinners) >= 8, spinners
    own = _cpu_cgroup(hogger)
    assert own.startswith(f"/{cgroups.PREFIX}{emulator.process.pid}/session-"), own
    assert {_cpu_cgroup(p) for p in spinners} == {own}
    assert _cpu_cgroup(bystander) != own
    assert _cpu_cgroup(emulator.process.pid) != own  # the emulator itself is never in a session's group
    assert emulator.http.delete("/session", params=_params("hogger")).status_code == 204  # its spinners with it


def test_kill_minus_one_and_signals_to_host_pids_reach_only_the_sessions_own_processes(emulator):
    bystander = kernel_of(emulator, "bystander")
    attacker = kernel_of(emulator, "attacker")
    targets = " ".join(str(p) for p in (emulator.process.pid, bystander, os.getpid(), 1))
    # Host pids mean nothing in the session's pid namespace; then everything the session may signal.
    emulator.execute(
        "require('child_process').spawnSync('/bin/sh', ['-c', 'kill -9 " + targets + "; kill -9 -1'])",
        "attacker",
        timeoutInSeconds=20,
    )
    assert emulator.process.poll() is None
    assert os.path.exists(f"/proc/{bystander}") and not os.path.exists(f"/proc/{attacker}")
    assert run(emulator, "6 * 7", "bystander")["executionResult"] == 42
    assert kernel_of(emulator, "bystander") == bystander


@pytest.mark.parametrize("flags", [(), ("--no-caps",)], ids=["caps", "no-caps"])
def test_session_code_can_never_dump_core(request, flags):
    emulator = request.getfixturevalue("launch")(*flags) if flags else request.getfixturevalue("emulator")
    kernel = kernel_of(emulator, "dumper")
    # 1 byte: no core file fits, and the kernel never runs a core_pattern helper for it.
    assert _limit(kernel, "Max core file size") == ("1", "1")
    raised = run(
        emulator, "require('child_process').spawnSync('/bin/sh', ['-c', 'ulimit -c unlimited']).status", "dumper"
    )["executionResult"]
    assert raised != 0  # the hard limit holds against the session


def test_a_session_that_exits_between_calls_is_replaced_before_the_next_one(emulator):
    first = kernel_of(emulator, "quitter")
    started = started_by(emulator, first)
    assert run(emulator, "setTimeout(() => process.exit(5), 50); 'later'", "quitter")["executionResult"] == "later"
    until(lambda: exited(started), "the session's sandbox ended")
    assert not os.path.exists(f"/proc/{first}")
    answer = emulator.execute("6 * 7", "quitter", timeoutInSeconds=20)
    assert answer["status"] == "Succeeded" and answer["result"]["executionResult"] == 42, answer
    assert kernel_of(emulator, "quitter") != first


def test_a_session_whose_process_ends_before_it_is_ready_is_refused_and_the_log_says_so(launch):
    cramped = launch("--max-processes", "1")  # too few for the sandbox's own processes
    refused = cramped.http.post(
        "/executions",
        params={"api-version": "2025-10-02-preview", "identifier": "cramped"},
        json={"codeInputType": "Inline", "executionType": "Synchronous", "code": "1", "timeoutInSeconds": 20},
    )
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "SessionUnavailable", refused.text
    assert "a session's process ended before it said it was ready" in cramped.logs()
