"""What the emulator holds for a tenant, bounded: its queue of executions, its operation ids, and the
limits --help and docs/sandbox.md state.

Each attack runs as session code (or a client) against a real emulator process, and is judged by what
the host sees."""

import shutil
import subprocess
import sys
import time

import pytest

from dynamic_sessions.emulator.api import bodies
from dynamic_sessions.emulator.sandbox.caps import show_size
from tests.emulator_process import ROOT
from tests.sandbox_support import ASYNC, MIB, SYNC, V, _params, _rss_mib

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


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


def test_help_and_the_sandbox_page_state_the_emulators_own_limits():
    from dynamic_sessions.emulator.api import contract, history, server
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
