"""The emulator as a real process: real HTTP, real Node.js sessions under bubblewrap."""

import concurrent.futures
import io
import os
import shutil
import signal
import subprocess
import sys
import time

import httpx
import pytest

from dynamic_sessions.emulator.sandbox.scratch import scratch_root
from tests.conditions import until
from tests.emulator_process import NO_TLS, ROOT, bearer, descendants

TUTORIAL_CURL = (
    b'{"properties": {"codeInputType": "inline", "executionType": "synchronous", '
    b'"code": "console.log(\\"hello-world\\")"}}'
)
NEW_VERSIONS = ["2024-10-02-preview", "2025-02-02-preview", "2025-10-02-preview"]


def test_the_tutorials_curl_gets_the_tutorials_answer(emulator):
    response = httpx.post(
        f"{emulator.url}/code/execute?api-version=2024-02-02-preview&identifier=test",
        content=TUTORIAL_CURL,
        headers={"Content-Type": "application/json", **bearer()},
        verify=NO_TLS,
    )
    assert response.status_code == 200
    properties = response.json()["properties"]
    assert set(properties) == {"status", "stdout", "stderr", "executionResult", "executionTimeInMilliseconds"}
    assert (properties["status"], properties["stdout"], properties["stderr"]) == ("Success", "hello-world\n", "")
    assert properties["executionResult"] == ""
    assert isinstance(properties["executionTimeInMilliseconds"], int)


def test_2024_08_02_preview_speaks_the_same_contract(emulator):
    response = emulator.http.post(
        "/code/execute",
        params={"api-version": "2024-08-02-preview", "identifier": "august"},
        json={
            "properties": {"codeInputType": "inline", "executionType": "synchronous", "code": "throw new Error('x')"}
        },
    )
    assert response.status_code == 200
    assert response.json()["properties"]["status"] == "Failure"
    assert "Error: x" in response.json()["properties"]["stderr"]


@pytest.mark.parametrize("version", NEW_VERSIONS)
def test_executions_answer_per_version(emulator, version):
    response = emulator.http.post(
        "/executions",
        params={"api-version": version, "identifier": f"v-{version}"},
        json={
            "codeInputType": "Inline",
            "executionType": "Synchronous",
            "code": "console.log(1+1)",
            "timeoutInSeconds": 5,
        },
    )
    assert response.status_code == (202 if version == "2024-10-02-preview" else 200)
    body = response.json()
    assert body["status"] == "Succeeded" and body["identifier"] == f"v-{version}" and body["id"]
    assert body["executionType"] == "Synchronous"
    assert body["result"]["stdout"] == "2\n"
    fetched = emulator.http.get(
        f"/executions/{body['id']}", params={"api-version": version, "identifier": f"v-{version}"}
    )
    assert fetched.status_code == 200 and fetched.json() == body


def test_state_persists_within_a_session_and_never_leaks_to_another(emulator):
    assert emulator.execute("var counter = 41; const label = 'kept'", "state-a")["status"] == "Succeeded"
    assert emulator.execute("counter + 1", "state-a")["result"]["executionResult"] == 42
    assert emulator.execute("label", "state-a")["result"]["executionResult"] == "kept"
    other = emulator.execute("typeof counter", "state-b")
    assert other["result"]["executionResult"] == "undefined"
    redeclared = emulator.execute("const label = 'again'", "state-a")
    assert redeclared["status"] == "Failed" and "already been declared" in redeclared["result"]["stderr"]


def test_streams_result_and_thrown_errors(emulator):
    body = emulator.execute("console.info('i'); console.warn('w'); console.error('e'); console.log('o'); ({a: [1, 2]})")
    assert body["result"]["stdout"] == "i\no\n"
    assert body["result"]["stderr"] == "w\ne\n"
    assert body["result"]["executionResult"] == {"a": [1, 2]}
    failed = emulator.execute("throw new TypeError('bad input')")
    assert failed["status"] == "Failed"
    assert failed["result"]["stderr"].startswith("TypeError: bad input")
    assert failed["error"]["error"]["message"] == "TypeError: bad input"


def test_a_cell_made_asynchronous_ends_at_done(emulator):
    body = emulator.execute("$$.async(); setTimeout(() => { console.log('later'); $$.done(7); }, 50)")
    assert body["status"] == "Succeeded"
    assert body["result"]["stdout"] == "later\n" and body["result"]["executionResult"] == 7


def test_base64_code_input(emulator):
    import base64

    code = base64.b64encode(b"'from base64'").decode()
    body = emulator.execute(code, codeInputType="InlineBase64")
    assert body["result"]["executionResult"] == "from base64"


def test_a_runaway_loop_times_out_while_other_sessions_answer(emulator):
    emulator.execute("1", "busy-neighbour")
    emulator.execute("globalThis.kept = 'before the loop'", "runaway")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        loop = pool.submit(emulator.execute, "while (true) {}", "runaway", timeoutInSeconds=2)
        time.sleep(0.2)  # a head start: the loop is running before the neighbour calls
        answers = [emulator.execute("0 * 2", "busy-neighbour")]
        # Answered while the loop runs: a neighbour held up by it would be answered only once it timed out.
        still_running = not loop.done()
        answers += [emulator.execute(f"{i} * 2", "busy-neighbour") for i in range(1, 20)]
        looped = loop.result()
    assert still_running, "the neighbour's call should be answered while the loop is still running"
    assert [a["result"]["executionResult"] for a in answers] == [i * 2 for i in range(20)]
    assert looped["status"] == "Failed" and "timed out after 2 s" in looped["result"]["stderr"]
    assert 1900 <= looped["result"]["executionTimeInMilliseconds"] < 6000
    # Stopped by the session's own interpreter, which goes on: not by the emulator's backstop, which
    # would end the session and lose what it held.
    assert emulator.execute("kept", "runaway")["result"]["executionResult"] == "before the loop"


def test_process_exit_ends_only_that_session_and_the_next_call_starts_fresh(emulator):
    emulator.execute("globalThis.marker = 'before'", "crashing")
    emulator.execute("globalThis.marker = 'neighbour'", "steady")
    ended = emulator.execute("process.exit(3)", "crashing")
    assert ended["status"] == "Failed" and "exited (code 3)" in ended["result"]["stderr"]
    assert emulator.execute("typeof marker", "crashing")["result"]["executionResult"] == "undefined"
    assert emulator.execute("marker", "steady")["result"]["executionResult"] == "neighbour"


def test_files_round_trip_and_are_at_mnt_data_for_code(emulator):
    params = {"api-version": "2025-10-02-preview", "identifier": "files-1"}
    uploaded = emulator.http.post("/files", params=params, files={"file": ("data.csv", b"a,b\n1,2\n")})
    assert uploaded.status_code == 200
    assert uploaded.json()["name"] == "data.csv" and uploaded.json()["sizeInBytes"] == 8
    code = (
        "const fs = require('fs');"
        "fs.writeFileSync('/mnt/data/out.txt', fs.readFileSync('/mnt/data/data.csv', 'utf8').toUpperCase())"
    )
    assert emulator.execute(code, "files-1")["status"] == "Succeeded"
    listing = emulator.http.get("/files", params=params).json()["value"]
    assert sorted(f["name"] for f in listing) == ["data.csv", "out.txt"]
    assert emulator.http.get("/files/out.txt", params=params).json()["sizeInBytes"] == 8
    assert emulator.http.get("/files/out.txt/content", params=params).content == b"A,B\n1,2\n"
    assert emulator.http.delete("/files/out.txt", params=params).status_code == 204
    assert emulator.http.get("/files/out.txt/content", params=params).status_code == 404
    other = emulator.http.get("/files", params={**params, "identifier": "files-2"}).json()["value"]
    assert other == []


def test_legacy_file_routes(emulator):
    params = {"api-version": "2024-02-02-preview", "identifier": "legacy-files"}
    uploaded = emulator.http.post("/files/upload", params=params, files={"file": ("notes.txt", b"hi")})
    entry = uploaded.json()["value"][0]["properties"]
    assert (entry["filename"], entry["size"]) == ("notes.txt", 2) and entry["lastModifiedTime"]
    assert emulator.http.get("/files", params=params).json()["value"][0]["properties"]["filename"] == "notes.txt"
    assert emulator.http.get("/files/content/notes.txt", params=params).content == b"hi"


def test_asynchronous_execution_is_polled(emulator):
    params = {"api-version": "2025-10-02-preview", "identifier": "async-1"}
    body = {
        "codeInputType": "Inline",
        "executionType": "Asynchronous",
        "code": "$$.async(); setTimeout(() => $$.done(5), 300)",
        "timeoutInSeconds": 5,
    }
    started = emulator.http.post("/executions", params=params, json=body)
    assert started.status_code == 202 and started.json()["status"] == "Running"
    location = started.headers["Operation-Location"]
    assert f"/executions/{started.json()['id']}" in location
    for _ in range(50):
        polled = emulator.http.get(location).json()
        if polled["status"] != "Running":
            break
        time.sleep(0.05)
    assert polled["status"] == "Succeeded" and polled["result"]["executionResult"] == 5


def test_session_endpoints(emulator):
    params = {"api-version": "2025-02-02-preview", "identifier": "listed"}
    emulator.execute("1", "listed")
    session = emulator.http.get("/session", params=params).json()
    assert session["identifier"] == "listed" and session["expireAt"] > session["lastAccessedAt"]
    listed = emulator.http.get("/listSessions", params={"api-version": "2025-02-02-preview"}).json()["sessions"]
    assert "listed" in {s["identifier"] for s in listed}
    metadata = emulator.http.get("/metadata", params={"api-version": "2025-10-02-preview"}).json()
    assert metadata["runtimes"][0]["name"] == "node" and metadata["runtimes"][0]["version"][0].isdigit()
    assert emulator.http.delete("/session", params=params).status_code == 204
    assert emulator.http.get("/session", params=params).status_code == 404
    too_old = emulator.http.get("/session", params={**params, "api-version": "2024-10-02-preview"})
    assert too_old.status_code == 404 and too_old.headers["x-ms-error-code"] == "NotFound"


def _error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert body["error"]["code"] == response.headers["x-ms-error-code"]
    assert body["error"]["message"]
    return response.status_code, body["error"]["code"]


@pytest.mark.parametrize(
    "headers,expected",
    [
        ({}, "No Authorization header"),
        ({"Authorization": "Basic abc"}, "must be 'Bearer"),
        ({"Authorization": "Bearer not-a-jwt"}, "not a well-formed JWT"),
        (bearer(aud="https://management.azure.com"), "audience"),
        (bearer(aud="https://acasessions.io"), "audience"),
        (bearer(exp=int(time.time()) - 5), "expired"),
        (bearer(exp=None), "no expiry"),
    ],
)
def test_bad_tokens_get_401(emulator, headers, expected):
    response = httpx.post(
        f"{emulator.url}/executions",
        params={"api-version": "2025-10-02-preview", "identifier": "auth"},
        json={},
        headers=headers,
        verify=NO_TLS,
    )
    assert _error(response) == (401, "Unauthorized")
    assert expected in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "params,body,code",
    [
        ({"api-version": "2099-01-01", "identifier": "abcd"}, {}, "UnsupportedApiVersion"),
        ({"identifier": "abcd"}, {}, "MissingApiVersionParameter"),
        ({"api-version": "2025-10-02-preview"}, {}, "MissingIdentifier"),
        ({"api-version": "2025-10-02-preview", "identifier": "ab"}, {}, "InvalidIdentifier"),
        ({"api-version": "2025-10-02-preview", "identifier": "a b c d"}, {}, "InvalidIdentifier"),
        (
            {"api-version": "2025-10-02-preview", "identifier": "abcd"},
            {"properties": {"codeInputType": "inline", "executionType": "synchronous", "code": "1"}},
            "InvalidRequest",
        ),
        (
            {"api-version": "2025-10-02-preview", "identifier": "abcd"},
            {"codeInputType": "Inline", "executionType": "Synchronous", "code": "1"},
            "InvalidRequest",
        ),
        (
            {"api-version": "2025-10-02-preview", "identifier": "abcd"},
            {"codeInputType": "Inline", "executionType": "Synchronous", "code": "1", "timeoutInSeconds": 221},
            "InvalidRequest",
        ),
    ],
)
def test_bad_requests_get_400(emulator, params, body, code):
    response = emulator.http.post("/executions", params=params, json=body)
    assert _error(response) == (400, code)


def test_unsupported_version_lists_the_supported(emulator):
    response = emulator.http.post("/executions", params={"api-version": "2023-01-01", "identifier": "abcd"}, json={})
    assert "2024-02-02-preview" in response.json()["error"]["message"]


def test_a_body_of_the_other_contract_gets_400(emulator):
    response = emulator.http.post(
        "/code/execute",
        params={"api-version": "2024-02-02-preview", "identifier": "abcd"},
        json={"codeInputType": "Inline", "executionType": "Synchronous", "code": "1", "timeoutInSeconds": 5},
    )
    assert _error(response) == (400, "InvalidRequest")


def test_malformed_json_gets_400(emulator):
    response = emulator.http.post(
        "/executions",
        params={"api-version": "2025-10-02-preview", "identifier": "abcd"},
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert _error(response) == (400, "InvalidRequest")


def test_a_route_of_the_other_contract_gets_404(emulator):
    response = emulator.http.post(
        "/executions",
        params={"api-version": "2024-02-02-preview", "identifier": "abcd"},
        json={"codeInputType": "Inline", "executionType": "Synchronous", "code": "1", "timeoutInSeconds": 5},
    )
    assert _error(response) == (404, "NotFound")
    assert _error(emulator.http.get("/nowhere"))[0] == 404


@pytest.mark.parametrize("name", ["..", "..hidden", "a..b", "x\\y"])
def test_file_names_with_separators_or_dot_dot_get_400(emulator, name):
    params = {"api-version": "2025-10-02-preview", "identifier": "names"}
    upload = emulator.http.post("/files", params=params, files={"file": (name, b"x")})
    assert _error(upload) == (400, "InvalidFileName")
    fetched = emulator.http.get(f"/files/{name}/content", params=params)
    assert fetched.status_code in (400, 404)


def test_uploads_over_128_mb_get_413(emulator):
    params = {"api-version": "2025-10-02-preview", "identifier": "big-upload"}
    big = io.BytesIO(b"\0" * (128 * 1024 * 1024 + 1))  # a file, as the package's client sends one: 64 KiB at a time
    response = emulator.http.post("/files", params=params, files={"file": ("big.bin", big)})
    assert _error(response) == (413, "RequestEntityTooLarge")
    assert emulator.http.get("/files", params=params).json()["value"] == []


def test_each_request_is_logged_once_without_the_token_or_identifier(emulator):
    headers = bearer(oid="log-check")
    token = headers["Authorization"].split(" ", 1)[1]
    logged = "POST /executions 200"
    before = emulator.logs().count(logged)
    emulator.http.post(
        "/executions",
        params={"api-version": "2025-10-02-preview", "identifier": "secret-identifier-42"},
        json={"codeInputType": "Inline", "executionType": "Synchronous", "code": "1", "timeoutInSeconds": 5},
        headers=headers,
    )
    until(lambda: emulator.logs().count(logged) > before, "the request's log line")
    logs = emulator.logs()
    assert token not in logs and "secret-identifier-42" not in logs
    lines = [line for line in logs.splitlines() if logged in line]
    assert len(lines) == before + 1 and lines[-1].rstrip().endswith("ms")


def test_capacity_429_then_release_frees_a_slot(launch):
    small = launch("--max-sessions", "2", "--cooldown", "60")
    small.execute("1", "first")
    small.execute("1", "second")
    refused = small.http.post(
        "/executions",
        params={"api-version": "2025-10-02-preview", "identifier": "third"},
        json={"codeInputType": "Inline", "executionType": "Synchronous", "code": "1", "timeoutInSeconds": 5},
    )
    assert _error(refused) == (429, "TooManyRequests")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    released = small.http.delete("/session", params={"api-version": "2025-02-02-preview", "identifier": "first"})
    assert released.status_code == 204
    assert small.execute("'in'", "third")["result"]["executionResult"] == "in"


def test_idle_sessions_end_after_the_cooldown(launch):
    # 5 s: longer than the two reads below take on a busy machine, which must come before the session ends.
    quick = launch("--cooldown", "5")
    first = quick.execute("globalThis.kept = 1", "idle")
    params = {"api-version": "2025-02-02-preview", "identifier": "idle"}
    assert quick.http.get(f"/executions/{first['id']}", params=params).status_code == 200
    assert quick.http.get("/session", params=params).status_code == 200
    until(lambda: quick.http.get("/session", params=params).status_code == 404, "the idle session ended")
    assert quick.http.get(f"/executions/{first['id']}", params=params).status_code == 404
    assert quick.execute("typeof kept", "idle")["result"]["executionResult"] == "undefined"


def test_ready_sessions_are_started_ahead_and_handed_to_new_identifiers(launch):
    warm = launch("--ready-sessions", "2", "--max-sessions", "3")
    prestarted = descendants(warm.process.pid)
    assert prestarted, "ready sessions should be running before any request"
    warm.execute("1", "warm-1")
    session = warm.http.get("/session", params={"api-version": "2025-10-02-preview", "identifier": "warm-1"}).json()
    assert int(session["etag"].strip('"')) in prestarted


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_every_node_process_and_removes_its_files(launch, stop_signal):
    doomed = launch("--ready-sessions", "1")
    doomed.execute("1", "sess-a")
    doomed.execute("1", "sess-b")
    pid = doomed.process.pid
    # This emulator's own folder is named by its pid (others may be running beside it).
    folders = set(scratch_root().glob(f"emulator-{pid}-*"))
    assert len(folders) == 1
    # Two sessions and the ready one started in their place, which the emulator starts after answering.
    (own,) = folders
    deadline = time.monotonic() + 20
    while len(list(own.glob("session-*"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(list(own.glob("session-*"))) >= 3
    children = descendants(pid)
    assert len(children) >= 3
    assert doomed.stop(stop_signal) in (0, 130, -stop_signal)

    def alive() -> set[int]:
        return {c for c in children if os.path.exists(f"/proc/{c}") and "zombie" not in _state(c)}

    until(lambda: not alive(), f"every process of the stopped emulator ended: {alive()} still run")
    assert {f for f in folders if f.exists()} == set()


def _state(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/status").read().lower()
    except OSError:
        return "zombie"


def test_allow_principal_rehearses_a_missing_role_assignment(launch):
    guarded = launch("--allow-principal", "11111111-1111-1111-1111-111111111111")
    body = {"codeInputType": "Inline", "executionType": "Synchronous", "code": "1", "timeoutInSeconds": 5}
    params = {"api-version": "2025-10-02-preview", "identifier": "guarded"}
    stranger = httpx.post(
        f"{guarded.url}/executions", params=params, json=body, headers=bearer(oid="2222"), verify=NO_TLS
    )
    assert _error(stranger) == (403, "Forbidden")
    allowed = httpx.post(
        f"{guarded.url}/executions",
        params=params,
        json=body,
        headers=bearer(oid="11111111-1111-1111-1111-111111111111"),
        verify=NO_TLS,
    )
    assert allowed.status_code == 200


# --- the sandbox -------------------------------------------------------------------------------

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


@needs_bwrap
def test_session_code_cannot_read_the_hosts_files(emulator):
    for path in (str(ROOT / "README.md"), str(ROOT / "emulator" / "app.py"), os.path.expanduser("~"), "/work"):
        body = emulator.execute(f"require('fs').readdirSync({path!r})", "prying")
        assert body["status"] == "Failed" and "ENOENT" in body["result"]["stderr"], path
    listing = emulator.execute("require('fs').readdirSync('/')", "prying")["result"]["executionResult"]
    assert "root" not in listing and "home" not in listing and "mnt" in listing
    write = emulator.execute("require('fs').writeFileSync('/usr/evil', 'x')", "prying")
    assert write["status"] == "Failed" and (
        "EROFS" in write["result"]["stderr"] or "EACCES" in write["result"]["stderr"]
    )


@needs_bwrap
def test_one_session_cannot_see_anothers_files(emulator):
    params = {"api-version": "2025-10-02-preview", "identifier": "owner"}
    emulator.http.post("/files", params=params, files={"file": ("private.txt", b"mine")})
    seen = emulator.execute("require('fs').readdirSync('/mnt/data')", "neighbour")["result"]["executionResult"]
    assert "private.txt" not in seen


def test_without_bubblewrap_the_emulator_refuses_to_run_untrusted_code(tmp_path):
    node = shutil.which("node")
    assert node is not None
    (tmp_path / "node").symlink_to(node)
    env = {**os.environ, "PATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "--port", "0"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "bubblewrap (bwrap) is not installed" in done.stderr and "--unsandboxed" in done.stderr


def test_unsandboxed_must_be_asked_for_with_egress(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "--unsandboxed"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2 and "--egress enabled" in done.stderr


def test_non_loopback_hosts_are_refused():
    everywhere = "0.0.0.0"  # noqa: S104 (it must be refused)
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "--host", everywhere], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2 and "not a loopback address" in done.stderr


# --- request fields of 2025-10-02-preview -------------------------------------------------------


def test_streams_keep_4096_characters_by_default_then_a_marker(emulator):
    body = emulator.execute("console.log('x'.repeat(5000)); console.error('e'.repeat(4096)); 'r'.repeat(5000)")
    stdout = body["result"]["stdout"]
    assert stdout == "x" * 4096 + "\n[output truncated: 905 more characters; the limit is 4096 per stream]\n"
    assert (
        body["result"]["stderr"]
        == "e" * 4096 + "\n[output truncated: 1 more characters; the limit is 4096 per stream]\n"
    )
    assert body["result"]["executionResult"] == "r" * 5000  # the limit is the streams', not the result's
    assert body["result"]["outputStreamsMaxLength"] == 4096


def test_output_streams_max_length_is_honoured_per_request(emulator):
    small = emulator.execute("console.log('abcdefghij')", "per-request", outputStreamsMaxLength=4)
    assert small["result"]["stdout"].startswith("abcd\n[output truncated: 7 more characters; the limit is 4 ")
    assert small["result"]["outputStreamsMaxLength"] == 4
    large = emulator.execute("console.log('y'.repeat(10000))", "per-request", outputStreamsMaxLength=20000)
    assert large["result"]["stdout"] == "y" * 10000 + "\n"
    legacy = emulator.http.post(
        "/code/execute",
        params={"api-version": "2024-02-02-preview", "identifier": "per-request"},
        json={
            "properties": {
                "codeInputType": "inline",
                "executionType": "synchronous",
                "code": "console.log('abc')",
                "outputStreamsMaxLength": 2,
            }
        },
    )
    assert legacy.json()["properties"]["stdout"].startswith("ab\n[output truncated: 2 more characters")


def test_bad_optional_fields_are_named_all_at_once(emulator):
    body = {
        "codeInputType": "Inline", "executionType": "Synchronous", "code": "1", "timeoutInSeconds": 5,
        "outputStreamsMaxLength": 0, "useEmptyKernel": "yes", "returnJupyterFormatExecutionResult": 1,
    }  # fmt: skip
    response = emulator.http.post(
        "/executions", params={"api-version": "2025-10-02-preview", "identifier": "bad-fields"}, json=body
    )
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "outputStreamsMaxLength is 0; it must be an integer in 1..1048576" in message
    assert 'useEmptyKernel is "yes"; it must be true or false' in message
    assert "returnJupyterFormatExecutionResult is 1; it must be true or false" in message


def test_the_flag_raises_the_default_for_local_debugging(launch):
    verbose = launch("--output-max-length", "2000000")
    body = verbose.execute("console.log('z'.repeat(1500000))", "debugging")
    assert body["result"]["stdout"] == "z" * 1500000 + "\n" and body["result"]["outputStreamsMaxLength"] == 2000000
    asked = verbose.execute("console.log('z'.repeat(10))", "debugging", outputStreamsMaxLength=1999999)
    assert asked["status"] == "Succeeded"  # the flag raised the most a request may ask for, too


def test_the_jupyter_format_is_the_kernels_outputs_in_both_contracts(emulator):
    body = emulator.execute(
        "$$.html('<i>x</i>', true); setTimeout(() => $$.done([1]), 10)",
        "jupyter",
        returnJupyterFormatExecutionResult=True,
    )
    assert body["result"]["executionResult"] == [
        {"output_type": "execute_result", "data": {"text/html": "<i>x</i>"}, "metadata": {}},
        {"output_type": "execute_result", "data": {"text/plain": "[ 1 ]"}, "metadata": {}},
    ]
    assert emulator.execute("[1]", "jupyter")["result"]["executionResult"] == [1]
    legacy = emulator.http.post(
        "/code/execute",
        params={"api-version": "2024-08-02-preview", "identifier": "jupyter"},
        json={
            "properties": {
                "codeInputType": "inline",
                "executionType": "synchronous",
                "code": "'s'",
                "returnJupyterFormatExecutionResult": True,
            }
        },
    )
    assert legacy.json()["properties"]["executionResult"] == [
        {"output_type": "execute_result", "data": {"text/plain": "'s'"}, "metadata": {}}
    ]


def test_use_empty_kernel_is_accepted_by_node_sessions_and_changes_nothing(emulator):
    emulator.execute("var shared = 'same kernel'", "node-empty")
    body = emulator.execute("shared", "node-empty", useEmptyKernel=True)
    assert body["status"] == "Succeeded" and body["result"]["executionResult"] == "same kernel"
