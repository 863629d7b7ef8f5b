"""`python -m smoke` on Shell pools: `echo hello-world` through `run_command`, against the real emulator started
with `--container-type Shell` and against a recording server for the exact request, with --verify's bash probe."""

import json
import os

import pytest

from dynamic_sessions.client.client import SessionsClient
from dynamic_sessions.smoke import egress
from dynamic_sessions.smoke.__main__ import main
from tests.arm_stand_in import ArmStandIn, pool_properties
from tests.e2e.test_smoke_verify import POOL, UNREACHED, Listener, _host_address, granted, needs_slirp, outputs, verify
from tests.emulator_process import serving
from tests.fault_server import RELEASED, FaultServer, Reply, error
from tests.pulumi_stand_in import StandInPulumi
from tests.sandbox_support import FarHost

FAST = ["--backoff", "0.05"]
HELLO_BODY = {"shellCommand": "echo hello-world", "timeoutInSeconds": 60}


@pytest.fixture(autouse=True)
def no_ambient_endpoint(monkeypatch):
    monkeypatch.delenv("POOL_MANAGEMENT_ENDPOINT", raising=False)


@pytest.fixture(scope="module")
def shell_pool():
    yield from serving("--container-type", "Shell", "--max-sessions", "10")


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1, lines
    return code, json.loads(lines[0])


def shell_answer(stdout: str = "hello-world\n", status: object = "Succeeded", **fields: object) -> Reply:
    body = {
        "id": "0b1c2d3e-0000-4000-8000-000000000002",
        "status": status,
        "exitCode": 0,
        "errorName": "",
        "errorMessage": "",
        "result": {"stdout": stdout, "stderr": "", "executionTimeInMilliseconds": 2},
    }
    body.update(fields)
    return Reply(body={k: v for k, v in body.items() if v is not None})


def stack(monkeypatch, tmp_path, **stack_outputs) -> None:
    """A `pulumi` on PATH whose stack `dev` has these outputs."""
    StandInPulumi(tmp_path, {"dev": {"outputs": stack_outputs}})
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")


def test_a_shell_stack_passes_on_the_emulator_and_its_session_is_released(capsys, monkeypatch, tmp_path, shell_pool):
    stack(monkeypatch, tmp_path, poolManagementEndpoint=shell_pool.url, containerType="Shell")
    code, report = run_json(capsys, "--stack", "dev")
    assert code == 0, report["message"]
    assert report["passed"] and report["message"] == "hello-world ran on the pool"
    assert (report["containerType"], report["apiVersion"]) == ("Shell", "2025-02-02-preview")
    assert (report["status"], report["stdout"], report["stderr"]) == ("Succeeded", "hello-world\n", "")
    assert isinstance(report["executionMs"], int) and report["sessionReleased"] is True
    # What the pool holds: the smoke's session is gone.
    listed = shell_pool.http.get("/listSessions", params={"api-version": "2025-10-02-preview"}).json()
    assert [s["identifier"] for s in listed["sessions"] if s["identifier"].startswith("smoke-")] == []


def test_the_container_type_flag_picks_shell_and_a_later_api_version_is_kept(capsys, shell_pool):
    code, report = run_json(
        capsys, "--endpoint", shell_pool.url, "--container-type", "Shell", "--api-version", "2025-10-02-preview"
    )
    assert code == 0, report["message"]
    assert (report["apiVersion"], report["stdout"]) == ("2025-10-02-preview", "hello-world\n")


def test_the_request_is_the_shell_command_alone_with_no_code_interpreter_fields(capsys):
    with FaultServer(shell_answer(), RELEASED) as server:
        code, report = run_json(capsys, "--endpoint", server.url, "--container-type", "Shell")
    assert code == 0, report["message"]
    execute, release = server.requests
    assert (execute.method, execute.path) == ("POST", "/executions")
    assert execute.query["api-version"] == ["2025-02-02-preview"]
    assert execute.query["identifier"][0].startswith("smoke-")
    assert execute.json() == HELLO_BODY
    assert (release.method, release.path, release.query["identifier"]) == (
        "DELETE",
        "/session",
        execute.query["identifier"],
    )


def test_a_status_that_is_the_exit_code_as_a_string_passes(capsys):
    with FaultServer(shell_answer(status="0", exitCode=None), RELEASED) as server:
        code, report = run_json(capsys, "--endpoint", server.url, "--container-type", "Shell")
    assert code == 0, report["message"]
    assert report["status"] == "0"


@pytest.mark.parametrize(
    "reply,expected",
    [
        (shell_answer(stdout="hello world\n"), "stdout was 'hello world\\n', expected 'hello-world\\n'"),
        (shell_answer(stdout="hello-world"), "stdout was 'hello-world', expected 'hello-world\\n'"),
        (
            shell_answer(
                stdout="", status="Failed", exitCode=127, result={"stdout": "", "stderr": "echo: not found\n"}
            ),
            "the command failed on the pool (status Failed, exit code 127): echo: not found",
        ),
        (
            shell_answer(
                stdout="", status="Failed", exitCode=-1, errorName="ExecutionTimeout", errorMessage="did not finish"
            ),
            "the command failed on the pool (status Failed, exit code -1, ExecutionTimeout): did not finish",
        ),
        (shell_answer(status="1", exitCode=None), "the command failed on the pool (status 1, exit code 1)"),
    ],
)
def test_a_wrong_stdout_or_a_failed_command_exits_1_and_the_session_is_released(capsys, reply, expected):
    with FaultServer(reply, RELEASED) as server:
        code, report = run_json(capsys, "--endpoint", server.url, "--container-type", "Shell")
    assert code == 1 and not report["passed"]
    assert report["message"].startswith(expected), report["message"]
    assert [r.method for r in server.requests] == ["POST", "DELETE"] and report["sessionReleased"] is True


@pytest.mark.parametrize("version", ["2024-02-02-preview", "2024-10-02-preview"])
def test_an_api_version_without_shell_commands_exits_2_before_any_request(capsys, version):
    with FaultServer(shell_answer()) as server:
        code, report = run_json(capsys, "--endpoint", server.url, "--container-type", "Shell", "--api-version", version)
    assert code == 2 and server.requests == []
    assert report["message"] == (
        f"--api-version {version} has no Shell commands; a Shell pool runs them at 2025-02-02-preview or "
        "2025-10-02-preview (drop the flag for 2025-02-02-preview)"
    )


def test_the_role_assignment_wait_is_the_same_for_shell_pools(capsys):
    with FaultServer(error(403, "Forbidden"), error(401, "Unauthorized"), shell_answer(), RELEASED) as server:
        code, report = run_json(capsys, "--endpoint", server.url, "--container-type", "Shell", *FAST)
    assert code == 0 and report["attempts"] == 3
    assert [r.json() for r in server.executions()] == [HELLO_BODY] * 3


def test_keep_session_leaves_a_shell_session_alive(capsys, shell_pool):
    code, report = run_json(capsys, "--endpoint", shell_pool.url, "--container-type", "Shell", "--keep-session")
    assert code == 0 and report["sessionReleased"] is None
    listed = shell_pool.http.get("/listSessions", params={"api-version": "2025-10-02-preview"}).json()
    kept = [s["identifier"] for s in listed["sessions"] if s["identifier"].startswith("smoke-")]
    assert len(kept) == 1
    shell_pool.http.delete("/session", params={"api-version": "2025-10-02-preview", "identifier": kept[0]})


# --- --verify's egress probe in bash, on the emulator's Shell pool -----------------------------


def shell_outputs(url: str, **changes) -> dict:
    return outputs(url, containerType="Shell", **changes)


def test_egress_declared_off_and_blocked_passes_with_the_bash_probe(capsys, monkeypatch, tmp_path, launch):
    pool = launch("--container-type", "Shell")  # egress disabled, as declared
    listener = Listener(_host_address())
    with ArmStandIn(POOL, pool_properties(pool.url, containerType="Shell"), granted()) as arm:
        code, report, _ = verify(
            capsys, monkeypatch, tmp_path, shell_outputs(pool.url), arm, "--egress-probe-url", listener.url
        )
    assert code == 0, report["message"]
    probe = report["egressProbe"]
    assert probe["reached"] is False and probe["outcome"] == "Network is unreachable"
    assert listener.accepted() == 0  # what the host saw


def test_egress_declared_on_but_blocked_fails_with_exit_5_naming_bashs_reason(capsys, monkeypatch, tmp_path, launch):
    pool = launch("--container-type", "Shell")
    held = pool_properties(pool.url, containerType="Shell", sessionNetworkConfiguration={"status": "EgressEnabled"})
    with ArmStandIn(POOL, held, granted()) as arm:
        code, report, _ = verify(capsys, monkeypatch, tmp_path, shell_outputs(pool.url, egressEnabled=True), arm)
    assert code == 5
    assert [d["message"] for d in report["differences"]] == [
        f"egress probe: declared on, but session code could not connect to {UNREACHED.removeprefix('http://')} "
        "(Network is unreachable)"
    ]


@needs_slirp
def test_egress_declared_on_and_open_reaches_the_far_host_from_bash(capsys, monkeypatch, tmp_path, launch):
    pool = launch("--container-type", "Shell", "--egress", "enabled")
    held = pool_properties(pool.url, containerType="Shell", sessionNetworkConfiguration={"status": "EgressEnabled"})
    with FarHost() as far, ArmStandIn(POOL, held, granted()) as arm:
        url = f"http://{far.address}:{far.port}"
        code, report, _ = verify(
            capsys, monkeypatch, tmp_path, shell_outputs(pool.url, egressEnabled=True), arm, "--egress-probe-url", url
        )
        assert far.accepted()  # seen by the other host
    assert code == 0, report["message"]
    probe = report["egressProbe"]
    assert (probe["target"], probe["outcome"], probe["reached"]) == (f"{far.address}:{far.port}", "connected", True)


def test_the_bash_probe_without_coreutils_timeout_prints_no_outcome_rather_than_blocked(shell_pool):
    target = egress.target_of(UNREACHED)
    with SessionsClient(shell_pool.url, api_version="2025-10-02-preview") as pool:
        # The same probe with nothing on PATH: `timeout` is not found, as on an image without coreutils.
        hidden = pool.run_command("PATH=/nowhere\n" + egress.probe_code("Shell", target), "smoke-probe-bare")
        found = pool.run_command(egress.probe_code("Shell", target), "smoke-probe-bare")
        pool.release("smoke-probe-bare")
    assert (hidden.exit_code, hidden.stdout) == (1, "the egress probe needs coreutils' timeout\n")
    assert egress.outcome_of(hidden) is None
    assert egress.outcome_of(found) == "Network is unreachable"


def test_the_bash_probe_quotes_the_host_so_a_url_cannot_run_a_command(shell_pool):
    # urlsplit takes `$(...)` into a host name; the probe must pass it to bash as one literal word.
    target = egress.target_of("http://a$(id>injected)b:8443")
    with SessionsClient(shell_pool.url, api_version="2025-10-02-preview") as pool:
        probed = pool.run_command(egress.probe_code("Shell", target), "smoke-probe-quoted")
        listed = pool.run_command("ls", "smoke-probe-quoted")
        pool.release("smoke-probe-quoted")
    assert egress.outcome_of(probed) not in (None, "connected")
    assert "injected" not in listed.stdout
