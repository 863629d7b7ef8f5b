"""A hostile key holder against the MCP endpoint (`--mcp`): what a batch may make the emulator hold, how long a flood
of batches may stall other tenants, whether issuing environment ids can lock other clients out, and what is left
running once a client hangs up.

Each attack is judged from the host: the emulator's peak RSS (/proc/<pid>/status), another tenant's call latency,
what another client gets back, and the processes below the emulator (/proc). Each runs with the emulator started
by whoever runs the tests (root, in CI) and, as root, by an ordinary user (nobody).
"""

import concurrent.futures
import contextlib
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from dynamic_sessions.emulator.api import batches
from tests.emulator_process import NO_TLS, Emulator, running_below
from tests.sandbox_support import ORDINARY_UID, _python_for, _user_env, as_user

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
KEY = "bounds-key-" + "b" * 30
V = "2025-10-02-preview"
MIB = 1024 * 1024
MODES = ["runner", "nobody"]


class McpEmulator:
    """An emulator with --mcp, run by whoever runs the tests ("runner") or by nobody; its MCP endpoint, with the key."""

    def __init__(self, mode: str, *flags: str):
        arguments = (*flags, "--mcp", "--mcp-api-key", KEY)
        if mode == "nobody":
            if os.geteuid() != 0:
                pytest.skip("switching to nobody needs root")
            python = _python_for(ORDINARY_UID)
            if python is None:
                pytest.skip("no Python this machine's ordinary users may run with the project importable")
            interpreter = [*as_user(ORDINARY_UID), python]
            self.emulator = Emulator(
                *arguments, interpreter=interpreter, cwd="/", env=_user_env(), log_owner=ORDINARY_UID
            )
        else:
            self.emulator = Emulator(*arguments)
        stdout = self.emulator.process.stdout
        assert stdout is not None
        self.endpoint = stdout.readline().strip().split("=", 1)[1]
        self.pid = self.emulator.process.pid

    def client(self, timeout: float = 120) -> httpx.Client:
        return httpx.Client(timeout=timeout, headers={"x-ms-apikey": KEY}, verify=NO_TLS)

    def post(self, body: Any, http: httpx.Client | None = None) -> httpx.Response:
        if http is not None:
            return http.post(self.endpoint, json=body)
        with self.client() as fresh:
            return fresh.post(self.endpoint, json=body)

    def launch(self, http: httpx.Client | None = None) -> str:
        answer = self.post(_message("launchShell", {}), http).json()
        assert "result" in answer, answer
        return answer["result"]["structuredContent"]["environmentId"]

    def rss_mib(self, field: str = "VmRSS") -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise AssertionError(f"no {field}")


def _message(tool: str, arguments: dict[str, Any], message_id: int = 1) -> dict[str, Any]:
    params = {"name": tool, "arguments": arguments}
    return {"jsonrpc": "2.0", "id": message_id, "method": "tools/call", "params": params}


@contextlib.contextmanager
def _mcp(mode: str, *flags: str) -> Iterator[McpEmulator]:
    running = McpEmulator(mode, *flags)
    try:
        yield running
    finally:
        running.emulator.stop()


# --- what a batch may make the emulator hold --------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_batch_of_large_answers_costs_the_emulator_a_bounded_amount_of_memory(mode):
    flags = ("--container-type", "PythonLTS", "--python-packages", "none", "--max-sessions", "2")
    with _mcp(mode, *flags) as pool:
        environment = pool.launch()
        python = "runPythonCodeInRemoteEnvironment"
        kept = pool.post(_message(python, {"environmentId": environment, "pythonCode": "x = 'a' * 1_000_000"}))
        assert kept.json()["result"]["structuredContent"]["status"] == "Succeeded", kept.text
        before = pool.rss_mib()
        # Each message returns the 1 MB string, which the answer carries twice (structuredContent and its text).
        flood = [_message(python, {"environmentId": environment, "pythonCode": "x"}, n) for n in range(100)]
        refused = pool.post(flood)
        capped = pool.post(flood[: batches.MAX_BATCH_MESSAGES])
        grown = pool.rss_mib("VmHWM") - before
    # 100 answers of ~6 MB each took the emulator's peak RSS up by some 600 MiB before; a request holds 16 MiB now.
    assert grown < 150, f"the emulator's peak RSS grew by {grown:.0f} MiB"
    assert refused.status_code == 400
    assert f"at most {batches.MAX_BATCH_MESSAGES} messages" in refused.json()["error"]["message"]
    answers = capped.json()
    ran = [a for a in answers if "result" in a]
    assert ran and all(len(a["result"]["structuredContent"]["result"]) >= 1_000_000 for a in ran)
    limit = f"a request may hold {batches.MAX_REQUEST_ANSWER_BYTES // MIB} MiB"
    assert [a["id"] for a in answers] == list(range(batches.MAX_BATCH_MESSAGES))
    assert all(limit in a["error"]["message"] for a in answers[len(ran) :]) and len(ran) < len(answers)
    assert len(capped.content) < batches.MAX_REQUEST_ANSWER_BYTES + 4 * MIB


# --- another tenant beside a flood of batches ----------------------------------------------------------


def _flood(pool: McpEmulator, stop: threading.Event) -> list[int]:
    """Batches of launchShell: 10,000 in one request, then 5,000 a request, then as many as a batch may hold, from
    four clients at once, for a bounded count; the HTTP statuses they got."""
    statuses: list[int] = []

    def launches(count: int) -> list[dict[str, Any]]:
        return [_message("launchShell", {}, n) for n in range(count)]

    with pool.client() as http:
        for count in (10_000, 5_000, 5_000):
            statuses.append(pool.post(launches(count), http).status_code)

    def capped(_: int) -> list[int]:
        got = []
        with pool.client() as http:
            for _ in range(150):
                if stop.is_set():
                    break
                got.append(pool.post(launches(batches.MAX_BATCH_MESSAGES), http).status_code)
        return got

    with concurrent.futures.ThreadPoolExecutor(4) as threads:
        for got in threads.map(capped, range(4)):
            statuses.extend(got)
    return statuses


@pytest.mark.parametrize("mode", MODES)
def test_another_tenants_calls_are_answered_promptly_beside_a_flood_of_batches(mode):
    with _mcp(mode, "--container-type", "Shell", "--max-sessions", "4") as pool:
        params = {"api-version": V, "identifier": "other-tenant"}
        other = pool.emulator.http
        assert other.post("/executions", params=params, json={"shellCommand": "echo hi"}).status_code == 200
        stop = threading.Event()
        with concurrent.futures.ThreadPoolExecutor(1) as thread:
            flooding = thread.submit(_flood, pool, stop)
            latencies = []
            while not flooding.done():
                started = time.monotonic()
                answer = other.post("/executions", params=params, json={"shellCommand": "echo hi"})
                latencies.append(time.monotonic() - started)
                assert answer.json()["result"]["stdout"] == "hi\n"
                if len(latencies) >= 2000:
                    stop.set()
            statuses = flooding.result()
    assert statuses.count(200) >= 100, "the flood's capped batches were not served"
    # Before, each launchShell past 10,000 ids scanned them all on the event loop: a batch of 5,000 held it for
    # seconds, and the other tenant's call waited as long.
    assert max(latencies) < 3.0, f"another tenant waited {max(latencies):.1f} s beside the flood"


@pytest.mark.parametrize("mode", MODES)
def test_another_clients_launch_shell_succeeds_after_a_flood_of_ids(mode):
    with _mcp(mode, "--container-type", "Shell", "--max-sessions", "2") as pool:
        stop = threading.Event()
        stop.set()  # the large batches only: the 10,000 ids they asked for filled the table before
        _flood(pool, stop)
        with pool.client() as http:
            for _ in range(700):  # 11,200 more ids, in batches a request may hold
                launched = pool.post([_message("launchShell", {}, n) for n in range(batches.MAX_BATCH_MESSAGES)], http)
                assert launched.status_code == 200
        environment = pool.launch()
        arguments = {"environmentId": environment, "shellCommand": "echo mine"}
        answer = pool.post(_message("runShellCommandInRemoteEnvironment", arguments))
    assert answer.json()["result"]["structuredContent"]["stdout"] == "mine\n", answer.text


# --- hanging up -------------------------------------------------------------------------------------


def _hang_up_after(pool: McpEmulator, body: bytes, running: str) -> None:
    """Sends `body` to the endpoint on a raw connection, and closes it once the host sees `running` below the
    emulator."""
    url = urlsplit(pool.endpoint)
    assert url.hostname is not None and url.port is not None
    head = (
        f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
        f"x-ms-apikey: {KEY}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=30) as connection:
        connection.sendall(head.encode() + body)
        deadline = time.monotonic() + 60
        while not running_below(pool.pid, running):
            assert time.monotonic() < deadline, f"{running!r} never started"
            time.sleep(0.05)


def _gone_within(pool: McpEmulator, command_line: str, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := running_below(pool.pid, command_line)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.mark.parametrize("mode", MODES)
def test_hanging_up_kills_the_running_command_and_cancels_the_rest_of_the_batch(mode):
    with _mcp(mode, "--container-type", "Shell", "--max-sessions", "2") as pool:
        environment = pool.launch()
        run = "runShellCommandInRemoteEnvironment"
        started = "sleep 311.5 & setsid sleep 311.6 & sleep 311.7"
        batch = [
            _message(run, {"environmentId": environment, "shellCommand": started}, 1),
            _message(run, {"environmentId": environment, "shellCommand": "sleep 312.5"}, 2),
        ]
        _hang_up_after(pool, json.dumps(batch).encode(), "sleep 311.7")
        # The command ran to its end before (a 31 s sleep here; N of them N times as long), and the next one after it.
        left = _gone_within(pool, "sleep 31", 15)
        assert left == [], f"{len(left)} processes outlived their client"
        single = _message(run, {"environmentId": environment, "shellCommand": "sleep 313.5"})
        _hang_up_after(pool, json.dumps(single).encode(), "sleep 313.5")
        assert _gone_within(pool, "sleep 31", 15) == []
        # Held after the second hang-up too: the batch's second command (sleep 312.5) never started.
        again = pool.post(_message(run, {"environmentId": environment, "shellCommand": "echo again"}))
    assert again.json()["result"]["structuredContent"]["stdout"] == "again\n", again.text
