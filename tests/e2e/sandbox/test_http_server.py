"""The emulator's HTTP surface against hostile clients: huge, chunked, slow and malformed bodies, idle and
half-sent connections, oversized heads, control characters, hostile identifiers and tokens.

Each attack runs as session code (or a client) against a real emulator process, and is judged by what
the host sees."""

import base64
import contextlib
import json
import select
import shutil
import socket
import threading
import time

import httpx
import pytest

from dynamic_sessions.client import SessionsClient
from dynamic_sessions.emulator.api import bodies
from tests.conditions import until
from tests.emulator_process import NO_TLS, bearer
from tests.sandbox_support import (
    EXECUTION,
    LEGACY,
    MB,
    SYNC,
    V,
    _address,
    _chunked_upload,
    _chunks,
    _host_folder,
    _names,
    _params,
    _peak_rss_kib,
    _reset_peak_rss,
    _rss_mib,
)

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


def _slow_body(address: tuple[str, int]) -> socket.socket:
    """A connection that sends a whole request head, then its body a byte at a time."""
    head = (
        f"POST /executions?api-version={V}&identifier=slow-body HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {bearer()['Authorization']}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000\r\n\r\n{"
    )
    sock = socket.create_connection(address)
    sock.sendall(head.encode())
    return sock


def _ended(sock: socket.socket) -> bytes | None:
    """What the server sent before ending a connection it cut off (b"" if it sent nothing), or None while it
    still reads the body."""
    try:
        return sock.recv(64, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def test_huge_bodies_get_413_without_costing_the_emulator_their_size(emulator):
    emulator.execute("1", "rss-check")  # the session exists; what follows costs only the bodies
    _reset_peak_rss(emulator.process.pid)
    before = _peak_rss_kib(emulator.process.pid)
    piece = b" " * MB
    json_answer = emulator.http.post(
        "/executions",
        params=_params("rss-check"),
        content=_chunks(200 * MB, piece),
        headers={"Content-Type": "application/json"},
    )
    assert json_answer.status_code == 413 and json_answer.json()["error"]["code"] == "RequestEntityTooLarge"
    upload = _chunked_upload(emulator, "rss-check", 200 * MB)
    assert upload.status_code == 413, upload.text
    grown_mib = (_peak_rss_kib(emulator.process.pid) - before) / 1024
    assert grown_mib < 48, f"the emulator's peak RSS grew by {grown_mib:.0f} MiB for 400 MB of refused bodies"
    assert _names(emulator, "rss-check") == set()
    folder = _host_folder(emulator, "rss-check")
    assert list(folder.iterdir()) == []  # the partial upload was removed


def test_a_json_body_above_its_cap_gets_413_declared_or_chunked(emulator):
    code = json.dumps({"codeInputType": "Inline", "executionType": "Synchronous", "timeoutInSeconds": 5})
    big = code[:-1] + ', "code": "' + "x" * (5 * MB) + '"}'
    declared = emulator.http.post(
        "/executions", params=_params("json-cap"), content=big, headers={"Content-Type": "application/json"}
    )
    chunked = emulator.http.post(
        "/executions",
        params=_params("json-cap"),
        content=iter([big[i : i + 65536].encode() for i in range(0, len(big), 65536)]),
        headers={"Content-Type": "application/json"},
    )
    for response in (declared, chunked):
        assert response.status_code == 413 and "4 MB" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b"1" * 5000,
        json.dumps({**EXECUTION, "timeoutInSeconds": 10**4000}).encode(),
        json.dumps(EXECUTION)[:-2].encode() + b"NaN}",
        json.dumps(EXECUTION)[:-2].encode() + b"1e999}",
        json.dumps(EXECUTION)[:-2].encode() + b"Infinity}",
        *(
            b'{"codeInputType": ' + b"[" * depth + b"]" * depth + b', "executionType": "Synchronous", "code": "1", '
            b'"timeoutInSeconds": 5}'
            for depth in range(940, 1000, 6)
        ),
        b"[]",
        b'"code"',
        b"5",
        b"null",
        b"\xff\xfe{",
        json.dumps({**EXECUTION, "code": 5}).encode(),
        json.dumps({**EXECUTION, "code": ["x"]}).encode(),
        json.dumps({**EXECUTION, "timeoutInSeconds": "5"}).encode(),
        json.dumps({**EXECUTION, "timeoutInSeconds": 5.5}).encode(),
        json.dumps({**EXECUTION, "codeInputType": ["Inline"]}).encode(),
        json.dumps({**EXECUTION, "codeInputType": {"a": 1}}).encode(),
        json.dumps({**EXECUTION, "executionType": None}).encode(),
        json.dumps({**EXECUTION, "codeInputType": "InlineBase64", "code": "////"}).encode(),
    ],
)
@pytest.mark.parametrize("route,version", [("/executions", V), ("/code/execute", LEGACY)])
def test_bad_json_of_any_shape_gets_400(emulator, raw, route, version):
    if route == "/code/execute" and raw.startswith(b"{") and b'"code"' in raw:
        raw = b'{"properties": ' + raw + b"}"
    response = emulator.http.post(
        route, params=_params("bad-json", version), content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, (raw[:80], response.status_code, response.text[:200])
    assert response.json()["error"]["code"] == response.headers["x-ms-error-code"]


def test_hundreds_of_idle_connections_do_not_starve_a_real_client(launch):
    guarded = launch()
    idle = [socket.create_connection(_address(guarded)) for _ in range(300)]
    try:
        assert guarded.execute("'served'", "after-idle")["result"]["executionResult"] == "served"
        # Every connection at once, well before the head timeout would close the rest: the ones shed
        # to make room are closed already.
        readable, _, _ = select.select(idle, [], [], 1)
        closed = 0
        for sock in readable:
            with contextlib.suppress(ConnectionResetError):
                closed += sock.recv(1) == b""
        assert closed >= 300 - 256, "the oldest idle connections should have been closed to make room"
    finally:
        for sock in idle:
            sock.close()


def test_a_request_head_that_never_completes_is_cut_off(waiting_connections):
    ended = waiting_connections["head"].result()
    assert ended, "the server kept a connection open with an incomplete request head"


def test_an_idle_kept_alive_connection_is_closed(waiting_connections):
    answer, kept = waiting_connections["idle"].result()
    assert answer.startswith(b"HTTP/1.1 200")
    assert kept < 15, "the server should end an idle kept-alive connection"


def test_an_oversized_request_head_gets_431(emulator):
    with socket.create_connection(_address(emulator)) as sock:
        sock.sendall(b"GET /metadata HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (100 * 1024))
        sock.settimeout(10)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 431")


def test_control_characters_in_the_path_are_escaped_in_the_log(emulator):
    emulator.http.get("/files%0aINJECTED%1b[31m/x%0d")
    until(lambda: "INJECTED" in emulator.logs(), "the request's log line")
    logs = emulator.logs()
    assert not any(line.startswith("INJECTED") for line in logs.splitlines())
    assert "\x1b" not in logs
    assert "/files\\nINJECTED\\x1b[31m/x\\r 404" in logs
    emulator.http.get("/" + "p" * 300)
    until(lambda: "(101 more)" in emulator.logs(), "the long path's log line")
    assert f"GET /{'p' * 199}...(101 more) 404" in emulator.logs()


def test_a_flood_of_slow_bodies_leaves_legitimate_requests_answered(emulator):
    host, port = emulator.url.removeprefix("http://").rsplit(":", 1)
    address = (host, int(port))
    emulator.execute("1", "legit")
    opened = time.monotonic()
    flood = [_slow_body(address) for _ in range(256)]
    stop = threading.Event()
    # When each was answered 408 for its rate, in seconds after the flood opened; others are shed
    # without an answer, the slowest first, to make room for the legitimate connections.
    cut_off: list[float] = []

    def trickle() -> None:  # a byte per connection every second; a connection cut off is opened again
        while not stop.wait(1):
            for n, sock in enumerate(flood):
                try:
                    ended = _ended(sock)
                    if ended is None:
                        sock.sendall(b" ")
                        continue
                except OSError:
                    ended = b""
                if ended.startswith(b"HTTP/1.1 408"):
                    cut_off.append(time.monotonic() - opened)
                sock.close()
                with contextlib.suppress(OSError):
                    flood[n] = _slow_body(address)

    attacker = threading.Thread(target=trickle)
    attacker.start()
    statuses: list[int] = []
    try:
        with httpx.Client(base_url=emulator.url, timeout=30, headers=bearer(), verify=NO_TLS) as client:
            # Two a second, over the grace the slow bodies get, until they are cut off, and past it.
            past = 0
            while past < 3 and len(statuses) < 80:
                answer = client.post(
                    "/executions",
                    params=_params("legit"),
                    json={**SYNC, "code": f"{len(statuses)}"},
                    headers={"Connection": "close"},
                )
                statuses.append(answer.status_code)
                past += bool(cut_off)
                time.sleep(0.5)
    finally:
        stop.set()
        attacker.join()
        for sock in flood:
            sock.close()
    assert statuses == [200] * len(statuses), statuses
    assert cut_off and min(cut_off) >= bodies.BODY_GRACE_S, f"slow bodies cut off for their rate: {cut_off}"


@pytest.mark.parametrize("identifier", ["abcd\n", "abcd\r\n", "\nabcd"])
def test_identifiers_with_a_newline_get_400(emulator, identifier):
    response = emulator.http.post("/executions", params=_params(identifier), json=EXECUTION)
    assert response.status_code == 400 and response.json()["error"]["code"] == "InvalidIdentifier"


@pytest.mark.parametrize("exp", [b"NaN", b"Infinity", b"-Infinity", b"1e309", b"1" + b"0" * 400])
def test_a_token_whose_exp_is_not_finite_is_refused(emulator, exp):
    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = b'{"alg": "none", "typ": "JWT"}'
    claims = b'{"aud": "https://dynamicsessions.io", "exp": ' + exp + b"}"
    token = f"{part(header)}.{part(claims)}."
    response = httpx.post(
        f"{emulator.url}/executions",
        params=_params("exp-check"),
        json=EXECUTION,
        headers={"Authorization": f"Bearer {token}"},
        verify=NO_TLS,
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "Unauthorized"


def test_distinct_long_tokens_are_not_kept_by_the_emulator(emulator):
    # Each of 400 tokens near 50 KB (a request head may hold 64 KiB) is new: kept, they would be 20 MB.
    before = _rss_mib(emulator.process.pid)
    for n in range(400):
        long_token = bearer(n=n, padding="p" * 36_000)
        assert len(long_token["Authorization"]) > 48_000
        listed = emulator.http.get("/listSessions", params={"api-version": V}, headers=long_token)
        assert listed.status_code == 200, listed.text
    grown = _rss_mib(emulator.process.pid) - before
    assert grown < 8, f"the emulator's RSS grew {grown:.0f} MiB over 400 distinct long tokens"


def test_a_long_wrong_audience_is_named_in_80_characters(emulator):
    # What a refusal says is kept with the token's claims: a 16 KiB audience would be kept whole.
    refused = emulator.http.get("/listSessions", params={"api-version": V}, headers=bearer(aud="a" * 16_000))
    assert refused.status_code == 401
    message = refused.json()["error"]["message"]
    assert "'aaaa" in message and len(message) < 250, message


def test_get_and_delete_of_an_unknown_session_get_404_and_release_says_false(emulator):
    for version in ("2025-02-02-preview", "2025-10-02-preview"):
        params = {"api-version": version, "identifier": "never-seen"}
        for response in (emulator.http.get("/session", params=params), emulator.http.delete("/session", params=params)):
            assert response.status_code == 404
            assert response.json()["error"]["code"] == response.headers["x-ms-error-code"] == "SessionNotFound"
    emulator.execute("1", "seen-once")
    with SessionsClient(emulator.url, api_version=V) as client:
        assert client.release("seen-once") is True
        assert client.release("seen-once") is False
        assert client.release("never-seen") is False
