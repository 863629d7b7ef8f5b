"""`python -m smoke --mcp` against the emulator's MCP server (a real process on loopback): as a user runs it where
its exit code, its output or its refusal to echo a key is the point, by its `main` in this process where the
point is where the endpoint and the key come from."""

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dynamic_sessions.smoke.__main__ import main
from tests.e2e.test_mcp_server import McpPool, serving_mcp
from tests.emulator_process import ROOT


@pytest.fixture(scope="module")
def shell_mcp() -> Iterator[McpPool]:
    yield from serving_mcp("--container-type", "Shell")


@pytest.fixture(scope="module")
def python_mcp() -> Iterator[McpPool]:
    yield from serving_mcp("--container-type", "PythonLTS")


def smoke(*flags: str, env: dict[str, str] | None = None) -> tuple[int, Any, str]:
    """Runs the smoke with --json; (exit code, its report, stderr)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_SERVER_", "POOL_MANAGEMENT"))}
    done = subprocess.run(
        [sys.executable, "-m", "smoke", "--mcp", "--json", *flags],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**base, **(env or {})},
    )
    return done.returncode, json.loads(done.stdout), done.stderr


def smoke_here(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *flags: str, env: dict[str, str] | None = None
) -> tuple[int, Any]:
    """The smoke's `main` with --json in this process, in the environment `smoke` gives its process;
    (exit code, report)."""
    for name in os.environ:
        if name.startswith(("MCP_SERVER_", "POOL_MANAGEMENT")):
            monkeypatch.delenv(name)
    for name, setting in (env or {}).items():
        monkeypatch.setenv(name, setting)
    code = main(["--mcp", "--json", *flags])
    return code, json.loads(capsys.readouterr().out)


def test_the_hello_world_runs_through_the_mcp_server_of_a_shell_pool(shell_mcp):
    code, report, _ = smoke(env={"MCP_SERVER_ENDPOINT": shell_mcp.endpoint, "MCP_SERVER_API_KEY": shell_mcp.key})
    assert code == 0, report
    assert report["passed"] is True
    assert report["stdout"] == "hello-world\n"
    assert report["endpointSource"] == "$MCP_SERVER_ENDPOINT"
    assert "runShellCommandInRemoteEnvironment" in report["message"]


def test_python_pools_run_it_as_python_with_the_key_from_the_flag(capsys, monkeypatch, python_mcp):
    code, report = smoke_here(capsys, monkeypatch, "--endpoint", python_mcp.endpoint, "--mcp-api-key", python_mcp.key)
    assert code == 0, report
    assert "runPythonCodeInRemoteEnvironment" in report["message"]


def test_a_wrong_key_exits_3_and_is_never_echoed(shell_mcp):
    wrong = "not-the-key-" + "x" * 20
    code, report, stderr = smoke("--endpoint", shell_mcp.endpoint, "--mcp-api-key", wrong)
    assert code == 3
    assert "refused the key (HTTP 401)" in report["message"]
    assert wrong not in json.dumps(report) + stderr


def test_a_plain_http_endpoint_off_this_machine_exits_2_before_the_key_is_sent(capsys, monkeypatch):
    key = "k" * 40
    code, report = smoke_here(capsys, monkeypatch, "--endpoint", "http://pool.example.com/mcp", "--mcp-api-key", key)
    assert code == 2
    assert report["message"].startswith("MCP endpoint 'http://pool.example.com/mcp' uses plain http"), report
    assert key not in json.dumps(report)


def test_the_endpoint_comes_from_the_stack_output(capsys, monkeypatch, shell_mcp, tmp_path):
    outputs = {"mcpServerEndpoint": shell_mcp.endpoint, "containerType": "Shell"}
    pulumi = tmp_path / "pulumi"
    pulumi.write_text(f"#!{sys.executable}\nimport sys\nprint({json.dumps(json.dumps(outputs))})\n")
    pulumi.chmod(0o755)
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}", "MCP_SERVER_API_KEY": shell_mcp.key}
    code, report = smoke_here(capsys, monkeypatch, "--stack", "dev", env=env)
    assert code == 0, report
    assert report["endpointSource"] == "stack dev"


def test_without_a_key_or_a_pool_id_it_says_where_a_key_comes_from(capsys, monkeypatch, shell_mcp, tmp_path):
    pulumi = tmp_path / "pulumi"
    outputs = json.dumps({"mcpServerEndpoint": shell_mcp.endpoint})
    pulumi.write_text(f"#!{sys.executable}\nprint({json.dumps(outputs)})\n")
    pulumi.chmod(0o755)
    code, report = smoke_here(capsys, monkeypatch, "--stack", "dev", env={"PATH": f"{tmp_path}:{os.environ['PATH']}"})
    assert code == 2
    assert "--mcp-api-key" in report["message"]
    assert "poolId" in report["message"]


def test_with_the_endpoint_and_no_key_it_says_the_key_is_missing_and_where_one_comes_from(
    capsys, monkeypatch, tmp_path
):
    # No pulumi on PATH, as on a machine that only runs the emulator.
    env = {"MCP_SERVER_ENDPOINT": "http://127.0.0.1:9/mcp", "PATH": str(tmp_path)}
    code, report = smoke_here(capsys, monkeypatch, env=env)
    assert code == 2
    assert report["endpointSource"] == "$MCP_SERVER_ENDPOINT"
    assert report["message"] == (
        "no MCP key: looked in --mcp-api-key, $MCP_SERVER_API_KEY and fetchMcpServerCredentials on the stack's "
        "poolId output (the pulumi CLI is not on PATH)"
    )


def test_nothing_listening_exits_4():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    code, report, _ = smoke("--endpoint", f"http://127.0.0.1:{port}/mcp", "--mcp-api-key", "k" * 20)
    assert code == 4
    assert "unreachable" in report["message"]


def test_help_names_the_mcp_flags():
    done = subprocess.run(
        [sys.executable, "-m", "smoke", "--help"], capture_output=True, text=True, timeout=60, cwd=Path(ROOT)
    )
    assert "--mcp" in done.stdout
    assert "fetchMcpServerCredentials" in done.stdout
