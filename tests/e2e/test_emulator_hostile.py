"""The emulator's HTTP surface and kernel against hostile session code and hostile clients.

Each attack is checked by what the host sees (a canary file's bytes and mtime, the emulator's peak
memory, which answer reaches which call, sockets closed by the server), not by what a session says.
"""

import base64
import contextlib
import errno
import json
import os
import select
import socket
import stat
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from dynamic_sessions.client import SessionsClient
from dynamic_sessions.emulator.sandbox.scratch import scratch_root
from tests.e2e.test_tenant_bounds import _rss_mib
from tests.emulator_process import NO_TLS, Emulator, bearer

V = "2025-10-02-preview"
LEGACY = "2024-02-02-preview"
MB = 1024 * 1024


class Canary:
    """A host file no request may read, write, create or remove."""

    def __init__(self, folder: Path):
        self.path = folder / "canary.txt"
        self.path.write_bytes(b"host secret\n")
        os.utime(self.path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
        self.absent = folder / "must-not-exist"

    def assert_untouched(self) -> None:
        status = self.path.stat()
        assert self.path.read_bytes() == b"host secret\n"
        assert status.st_mtime_ns == 1_000_000_000_000_000_000
        assert not self.absent.exists() and not self.absent.is_symlink()


@pytest.fixture
def canary(tmp_path):
    tmp_path.chmod(0o755)
    return Canary(tmp_path)


def _params(identifier: str, version: str = V) -> dict[str, str]:
    return {"api-version": version, "identifier": identifier}


def _run(emulator: Emulator, code: str, identifier: str) -> dict:
    body = emulator.execute(code, identifier)
    assert body["status"] == "Succeeded", body
    return body


def _host_folder(emulator: Emulator, identifier: str) -> Path:
    """The session's /mnt/data as the host sees it: the folder of this emulator's scratch (named by its
    pid) that holds a file the session just wrote."""
    marker = f"marker-{uuid.uuid4().hex}"
    _run(emulator, f"require('fs').writeFileSync('/mnt/data/{marker}', '')", identifier)
    sessions = scratch_root().glob(f"emulator-{emulator.process.pid}-*/session-*")
    found = {folder for folder in sessions if (folder / marker).exists()}
    assert len(found) == 1, found
    folder = found.pop()
    (folder / marker).unlink()
    return folder


def _refused(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.json()["error"]["code"] == response.headers["x-ms-error-code"]


def _every_file_route(emulator: Emulator, identifier: str, name: str) -> list[httpx.Response]:
    return [
        emulator.http.get(f"/files/{name}/content", params=_params(identifier)),
        emulator.http.get(f"/files/{name}", params=_params(identifier)),
        emulator.http.get(f"/files/content/{name}", params=_params(identifier, LEGACY)),
    ]


def _names(emulator: Emulator, identifier: str) -> set[str]:
    return {f["name"] for f in emulator.http.get("/files", params=_params(identifier)).json()["value"]}


# --- the files API and what session code plants in /mnt/data ----------------------------------


def test_a_symlink_to_a_host_file_is_neither_read_nor_written(emulator, canary):
    ident = "plant-symlink"
    _run(emulator, f"require('fs').symlinkSync({str(canary.path)!r}, '/mnt/data/link')", ident)
    _run(emulator, f"require('fs').symlinkSync({str(canary.absent)!r}, '/mnt/data/dangling')", ident)
    for response in _every_file_route(emulator, ident, "link"):
        _refused(response)
        assert b"host secret" not in response.content
    assert "link" not in _names(emulator, ident)
    for name in ("link", "dangling"):
        uploaded = emulator.http.post("/files", params=_params(ident), files={"file": (name, b"overwritten")})
        assert uploaded.status_code == 200, uploaded.text
    canary.assert_untouched()
    # The upload replaced each link with a file of the session's own.
    assert emulator.http.get("/files/link/content", params=_params(ident)).content == b"overwritten"
    assert _run(emulator, "require('fs').lstatSync('/mnt/data/dangling').isFile()", ident)["result"]["executionResult"]


def test_deleting_a_symlink_never_reaches_its_target(emulator, canary):
    ident = "delete-symlink"
    _run(emulator, f"require('fs').symlinkSync({str(canary.path)!r}, '/mnt/data/link')", ident)
    _refused(emulator.http.delete("/files/link", params=_params(ident)))
    canary.assert_untouched()


def test_with_caps_a_session_folder_shares_no_file_system_with_the_host(emulator, canary):
    folder = _host_folder(emulator, "plant-hardlink-capped")
    with pytest.raises(OSError) as refused:
        os.link(canary.path, folder / "hard")  # its own size-limited file system: no host file can be linked in
    assert refused.value.errno == errno.EXDEV
    canary.assert_untouched()


def test_a_hard_link_to_a_host_file_is_neither_read_nor_written(launch, canary):
    # Without caps, /mnt/data is a plain host folder, where a hard link to a host file can exist.
    emulator = launch("--no-caps")
    ident = "plant-hardlink"
    folder = _host_folder(emulator, ident)
    os.link(canary.path, folder / "hard")  # what a session could do to a host file it can reach
    for response in _every_file_route(emulator, ident, "hard"):
        _refused(response)
        assert b"host secret" not in response.content
    assert "hard" not in _names(emulator, ident)
    uploaded = emulator.http.post("/files", params=_params(ident), files={"file": ("hard", b"overwritten")})
    assert uploaded.status_code == 200
    canary.assert_untouched()
    assert canary.path.stat().st_nlink == 1
    os.link(canary.path, folder / "again")
    assert emulator.http.delete("/files/again", params=_params(ident)).status_code == 204  # the link only
    canary.assert_untouched()
    assert canary.path.stat().st_nlink == 1 and not (folder / "again").exists()


def test_a_fifo_never_blocks_a_request(emulator, canary):
    ident = "plant-fifo"
    _run(emulator, "require('child_process').execFileSync('mkfifo', ['/mnt/data/pipe'])", ident)
    started = time.monotonic()
    for response in _every_file_route(emulator, ident, "pipe"):
        _refused(response)
    assert time.monotonic() - started < 20  # far below the 30 s client timeout: nothing waited on the FIFO
    assert "pipe" not in _names(emulator, ident)
    # Still answering: no worker is stuck opening the FIFO.
    assert emulator.execute("'alive'", ident)["result"]["executionResult"] == "alive"


def test_device_nodes_sockets_and_directories_are_refused(emulator, canary):
    ident = "plant-others"
    folder = _host_folder(emulator, ident)
    os.mknod(folder / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    server = (
        "globalThis.server = require('net').createServer().listen('/mnt/data/sock');"
        "require('fs').mkdirSync('/mnt/data/dir'); require('fs').writeFileSync('/mnt/data/dir/inner', 'x')"
    )
    _run(emulator, server, ident)
    time.sleep(0.1)
    for name in ("null", "sock", "dir"):
        for response in _every_file_route(emulator, ident, name):
            _refused(response)
        _refused(emulator.http.delete(f"/files/{name}", params=_params(ident)))
    _refused(emulator.http.post("/files", params=_params(ident), files={"file": ("dir", b"x")}))
    assert _names(emulator, ident) == set()
    assert (folder / "dir" / "inner").read_bytes() == b"x"
    assert stat.S_ISCHR((folder / "null").lstat().st_mode)
    canary.assert_untouched()


@pytest.mark.parametrize("length", [256, 300, 4096, 70_000])
def test_names_longer_than_255_bytes_get_a_clear_400(emulator, length):
    ident = "long-names"
    name = "n" * length
    upload = emulator.http.post("/files", params=_params(ident), files={"file": (name, b"x")})
    assert upload.status_code == 400, upload.text
    assert upload.json()["error"]["code"] == "InvalidFileName" and "255 bytes" in upload.text
    if length < 4096:
        fetched = emulator.http.get(f"/files/{name}/content", params=_params(ident))
        assert fetched.status_code == 400 and "255 bytes" in fetched.text
    assert _names(emulator, ident) == set()


def test_a_255_byte_name_still_works(emulator):
    ident = "long-names-ok"
    name = "é" * 127 + "n"  # 255 bytes of UTF-8
    assert emulator.http.post("/files", params=_params(ident), files={"file": (name, b"x")}).status_code == 200
    assert emulator.http.get(f"/files/{name}/content", params=_params(ident)).content == b"x"


def test_uploads_belong_to_the_folders_owner_and_replace_files_atomically(emulator):
    ident = "upload-owner"
    folder = _host_folder(emulator, ident)
    first = emulator.http.post("/files", params=_params(ident), files={"file": ("a.txt", b"one")})
    second = emulator.http.post("/files", params=_params(ident), files={"file": ("a.txt", b"two!")})
    assert (first.json()["sizeInBytes"], second.json()["sizeInBytes"]) == (3, 4)
    stored = folder / "a.txt"
    assert stored.read_bytes() == b"two!" and stored.stat().st_uid == folder.stat().st_uid
    assert [p.name for p in folder.iterdir()] == ["a.txt"]  # no temporary file left behind


# --- bodies -------------------------------------------------------------------------------------


def _chunks(total: int, piece: bytes) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield piece
        sent += len(piece)


def _chunked_upload(emulator: Emulator, identifier: str, size: int) -> httpx.Response:
    """A multipart upload of `size` bytes sent without Content-Length, as a stream of chunks."""
    boundary = "hostile-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()

    def body() -> Iterator[bytes]:
        yield head
        yield from _chunks(size, b"\1" * MB)
        yield f"\r\n--{boundary}--\r\n".encode()

    return emulator.http.post(
        "/files",
        params=_params(identifier),
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def _peak_rss_kib(pid: int) -> int:
    """The highest RSS `pid` reached since it started or since `_reset_peak_rss`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _reset_peak_rss(pid: int) -> None:
    """Starts `pid`'s peak RSS again from its RSS now (see proc(5), clear_refs), so that a test on the shared
    emulator measures only its own peak."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


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


def test_a_chunked_upload_over_128_mb_gets_413_and_leaves_nothing(emulator):
    ident = "chunked-upload"
    response = _chunked_upload(emulator, ident, 129 * MB)
    assert response.status_code == 413, response.text
    assert _names(emulator, ident) == set()


EXECUTION = {"codeInputType": "Inline", "executionType": "Synchronous", "code": "1", "timeoutInSeconds": 5}


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


# --- the kernel ---------------------------------------------------------------------------------


def test_a_70_mb_output_is_truncated_with_a_marker_and_answers_stay_in_order(emulator):
    ident = "flood"
    flooded = emulator.execute(
        "console.log('x'.repeat(70 * 1024 * 1024)); 'flooded'", ident, outputStreamsMaxLength=1024 * 1024
    )
    stdout = flooded["result"]["stdout"]
    assert flooded["status"] == "Succeeded" and flooded["result"]["executionResult"] == "flooded"
    assert stdout.startswith("x" * 1000) and "[output truncated:" in stdout
    assert len(stdout) < 1024 * 1024 + 200
    assert flooded["result"]["outputStreamsMaxLength"] == 1024 * 1024
    for i in range(3):
        assert emulator.execute(f"'answer {i}'", ident)["result"]["executionResult"] == f"answer {i}"


def test_a_huge_result_is_truncated_and_the_session_keeps_answering(emulator):
    ident = "huge-result"
    body = emulator.execute("'y'.repeat(80 * 1024 * 1024)", ident)
    result = body["result"]["executionResult"]
    assert isinstance(result, str) and "[result truncated:" in result and len(result) < 1024 * 1024 + 200
    assert emulator.execute("6 * 7", ident)["result"]["executionResult"] == 42


def test_the_output_cap_is_a_flag(launch):
    small = launch("--output-max-length", "10")
    body = small.execute("console.log('abcdefghijklmnop'); console.error('e'); 'r'.repeat(50)", "cap-check")
    assert body["result"]["stdout"].startswith("abcdefghij\n[output truncated: 7 more characters")
    assert body["result"]["stderr"] == "e\n"
    assert body["result"]["executionResult"] == "r" * 50  # the cap is the streams', as outputStreamsMaxLength


@pytest.mark.parametrize(
    "forged",
    [
        "'not json\\n'",
        "JSON.stringify({seq: -1, ok: true, stdout: 'forged', stderr: '', result: 'forged', ms: 0}) + '\\n'",
        "JSON.stringify({ok: true}) + '\\n'",
    ],
)
def test_an_unreadable_or_foreign_answer_ends_the_session_and_never_shifts_answers(emulator, forged):
    ident = f"forger-{abs(hash(forged)) % 10_000}"
    _run(emulator, "globalThis.marker = 'old session'", ident)
    attack = emulator.execute(f"require('fs').writeSync(Number(process.argv[2]), {forged}); 'real'", ident)
    assert attack["status"] == "Failed" and "session was stopped" in attack["result"]["stderr"]
    assert "forged" not in json.dumps(attack)
    after = [emulator.execute(f"typeof marker + ' {i}'", ident)["result"]["executionResult"] for i in range(3)]
    assert after == ["undefined 0", "undefined 1", "undefined 2"]


def test_lone_surrogates_in_output_are_escaped_not_a_500(emulator):
    body = emulator.execute("console.log('a\\ud800b'); console.error('\\udfff'); ({k: '\\ud83d'})", "surrogates")
    assert body["status"] == "Succeeded"
    assert body["result"]["stdout"] == "a\ud800b\n" and body["result"]["stderr"] == "\udfff\n"
    assert body["result"]["executionResult"] == {"k": "\ud83d"}


def test_a_large_program_arrives_whole(emulator):
    # About 3 MB on one request line, to the kernel in many chunks.
    code = "let total = 0;\n" + "total += 1;\n" * 250_000 + "total"
    assert emulator.execute(code, "big-code")["result"]["executionResult"] == 250_000


# --- the server ---------------------------------------------------------------------------------


def _address(emulator: Emulator) -> tuple[str, int]:
    host, port = emulator.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


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


def _head_never_completed(address: tuple[str, int]) -> bool:
    """Whether the server ends a connection whose request head never completes, a byte sent now and then."""
    slow = socket.create_connection(address)
    slow.sendall(b"POST /executions HTTP/1.1\r\nHost: x\r\n")
    slow.settimeout(0.5)
    deadline = time.monotonic() + 20
    ended = False
    while time.monotonic() < deadline and not ended:
        try:
            slow.sendall(b"X-Slow: 1\r\n")  # a byte now and then does not keep it open
            ended = slow.recv(1) == b""
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            ended = True
    slow.close()
    return ended


def _idle_after_an_answer(address: tuple[str, int]) -> tuple[bytes, float]:
    """The answer to one kept-alive request, and how long the server then kept the idle connection."""
    token = bearer()["Authorization"]
    request = f"GET /metadata?api-version={V} HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\r\n".encode()
    with socket.create_connection(address) as sock:
        sock.sendall(request)
        sock.settimeout(20)
        answer = sock.recv(65536)
        started = time.monotonic()
        with contextlib.suppress(ConnectionResetError):
            while sock.recv(65536):
                pass
        return answer, time.monotonic() - started


@pytest.fixture(scope="module")
def waiting_connections(emulator) -> Iterator[dict[str, Future]]:
    """A connection whose head never completes and one idle after its answer, both on the module's emulator
    at once, so that their tests wait out the server's timeouts together."""
    with ThreadPoolExecutor(2) as pool:
        yield {
            "head": pool.submit(_head_never_completed, _address(emulator)),
            "idle": pool.submit(_idle_after_an_answer, _address(emulator)),
        }


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
    time.sleep(0.1)
    logs = emulator.logs()
    assert not any(line.startswith("INJECTED") for line in logs.splitlines())
    assert "\x1b" not in logs
    assert "/files\\nINJECTED\\x1b[31m/x\\r 404" in logs
    emulator.http.get("/" + "p" * 300)
    time.sleep(0.1)
    assert f"GET /{'p' * 199}...(101 more) 404" in emulator.logs()


# --- identifiers, tokens, sessions ---------------------------------------------------------------


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


def test_a_kernel_that_exits_with_a_request_unread_fails_that_call_and_the_next_starts_fresh(emulator):
    # Busy when the next request arrives, then gone without reading it: its end of the channel is reset.
    exits = "setTimeout(() => { const end = Date.now() + 700; while (Date.now() < end); process.exit(3); }, 100); 1"
    assert emulator.execute(exits, "unread")["status"] == "Succeeded"
    time.sleep(0.3)
    cut = emulator.http.post("/executions", params=_params("unread"), json={**EXECUTION, "code": "2"})
    assert cut.status_code == 200, cut.text  # before: 500, and the client's connection was dropped with it
    assert cut.json()["status"] == "Failed" and "exited" in cut.json()["result"]["stderr"]
    assert emulator.execute("3", "unread")["result"]["executionResult"] == 3


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


# --- history -------------------------------------------------------------------------------------


def test_listing_a_hundred_thousand_files_costs_the_emulator_little_memory(emulator):
    # A session's inodes are charged to its own memory cap, the listing's JSON to the emulator: it is streamed.
    count, name = 100_000, "f" * 200
    made = emulator.execute(
        f"const fs = require('fs'); for (let i = 0; i < {count}; i++) fs.writeFileSync('/mnt/data/{name}' + i, ''); 1",
        "many-files",
        timeoutInSeconds=120,
    )
    assert made["status"] == "Succeeded", made
    _reset_peak_rss(emulator.process.pid)
    before = _peak_rss_kib(emulator.process.pid)
    listing = emulator.http.get("/files", params=_params("many-files"), timeout=120)
    assert listing.status_code == 200
    names = {entry["name"] for entry in listing.json()["value"]}
    assert names == {f"{name}{i}" for i in range(count)}
    grown_mib = (_peak_rss_kib(emulator.process.pid) - before) / 1024
    assert grown_mib < 48, f"the emulator's peak RSS grew by {grown_mib:.0f} MiB to list {len(listing.content)} bytes"
    assert emulator.http.delete("/session", params=_params("many-files")).status_code == 204  # its files with it


def test_a_folder_tree_thousands_of_levels_deep_is_removed_with_its_session(launch):
    # Without caps (as for an ordinary user) /mnt/data is a plain host folder the emulator deletes itself.
    fresh = launch("--no-caps", "--max-sessions", "1")
    folder = _host_folder(fresh, "deep-tree")
    _run(
        fresh,
        "const fs = require('fs'); for (let i = 0; i < 3000; i++) { fs.mkdirSync('d'); process.chdir('d'); } 1",
        "deep-tree",
    )
    ended = fresh.http.delete("/session", params={"api-version": V, "identifier": "deep-tree"})
    assert ended.status_code == 204, ended.text
    assert not folder.exists()
    _run(fresh, "1", "after-deep-tree")  # its slot was freed
