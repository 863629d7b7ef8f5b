"""A data-plane client that hangs up during its synchronous execution: running, the execution is stopped, its
session's processes with it, instead of running to its timeout (200 s here); waiting its turn, it leaves the
session's queue.

Judged from the host: the session's processes below the emulator (/proc), for `executions`, the legacy
`code/execute` and a Shell pool's `executions`, with the emulator started by whoever runs the tests (root, in CI)
and, as root, by an ordinary user (nobody).
"""

import contextlib
import json
import select
import shutil
import socket
import time
from typing import Any

import pytest

from dynamic_sessions import api_versions
from dynamic_sessions.emulator.sessions.session import MAX_QUEUED
from tests.emulator_process import Emulator, bearer, running_below
from tests.sandbox_support import _address, _emulator, exited, shell, started_by, tree

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
MODES = ["runner", "nobody"]
TIMEOUT_S = 200
# Far below the execution's timeout, and generous for a busy machine.
GONE_WITHIN_S = 30


def _executions(command: str) -> tuple[str, dict[str, Any]]:
    code = shell(command)
    body = {"codeInputType": "Inline", "executionType": "Synchronous", "code": code, "timeoutInSeconds": TIMEOUT_S}
    return f"/executions?api-version={api_versions.EXECUTIONS_VERSIONS[-1]}", body


def _code_execute(command: str) -> tuple[str, dict[str, Any]]:
    properties: dict[str, Any] = {"codeInputType": "inline", "executionType": "synchronous", "code": shell(command)}
    properties["timeoutInSeconds"] = TIMEOUT_S
    return f"/code/execute?api-version={api_versions.CODE_EXECUTE_VERSIONS[-1]}", {"properties": properties}


def _shell_executions(command: str) -> tuple[str, dict[str, Any]]:
    body = {"shellCommand": command, "timeoutInSeconds": TIMEOUT_S}
    return f"/executions?api-version={api_versions.SHELL_API_VERSIONS[-1]}", body


ROUTES = {
    "executions": ((), _executions),
    "code/execute": ((), _code_execute),
    "shell executions": (("--container-type", "Shell"), _shell_executions),
}


def _send(emulator: Emulator, path: str, body: dict[str, Any]) -> socket.socket:
    """A raw connection to the emulator with `body` POSTed to `path` on it (the caller closes it: a hang-up)."""
    payload = json.dumps(body).encode()
    host, port = _address(emulator)
    headers = "".join(f"{name}: {value}\r\n" for name, value in bearer().items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{headers}"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    connection = socket.create_connection((host, port), timeout=30)
    connection.sendall(head.encode() + payload)
    return connection


def _hang_up_while(emulator: Emulator, route: str, identifier: str, running: str) -> set[int]:
    """Runs `running` (a command line) in the identifier's session on a raw connection, and closes it once the
    host sees that command below the emulator; the session's processes at that moment."""
    path, body = ROUTES[route][1](running)
    with _send(emulator, f"{path}&identifier={identifier}", body):
        deadline = time.monotonic() + 60
        while not (found := running_below(emulator.process.pid, running)):
            assert time.monotonic() < deadline, f"{running!r} never started: {emulator.logs()[-2000:]}"
            time.sleep(0.05)
        return tree(started_by(emulator, found[0]))


def _outliving(pids: set[int], seconds: float) -> set[int]:
    """The processes of `pids` still running after `seconds` (fewer once all have ended)."""
    deadline = time.monotonic() + seconds
    while (left := {pid for pid in pids if not exited(pid)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("mode", MODES)
def test_hanging_up_stops_the_running_execution_and_its_session(mode, route):
    flags, _ = ROUTES[route]
    # A distinct command line per case: a case's processes are never taken for another's.
    running = f"sleep {311 + list(ROUTES).index(route)}.{MODES.index(mode) + 1}"
    with _emulator(mode, *flags) as emulator:
        session = _hang_up_while(emulator, route, "leaver", running)
        left = _outliving(session, GONE_WITHIN_S)
        assert left == set(), f"{len(left)} of the session's processes outlived their client by {GONE_WITHIN_S} s"
        # The identifier's next call gets a new session, as after a timeout, and its answer.
        path, body = ROUTES[route][1]("echo again")
        again = emulator.http.post(path + "&identifier=leaver", json=body)
    assert again.status_code == 200, again.text
    assert "again" in again.text


@pytest.mark.parametrize("mode", MODES)
def test_hanging_up_takes_a_waiting_execution_out_of_the_queue(mode):
    path, body = _executions("echo queued")
    path += "&identifier=queue"
    blocked = "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)"
    with _emulator(mode) as emulator, contextlib.ExitStack() as waiting:
        # The session is busy, without spending a core, for the execution's 200 s timeout.
        busy = emulator.http.post(path, json={**body, "code": blocked, "executionType": "Asynchronous"})
        assert busy.status_code in (200, 202), busy.text
        # One more than the queue holds: once one is refused, the others are waiting their turn.
        connections = [waiting.enter_context(_send(emulator, path, body)) for _ in range(MAX_QUEUED)]
        readable, _, _ = select.select(connections, [], [], 60)
        assert len(readable) == 1 and b" 429 " in readable[0].recv(4096).split(b"\r\n")[0], readable
        for connection in connections:
            connection.close()  # each waiting client hangs up
        # Their places are free again: as many asynchronous executions are accepted behind the busy one.
        deadline, accepted = time.monotonic() + GONE_WITHIN_S, 0
        while accepted < MAX_QUEUED - 1 and time.monotonic() < deadline:
            probe = emulator.http.post(path, json={**body, "executionType": "Asynchronous"})
            if probe.status_code == 429:
                time.sleep(0.1)
                continue
            assert probe.status_code in (200, 202), probe.text
            accepted += 1
    assert accepted == MAX_QUEUED - 1, f"{MAX_QUEUED - 1 - accepted} places were still held after {GONE_WITHIN_S} s"
