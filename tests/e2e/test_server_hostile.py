"""Clients that ask and never read their answers, against the emulator's HTTP server: what they make it hold, and
how long. Judged from the host: the emulator's RSS (/proc/<pid>/status) and what a client reading at last gets."""

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn

from dynamic_sessions.emulator.api import server
from tests.e2e.test_mcp_bounds import KEY, MIB, MODES, McpEmulator, _mcp, pytestmark  # noqa: F401
from tests.emulator_process import bearer

V = "2025-10-02-preview"
# Three streams of a million characters that JSON escapes in 6 bytes each: an answer of about 13 MB.
LARGE = '"\\u0001".repeat(1000000)'
LARGE_CODE = f"process.stdout.write({LARGE}); process.stderr.write({LARGE}); {LARGE}"


def _unread_gets(pool: McpEmulator, path: str, count: int) -> list[socket.socket]:
    """`count` connections that each ask for `path` and read nothing (a small receive buffer, so little of the
    answer leaves the emulator)."""
    url = urlsplit(pool.emulator.url)
    assert url.hostname is not None and url.port is not None
    head = f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: {bearer()['Authorization']}\r\n\r\n"
    connections = []
    for _ in range(count):
        connection = socket.socket()
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        connection.connect((url.hostname, url.port))
        connection.sendall(head.encode())
        connections.append(connection)
    return connections


def _settled_peak(pool: McpEmulator) -> float:
    """The emulator's peak RSS once its RSS has held still for a second (within a minute)."""
    deadline, last = time.monotonic() + 60, -1.0
    while (now := pool.rss_mib()) != last and time.monotonic() < deadline:
        last = now
        time.sleep(1)
    return pool.rss_mib("VmHWM")


@pytest.mark.parametrize("mode", MODES)
def test_clients_that_never_read_their_answers_hold_a_bounded_amount_of_the_emulators_memory(mode):
    with _mcp(mode, "--max-sessions", "2") as pool:
        params = {"api-version": V, "identifier": "reader"}
        body: dict[str, Any] = {"codeInputType": "Inline", "executionType": "Synchronous", "code": LARGE_CODE}
        body |= {"timeoutInSeconds": 60, "outputStreamsMaxLength": 1024 * 1024}
        made = pool.emulator.http.post("/executions", params=params, json=body, headers={"operation-id": "large"})
        assert made.status_code == 200 and len(made.content) > 12 * MIB, made.text[:300]
        before = pool.rss_mib()
        connections = _unread_gets(pool, f"/executions/large?api-version={V}&identifier=reader", 60)
        try:
            # Every answer rendered (or its client cut off).
            grown = _settled_peak(pool) - before
        finally:
            for connection in connections:
                connection.close()
    # 60 answers of 13 MB, none read, were all held: the peak RSS grew by 782 MiB, and stayed there until the
    # clients went. The answers waiting now hold MAX_UNSENT_BYTES at most, beside what is being rendered.
    bound = server.MAX_UNSENT_BYTES / MIB + 160
    assert grown < bound, f"the emulator's peak RSS grew by {grown:.0f} MiB (bound {bound:.0f})"


@contextlib.contextmanager
def _serving(answer: bytes) -> Iterator[int]:
    """uvicorn with the emulator's protocol on a loopback port, answering `answer` to every request."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": answer})

    listening = socket.create_server(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", log_level="warning", **server.server_options())
    running = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(running.serve(sockets=[listening])))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not running.started:
            assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
            time.sleep(0.01)
        yield listening.getsockname()[1]
    finally:
        running.should_exit = True
        thread.join(30)
        listening.close()


def test_a_client_that_reads_none_of_its_answer_is_cut_off(monkeypatch):
    monkeypatch.setattr(server, "SEND_STALL_TIMEOUT_S", 1.0)
    answer = b"x" * (32 * MIB)
    with _serving(answer) as port, socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(4)  # reads nothing for four stall timeouts
        received = -len(b"HTTP/1.1 200 OK\r\n")  # about the head's size: counted as the body's
        with contextlib.suppress(ConnectionResetError):
            while chunk := connection.recv(1024 * 1024):
                received += len(chunk)
    # Before, the answer waited for its client however long it took, and a client that never read held it forever.
    assert received < len(answer), "the whole answer waited for a client that read none of it"


def _ping_request() -> bytes:
    """An MCP ping as one HTTP/1.1 request, to be sent many times over without reading (pipelined)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
    head = f"POST /mcp HTTP/1.1\r\nHost: x\r\nx-ms-apikey: {KEY}\r\nContent-Type: application/json\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _send_all_it_takes(connection: socket.socket, data: bytes, seconds: float) -> int:
    """Sends what the emulator takes of `data` within `seconds` (it may close the connection): the bytes sent."""
    connection.setblocking(False)
    sent, deadline = 0, time.monotonic() + seconds
    while sent < len(data) and time.monotonic() < deadline:
        try:
            sent += connection.send(data[sent : sent + 65536])
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            break
    return sent


@pytest.mark.parametrize("mode", MODES)
def test_thousands_of_pipelined_requests_cost_the_emulator_little(mode):
    with _mcp(mode, "--container-type", "Shell", "--max-sessions", "2") as pool:
        url = urlsplit(pool.endpoint)
        assert url.hostname is not None and url.port is not None
        ping = _ping_request()
        before = pool.rss_mib()
        connections = []
        try:
            for _ in range(4):
                connection = socket.create_connection((url.hostname, url.port), timeout=30)
                connections.append(connection)
                _send_all_it_takes(connection, ping * 20_000, 10)
            assert pool.post({"jsonrpc": "2.0", "id": 1, "method": "ping"}).status_code == 200
            grown = _settled_peak(pool) - before
        finally:
            for connection in connections:
                connection.close()
        with socket.create_connection((url.hostname, url.port), timeout=30) as reader:
            reader.sendall(ping * 1000)
            answered = b""
            with contextlib.suppress(ConnectionResetError):
                while chunk := reader.recv(1024 * 1024):
                    answered += chunk
    # 80,000 requests pipelined on four connections, never read, grew the peak RSS by 230 MiB before (and held
    # another tenant's call for up to 0.9 s); past MAX_PIPELINED, a connection is answered 400 and closed now.
    assert grown < 40, f"the emulator's peak RSS grew by {grown:.0f} MiB"
    statuses = answered.count(b"HTTP/1.1 ")
    assert statuses <= server.MAX_PIPELINED + 2, f"{statuses} of 1000 pipelined requests were answered"
    assert b"400 Bad Request" in answered
