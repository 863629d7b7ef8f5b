"""Shell pools: the emulator as a real process (`--container-type Shell`), commands run by bash under bubblewrap,
the executions contract of Microsoft's shell image spec, and what the HOST sees of a session's processes and files."""

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.emulator_process import running_below, serving

LATEST = "2025-10-02-preview"
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


@pytest.fixture(scope="module")
def shell_pool():
    yield from serving("--container-type", "Shell", "--max-sessions", "20")


def run(pool, identifier: str, version: str = LATEST, **body: Any) -> Any:
    response = pool.http.post("/executions", params={"api-version": version, "identifier": identifier}, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def refused(pool, body: Any, version: str = LATEST) -> str:
    response = pool.http.post("/executions", params={"api-version": version, "identifier": "shell-bad"}, json=body)
    assert response.status_code == 400, response.text
    assert response.headers["x-ms-error-code"] == "InvalidRequest"
    return response.json()["error"]["message"]


def test_a_shell_command_answers_status_exit_code_and_both_streams(shell_pool):
    body = run(shell_pool, "shell-forms", shellCommand="echo out; echo err >&2; exit 3")
    assert body["status"] == "Failed"
    assert body["exitCode"] == 3
    assert (body["errorName"], body["errorMessage"]) == ("", "")
    assert (body["result"]["stdout"], body["result"]["stderr"]) == ("out\n", "err\n")
    assert isinstance(body["result"]["executionTimeInMilliseconds"], int)
    assert "executionResult" not in body["result"]  # a shell has no last-expression value
    ok = run(shell_pool, "shell-forms", shellCommand="true")
    assert (ok["status"], ok["exitCode"]) == ("Succeeded", 0)
    kept = shell_pool.http.get(
        f"/executions/{body['id']}", params={"api-version": LATEST, "identifier": "shell-forms"}
    ).json()
    assert kept == body  # GET /executions/{id} answers the same resource


def test_exec_command_and_args_runs_without_a_shell(shell_pool):
    # A shell would split "a b", expand $HOME and glob *; an argv is passed as it is.
    body = run(shell_pool, "shell-argv", execCommandAndArgs=["printf", "[%s]", "a b", "$HOME", "*"])
    assert body["result"]["stdout"] == "[a b][$HOME][*]"
    assert body["exitCode"] == 0
    missing = run(shell_pool, "shell-argv", execCommandAndArgs=["no-such-program-here"])
    assert (missing["status"], missing["exitCode"], missing["errorName"]) == ("Failed", -1, "CommandStartError")
    assert "no-such-program-here" in missing["errorMessage"]


def test_shell_type_picks_bash_or_sh(shell_pool):
    assert run(shell_pool, "shell-type", shellCommand="echo $0")["result"]["stdout"] == "/bin/bash\n"
    assert run(shell_pool, "shell-type", shellCommand="echo $0", shellType="sh")["result"]["stdout"] == "/bin/sh\n"
    bashism = run(shell_pool, "shell-type", shellCommand="[[ 1 == 1 ]] && echo bash", shellType="bash")
    assert bashism["result"]["stdout"] == "bash\n"


def test_a_killed_command_reports_the_shells_exit_code(shell_pool):
    body = run(shell_pool, "shell-signal", shellCommand="kill -9 $$")
    assert (body["status"], body["exitCode"]) == ("Failed", 137)


def test_commands_get_the_default_sigpipe_as_from_a_shell(shell_pool):
    body = run(shell_pool, "shell-sigpipe", shellCommand='yes | head -c 4; echo " ${PIPESTATUS[0]}"')
    assert body["result"]["stdout"] == "y\ny\n 141\n"  # yes ended by SIGPIPE (128 + 13)
    assert body["result"]["stderr"] == ""


def test_exactly_one_command_field_and_no_code_interpreter_body(shell_pool):
    assert "at least one of the 'shellCommand' or 'execCommandAndArgs'" in refused(shell_pool, {})
    assert "send exactly one" in refused(shell_pool, {"shellCommand": "ls", "execCommandAndArgs": ["ls"]})
    tutorial = {"codeInputType": "Inline", "executionType": "Synchronous", "code": "print(1)", "timeoutInSeconds": 60}
    message = refused(shell_pool, tutorial)
    assert "code, codeInputType, executionType" in message
    assert "shellCommand" in message  # says what a Shell pool takes
    assert "properties" in refused(shell_pool, {"properties": {"code": "1"}})


def test_the_shell_tutorials_body_gets_a_400_naming_its_code_interpreter_fields(shell_pool):
    # The body of learn.microsoft.com/azure/container-apps/sessions-tutorial-shell (2025-10-30), verbatim; Shell
    # pools refuse codeInputType and executionType (as LangChain's maintainers found on a live pool).
    body = """
    {
      "codeInputType": "inline",
      "executionType": "synchronous",
      "shellCommand": "echo Hello world!",
      "timeoutInSeconds": 600
    }
    """
    response = shell_pool.http.post(
        "/executions",
        params={"api-version": "2025-02-02-preview", "identifier": str(uuid.uuid4())},
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "codeInputType, executionType" in message
    assert "timeoutInSeconds must be an integer in 1..220, got 600" in message


def test_every_problem_of_a_body_is_named_at_once(shell_pool):
    message = refused(
        shell_pool, {"shellCommand": 5, "shellType": "zsh", "timeoutInSeconds": 0, "outputStreamsMaxLength": "x"}
    )
    assert "shellCommand must be a string" in message
    assert "shellType 'zsh'" in message
    assert "timeoutInSeconds must be an integer in 1..220, got 0" in message
    assert "outputStreamsMaxLength must be an integer" in message
    assert "non-empty array of strings" in refused(shell_pool, {"execCommandAndArgs": []})
    assert "non-empty array of strings" in refused(shell_pool, {"execCommandAndArgs": ["ls", 1]})


def test_shell_pools_take_executions_from_2025_02_02_preview_only(shell_pool):
    assert run(shell_pool, "shell-versions", version="2025-02-02-preview", shellCommand="echo 1")["exitCode"] == 0
    older = shell_pool.http.post(
        "/executions",
        params={"api-version": "2024-10-02-preview", "identifier": "shell-versions"},
        json={"shellCommand": "echo 1"},
    )
    assert older.status_code == 404
    legacy = shell_pool.http.post(
        "/code/execute",
        params={"api-version": "2024-02-02-preview", "identifier": "shell-versions"},
        json={"properties": {"codeInputType": "inline", "executionType": "synchronous", "code": "echo 1"}},
    )
    assert legacy.status_code == 404
    assert "POST /executions" in legacy.json()["error"]["message"]


def test_the_working_folder_is_mnt_data_and_files_stay_between_commands(shell_pool):
    ident = f"shell-state-{uuid.uuid4()}"
    assert run(shell_pool, ident, shellCommand="pwd")["result"]["stdout"] == "/mnt/data\n"
    run(shell_pool, ident, shellCommand="echo kept > notes.txt && mkdir -p work && echo in-tmp > /tmp/t")
    later = run(shell_pool, ident, shellCommand="cat notes.txt /tmp/t && ls -d work")
    assert later["result"]["stdout"] == "kept\nin-tmp\nwork\n"
    # Each command is a new shell: variables and `cd` do not carry over, files do.
    run(shell_pool, ident, shellCommand="export GONE=1; cd /tmp")
    assert run(shell_pool, ident, shellCommand='echo "${GONE:-unset} $PWD"')["result"]["stdout"] == "unset /mnt/data\n"
    # Another identifier is another session, with a folder of its own.
    assert run(shell_pool, f"shell-other-{uuid.uuid4()}", shellCommand="ls")["result"]["stdout"] == ""


def test_a_process_left_in_the_background_keeps_running_and_writing_between_commands(shell_pool):
    ident = f"shell-bg-{uuid.uuid4()}"
    # It keeps the command's stdout and writes to it after the command returned: it must not die of SIGPIPE.
    writer = "while :; do echo tick; echo tick >&2; echo alive > beat; sleep 0.05; done"
    started = run(shell_pool, ident, shellCommand=f"({writer}) & echo started")
    # The writer starts first, so its first ticks may come before the command's own line.
    assert started["exitCode"] == 0 and "started" in started["result"]["stdout"].splitlines()
    assert started["result"]["executionTimeInMilliseconds"] < 5000  # answered without waiting for it
    time.sleep(0.5)
    # Written again within 20 s, however busy the machine: still writing after its command returned.
    wait = (
        "rm -f beat; for i in $(seq 200); do grep -qx alive beat 2>/dev/null && { echo alive; break; }; sleep 0.1; done"
    )
    later = run(shell_pool, ident, shellCommand=wait)
    assert later["result"]["stdout"] == "alive\n"
    assert "tick" not in later["result"]["stdout"]  # its output does not leak into later commands


def test_output_is_cut_at_output_streams_max_length_default_4096(shell_pool):
    flood = "head -c 100000 /dev/zero | tr '\\0' a; head -c 50000 /dev/zero | tr '\\0' b >&2"
    body = run(shell_pool, "shell-cap", shellCommand=flood)
    assert body["result"]["stdout"] == "a" * 4096
    assert body["result"]["stderr"] == "b" * 4096
    small = run(shell_pool, "shell-cap", shellCommand=flood, outputStreamsMaxLength=10)
    assert (small["result"]["stdout"], small["result"]["stderr"]) == ("a" * 10, "b" * 10)
    assert small["exitCode"] == 0  # the command ran to its end; only the answer was cut
    unicode = run(shell_pool, "shell-cap", shellCommand="printf 'é%.0s' $(seq 20)", outputStreamsMaxLength=5)
    assert unicode["result"]["stdout"] == "ééééé"  # characters, not bytes


@needs_bwrap
def test_a_timeout_kills_everything_the_command_started_judged_from_the_host(shell_pool):
    ident = f"shell-timeout-{uuid.uuid4()}"
    # Children, a grandchild in a session of its own (setsid) and a double fork: all must go.
    command = "sleep 4401 & setsid sleep 4402 & (sleep 4403 &) ; sleep 4400"
    started = time.monotonic()
    body = run(shell_pool, ident, shellCommand=command, timeoutInSeconds=1)
    assert time.monotonic() - started < 10
    assert (body["status"], body["exitCode"], body["errorName"]) == ("Failed", -1, "ExecutionTimeout")
    assert "1 seconds" in body["errorMessage"]
    assert running_below(shell_pool.process.pid, "sleep 440") == []
    # The session survives its command's timeout, with its files.
    assert run(shell_pool, ident, shellCommand="echo still here")["result"]["stdout"] == "still here\n"


def _listing(pool, ident: str, **params: str) -> list[dict[str, Any]]:
    response = pool.http.get("/files", params={"api-version": LATEST, "identifier": ident, **params})
    assert response.status_code == 200, response.text
    return response.json()["value"]


def test_files_take_a_path_below_mnt_data_and_list_recursively(shell_pool):
    ident = f"shell-files-{uuid.uuid4()}"
    run(shell_pool, ident, shellCommand="mkdir -p sub/deeper && echo x > sub/a.txt && echo yy > sub/deeper/b.txt")
    top = {(e["name"], e["type"]) for e in _listing(shell_pool, ident)}
    assert top == {("sub", "directory")}
    sub = {(e["name"], e["type"], e["directory"]) for e in _listing(shell_pool, ident, path="sub")}
    assert sub == {("a.txt", "file", "/mnt/data/sub"), ("deeper", "directory", "/mnt/data/sub")}
    everything = {(e["directory"], e["name"], e["sizeInBytes"]) for e in _listing(shell_pool, ident, recursive="true")}
    assert ("/mnt/data/sub/deeper", "b.txt", 3) in everything
    assert ("/mnt/data/sub", "a.txt", 2) in everything
    assert _listing(shell_pool, ident, path="/mnt/data/sub/deeper") == _listing(shell_pool, ident, path="sub/deeper")
    # Upload into a folder, read it back through the files API and from the shell.
    params = {"api-version": LATEST, "identifier": ident, "path": "sub/deeper"}
    uploaded = shell_pool.http.post("/files", params=params, files={"file": ("up.txt", b"uploaded\n")})
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["directory"] == "/mnt/data/sub/deeper"
    assert run(shell_pool, ident, shellCommand="cat sub/deeper/up.txt")["result"]["stdout"] == "uploaded\n"
    content = shell_pool.http.get("/files/a.txt/content", params={**params, "path": "sub"})
    assert content.content == b"x\n"
    metadata = shell_pool.http.get("/files/a.txt", params={**params, "path": "sub"}).json()
    assert (metadata["name"], metadata["sizeInBytes"], metadata["directory"]) == ("a.txt", 2, "/mnt/data/sub")
    gone = shell_pool.http.delete("/files/up.txt", params=params)
    assert gone.status_code == 204
    assert run(shell_pool, ident, shellCommand="ls sub/deeper")["result"]["stdout"] == "b.txt\n"
    missing = shell_pool.http.get("/files", params={**params, "path": "nowhere"})
    assert missing.status_code == 404


@needs_bwrap
def test_a_shell_cannot_reach_host_files_judged_from_the_host(shell_pool, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("host-only")
    os.chmod(tmp_path, 0o755)  # noqa: S103 (readable by the session uid, were it in reach: the sandbox must be why not)
    ident = f"shell-escape-{uuid.uuid4()}"
    attempts = [
        f"cat {secret}",
        f"echo pwned > {tmp_path}/planted",
        "echo pwned > /usr/planted-by-session",
        "echo pwned > /opt/emulator/kernel_shell.py",
        "cd .. && cd .. && echo pwned > planted-above",
        "ls /work /root /home",
    ]
    for command in attempts:
        body = run(shell_pool, ident, shellCommand=command)
        assert body["exitCode"] != 0, (command, body)
        assert "host-only" not in body["result"]["stdout"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.txt"]
    assert not Path("/usr/planted-by-session").exists()
    assert not Path("/planted-above").exists()
    kernel = Path(__file__).resolve().parents[2] / "dynamic_sessions/emulator/sessions/kernel_shell.py"
    assert "pwned" not in kernel.read_text()


@needs_bwrap
def test_the_files_api_never_follows_a_link_the_shell_planted(shell_pool, tmp_path):
    (tmp_path / "host.txt").write_text("host-only")
    os.chmod(tmp_path, 0o755)  # noqa: S103 (readable by the session uid, were it in reach: the sandbox must be why not)
    ident = f"shell-links-{uuid.uuid4()}"
    run(shell_pool, ident, shellCommand=f"ln -s {tmp_path} escape && ln -s / root && mkdir real")
    for path in ("escape", "root", "real/../escape", "../..", "escape/x"):
        response = shell_pool.http.get("/files", params={"api-version": LATEST, "identifier": ident, "path": path})
        assert response.status_code == 400, (path, response.text)
        assert "host.txt" not in response.text
    params = {"api-version": LATEST, "identifier": ident, "path": "escape"}
    upload = shell_pool.http.post("/files", params=params, files={"file": ("dropped.txt", b"x")})
    assert upload.status_code == 400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["host.txt"]
    recursive = _listing(shell_pool, ident, recursive="true")
    assert {e["name"] for e in recursive} == {"real"}  # links are neither listed nor entered


def test_commands_do_not_inherit_the_kernels_channel(shell_pool):
    body = run(shell_pool, "shell-fds", execCommandAndArgs=["/bin/sh", "-c", "ls /proc/$$/fd"])
    assert body["result"]["stdout"].split() == ["0", "1", "2"]


def test_a_recursive_listing_stops_entering_folders_32_levels_down(shell_pool):
    ident = f"shell-deep-{uuid.uuid4()}"
    run(shell_pool, ident, shellCommand="mkdir -p $(printf 'd/%.0s' $(seq 40)) && touch d/top.txt")
    listed = _listing(shell_pool, ident, recursive="true")
    # Folders entered: /mnt/data/d (1) ... 32 levels of d; the 33rd is listed in the 32nd, not entered.
    depths = [e["directory"].removeprefix("/mnt/data").count("/d") for e in listed]
    assert max(depths) == 32
    assert any(e["name"] == "top.txt" for e in listed)


@needs_bwrap
def test_a_session_reaches_neither_the_files_nor_the_processes_of_another_judged_from_the_host(shell_pool):
    owner, intruder = f"shell-owner-{uuid.uuid4()}", f"shell-intruder-{uuid.uuid4()}"
    run(shell_pool, owner, shellCommand="echo owner-secret > secret-6601.txt; (sleep 6601 &)")
    deadline = time.monotonic() + 10  # the detached child may not have become `sleep` yet
    while not running_below(shell_pool.process.pid, "sleep 6601") and time.monotonic() < deadline:
        time.sleep(0.05)
    [sleeper] = running_below(shell_pool.process.pid, "sleep 6601")
    attempts = run(
        shell_pool,
        intruder,
        shellCommand="find / -name 'secret-6601*' 2>/dev/null; pkill -9 sleep; kill -9 -1",
    )
    assert "secret-6601" not in attempts["result"]["stdout"]
    assert Path(f"/proc/{sleeper}").exists()  # the host still sees the owner's process
    assert run(shell_pool, owner, shellCommand="cat secret-6601.txt")["result"]["stdout"] == "owner-secret\n"
    # `kill -9 -1` ended the intruder's own session only; its next command gets a new one.
    assert run(shell_pool, intruder, shellCommand="echo fresh")["result"]["stdout"] == "fresh\n"


@needs_bwrap
def test_a_shell_cannot_connect_to_the_host_or_out(shell_pool):
    port = shell_pool.url.rsplit(":", 1)[1]
    for target in (f"127.0.0.1/{port}", "1.1.1.1/80"):
        body = run(shell_pool, "shell-network", shellCommand=f"exec 3<>/dev/tcp/{target} && echo connected")
        assert body["exitCode"] != 0
        assert "connected" not in body["result"]["stdout"]
