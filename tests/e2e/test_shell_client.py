"""`run_command`, the client's call for Shell pools, over real loopback HTTP: the exact bodies it sends (a
recording server), how it reads the answers (the spec's and the status-as-exit-code shape), and the real emulator
started with `--container-type Shell`."""

import asyncio
import re

import pytest

from dynamic_sessions.api_versions import SHELL_API_VERSIONS
from dynamic_sessions.client.client import AsyncSessionsClient, SessionsClient
from dynamic_sessions.client.errors import ConfigurationError, NotSupported, UnexpectedResponse
from dynamic_sessions.client.results import CommandResult
from tests.emulator_process import ROOT, serving
from tests.fakes import FixedToken
from tests.fault_server import FaultServer, Reply

LATEST = "2025-10-02-preview"
OLDER = ("2024-02-02-preview", "2024-08-02-preview", "2024-10-02-preview")


def shell_answer(
    status: object = "Succeeded", stdout: str = "hello-world\n", extra: dict | None = None, **fields: object
) -> Reply:
    """A Shell pool's answer as Microsoft's shell image spec has it; `fields` replace or (None) drop its fields."""
    body: dict = {
        "id": "0b1c2d3e-0000-4000-8000-000000000001",
        "identifier": "agent-1",
        "status": status,
        "exitCode": 0,
        "errorName": "",
        "errorMessage": "",
        "result": {"stdout": stdout, "stderr": "", "executionTimeInMilliseconds": 3},
    }
    body.update(fields)
    body.update(extra or {})
    return Reply(body={k: v for k, v in body.items() if v is not None})


@pytest.fixture(scope="module")
def shell_pool():
    yield from serving("--container-type", "Shell", "--max-sessions", "10")


def client(url: str, version: str = LATEST, **options) -> SessionsClient:
    return SessionsClient(url, api_version=version, token_provider=FixedToken(), **options)


def emulated(url: str, version: str = LATEST) -> SessionsClient:
    """A client as an app would make it for the emulator: a locally minted token."""
    return SessionsClient(url, api_version=version)


# --- the requests, exactly -------------------------------------------------------------------


def test_a_string_is_sent_as_shell_command_with_the_clients_timeout_and_nothing_else():
    with FaultServer(shell_answer()) as server, client(server.url, execution_timeout_s=45) as pool:
        done = pool.run_command("echo hello-world", "agent-1")
    (sent,) = server.requests
    assert (sent.method, sent.path) == ("POST", "/executions")
    assert sent.query == {"api-version": [LATEST], "identifier": ["agent-1"]}
    assert sent.json() == {"shellCommand": "echo hello-world", "timeoutInSeconds": 45}
    assert sent.headers["authorization"] == "Bearer test-token-abc"
    assert sent.headers["content-type"] == "application/json"
    assert done == CommandResult(
        succeeded=True,
        status="Succeeded",
        exit_code=0,
        error_name="",
        error_message="",
        stdout="hello-world\n",
        stderr="",
        execution_ms=3,
        raw=done.raw,
    )


def test_a_list_is_sent_as_exec_command_and_args_with_the_options_given():
    with FaultServer(shell_answer()) as server, client(server.url, version="2025-02-02-preview") as pool:
        pool.run_command(["printf", "[%s]", "a b"], "agent-1", timeout_s=200, output_max_length=100)
        pool.run_command("echo $0", "agent-1", timeout_s=5, shell_type="sh")
    argv, line = (r.json() for r in server.requests)
    assert argv == {
        "execCommandAndArgs": ["printf", "[%s]", "a b"],
        "timeoutInSeconds": 200,
        "outputStreamsMaxLength": 100,
    }
    assert line == {"shellCommand": "echo $0", "timeoutInSeconds": 5, "shellType": "sh"}
    assert all(r.query["api-version"] == ["2025-02-02-preview"] for r in server.requests)


@pytest.mark.parametrize("version", OLDER)
def test_versions_without_shell_commands_raise_not_supported_before_any_request(version):
    with (
        FaultServer(shell_answer()) as server,
        client(server.url, version=version) as pool,
        pytest.raises(NotSupported) as raised,
    ):
        pool.run_command("echo hello-world", "agent-1")
    assert str(raised.value) == (
        f"run_command needs api version 2025-02-02-preview or 2025-10-02-preview; this client speaks {version}"
    )
    assert server.requests == []


def test_bad_arguments_are_all_named_at_once_before_any_request():
    with FaultServer(shell_answer()) as server, client(server.url) as pool:
        with pytest.raises(ConfigurationError) as raised:
            pool.run_command(["ls", "-la"], "agent-1", timeout_s=500, shell_type="zsh", output_max_length=0)
        with pytest.raises(ConfigurationError, match=re.escape("command 42 is not allowed: a string")):
            pool.run_command(42, "agent-1")  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="non-empty list of strings"):
            pool.run_command([], "agent-1")
    message = str(raised.value)
    for part in (
        "shell_type='zsh' applies to a string command",
        "timeout_s=500 is not allowed: 1..220 seconds",
        "shell_type='zsh' is not allowed: one of bash, sh",
        "output_max_length=0 is not allowed",
    ):
        assert part in message
    assert server.requests == []


def test_the_async_client_sends_the_same_body():
    async def go() -> CommandResult:
        async with AsyncSessionsClient(server.url, api_version=LATEST, token_provider=FixedToken()) as pool:
            return await pool.run_command(["true"], "agent-1", timeout_s=9)

    with FaultServer(shell_answer(stdout="")) as server:
        done = asyncio.run(go())
    assert server.requests[0].json() == {"execCommandAndArgs": ["true"], "timeoutInSeconds": 9}
    assert done.succeeded and done.exit_code == 0


# --- the answers -----------------------------------------------------------------------------


def test_a_status_that_is_the_exit_code_as_a_string_is_read_as_the_exit_code():
    # LangChain's SessionsBashTool reads the exit code from `status`, which its maintainers saw as "0" on a live pool.
    script = [
        shell_answer(status="0", exitCode=None),
        shell_answer(status="2", exitCode=None, stdout=""),
        shell_answer(status=0, exitCode=None),
    ]
    with FaultServer(*script) as server, client(server.url) as pool:
        ok, failed, numeric = (pool.run_command("true", "agent-1") for _ in range(3))
    assert (ok.succeeded, ok.status, ok.exit_code) == (True, "0", 0)
    assert (failed.succeeded, failed.status, failed.exit_code) == (False, "2", 2)
    assert (numeric.succeeded, numeric.status, numeric.exit_code) == (True, "0", 0)


def test_an_exit_code_beside_a_word_status_wins_and_both_must_agree_for_success():
    script = [shell_answer(status="Failed", exitCode=0), shell_answer(exitCode=None), shell_answer(exitCode="0")]
    with FaultServer(*script) as server, client(server.url) as pool:
        disagree, no_code, text_code = (pool.run_command("true", "agent-1") for _ in range(3))
    assert (disagree.succeeded, disagree.exit_code) == (False, 0)
    assert (no_code.succeeded, no_code.exit_code) == (False, None)  # no exit code, no success
    assert (text_code.succeeded, text_code.exit_code) == (True, 0)


def test_a_running_answer_is_polled_at_its_execution_until_done():
    script = [shell_answer(status="Running", exitCode=None, stdout=""), shell_answer()]
    with FaultServer(*script) as server, client(server.url) as pool:
        done = pool.run_command("sleep 1; echo hello-world", "agent-1")
    assert done.succeeded and done.stdout == "hello-world\n"
    poll = server.requests[1]
    assert (poll.method, poll.path) == ("GET", "/executions/0b1c2d3e-0000-4000-8000-000000000001")
    assert poll.query == {"api-version": [LATEST], "identifier": ["agent-1"]}


@pytest.mark.parametrize("body", [{"result": {"stdout": "x"}}, {"status": "Succeeded", "result": "x"}, ["no"]])
def test_an_answer_without_a_status_or_with_a_bad_result_is_unexpected(body):
    with FaultServer(Reply(body=body)) as server, client(server.url) as pool, pytest.raises(UnexpectedResponse):
        pool.run_command("true", "agent-1")


# --- against the emulator's Shell pool --------------------------------------------------------


def test_both_command_forms_run_in_the_emulators_shell_pool(shell_pool):
    with emulated(shell_pool.url, version="2025-02-02-preview") as pool:
        line = pool.run_command("echo hello-world; echo kept > notes.txt", "client-forms")
        argv = pool.run_command(["printf", "[%s]", "a b", "$HOME", "*"], "client-forms")
        later = pool.run_command(["cat", "notes.txt"], "client-forms")
        pool.release("client-forms")
    assert (line.succeeded, line.status, line.exit_code, line.stdout) == (True, "Succeeded", 0, "hello-world\n")
    assert isinstance(line.execution_ms, int)
    assert argv.stdout == "[a b][$HOME][*]"  # no shell: no splitting, expansion or globbing
    assert later.stdout == "kept\n"  # the session keeps its files between commands


def test_a_non_zero_exit_is_a_failed_result_not_an_error(shell_pool):
    with emulated(shell_pool.url) as pool:
        done = pool.run_command("echo out; echo err >&2; exit 3", "client-exit")
    assert (done.succeeded, done.status, done.exit_code) == (False, "Failed", 3)
    assert (done.stdout, done.stderr, done.error_name) == ("out\n", "err\n", "")


def test_a_command_past_its_timeout_is_stopped_and_says_so(shell_pool):
    with emulated(shell_pool.url) as pool:
        done = pool.run_command("echo started; sleep 30", "client-timeout", timeout_s=1)
    assert (done.succeeded, done.status, done.exit_code, done.error_name) == (False, "Failed", -1, "ExecutionTimeout")
    assert "1 seconds" in done.error_message


def test_shell_type_and_output_length_reach_the_emulator(shell_pool):
    with emulated(shell_pool.url) as pool:
        sh = pool.run_command("echo $0", "client-options", shell_type="sh")
        cut = pool.run_command("printf 0123456789", "client-options", output_max_length=4)
    assert sh.stdout == "/bin/sh\n"
    assert cut.stdout == "0123"


def _shell_row() -> list[str]:
    """The Shell pools' row of the app page's results table."""
    section = (ROOT / "docs" / "app.md").read_text().split("## Results across contracts", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in section.splitlines() if "Shell pool" in line]
    (row,) = [cells for cells in rows if len(cells) == 5]
    return row


def test_the_app_pages_shell_row_is_what_run_command_returns(shell_pool):
    versions, _, worked, failed, exit_code = _shell_row()
    assert tuple(v.strip() for v in versions.split(",")) == SHELL_API_VERSIONS
    for version in SHELL_API_VERSIONS:
        with emulated(shell_pool.url, version) as pool:
            good = pool.run_command("echo hi", f"contract-{version}")
            bad = pool.run_command("exit 4", f"contract-{version}")
        assert (good.succeeded, f"`{good.status}`", good.exit_code) == (True, worked.split()[0], 0)
        assert (bad.succeeded, f"`{bad.status}`", bad.exit_code) == (False, failed.split()[0], 4)
    assert exit_code.startswith("`exitCode`") and "numeric `status`" in exit_code
