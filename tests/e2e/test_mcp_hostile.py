"""A hostile key holder against the MCP endpoint (`--mcp`), beyond `test_mcp_bounds`: hang-ups the endpoint must see
however the client shapes its requests. Judged from the host: the processes below the emulator (/proc), with the
emulator started by whoever runs the tests (root, in CI) and, as root, by an ordinary user (nobody)."""

import json
import socket
import time
from urllib.parse import urlsplit

import pytest

from tests.e2e.test_mcp_bounds import KEY, MODES, _gone_within, _mcp, _message, pytestmark  # noqa: F401
from tests.emulator_process import running_below


def _post(path: str, host: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"x-ms-apikey: {KEY}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@pytest.mark.parametrize("ahead", [0, 1], ids=["first", "after-one"])
@pytest.mark.parametrize("mode", MODES)
def test_hanging_up_with_a_request_pipelined_behind_kills_the_running_command(mode, ahead):
    with _mcp(mode, "--container-type", "Shell", "--max-sessions", "2") as pool:
        environment = pool.launch()
        url = urlsplit(pool.endpoint)
        assert url.hostname is not None and url.port is not None
        arguments = {"environmentId": environment, "shellCommand": "sleep 351.5"}
        running = json.dumps(_message("runShellCommandInRemoteEnvironment", arguments)).encode()
        behind = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"}).encode()
        with socket.create_connection((url.hostname, url.port), timeout=30) as connection:
            # All in one write, pipelined (HTTP/1.1): the command starts first, or once a ping ahead is answered.
            pings = _post(url.path, url.netloc, behind) * ahead
            connection.sendall(pings + _post(url.path, url.netloc, running) + _post(url.path, url.netloc, behind))
            deadline = time.monotonic() + 60
            while not running_below(pool.pid, "sleep 351.5"):
                assert time.monotonic() < deadline, "the command never started"
                time.sleep(0.05)
        # uvicorn marks only the newest request of a connection as gone: the running command's hang-up went
        # unnoticed, and it ran to its end (351 s here, up to the call's timeout).
        left = _gone_within(pool, "sleep 351.5", 15)
        assert left == [], f"{len(left)} processes outlived their client"
        again = pool.post(_message("runShellCommandInRemoteEnvironment", {**arguments, "shellCommand": "echo again"}))
    assert again.json()["result"]["structuredContent"]["stdout"] == "again\n", again.text
