"""The pytest fixture's agent pools, as an app's test suite meets them: a separate pytest run (pytester, in a
subprocess) asking for a Shell pool and an MCP-enabled pool through the marker."""

import json

import pytest

pytest_plugins = ["pytester"]

APP_TESTS = """
import asyncio
import json
import os
from pathlib import Path

import httpx
import pytest


def record(**facts):
    with Path(os.environ["FIXTURE_REPORT"]).open("a") as report:
        report.write(json.dumps(facts) + "\\n")


@pytest.mark.dynamic_sessions(container_type="Shell")
def test_a_shell_pool(dynamic_sessions_pool, dynamic_sessions_identifier):
    answer = httpx.post(
        f"{dynamic_sessions_pool.endpoint}/executions",
        params={"api-version": "2025-10-02-preview", "identifier": dynamic_sessions_identifier},
        json={"shellCommand": "echo $0; pwd"},
        headers={"Authorization": f"Bearer {dynamic_sessions_pool.token()}"},
    ).json()
    assert answer["result"]["stdout"] == "/bin/bash\\n/mnt/data\\n"
    assert dynamic_sessions_pool.mcp_endpoint is None
    record(test="shell", endpoint=dynamic_sessions_pool.endpoint, environ=sorted(dynamic_sessions_pool.environ))


@pytest.mark.dynamic_sessions(container_type="Shell", mcp=True)
def test_an_mcp_enabled_pool(dynamic_sessions_pool):
    server = dynamic_sessions_pool.mcp_server

    async def agent_turn():
        async with server.connect() as session:
            launched = await session.call_tool("launchShell", {})
            environment = launched.structuredContent["environmentId"]
            arguments = {"environmentId": environment, "shellCommand": "echo from-mcp"}
            return await session.call_tool("runShellCommandInRemoteEnvironment", arguments)

    assert asyncio.run(agent_turn()).structuredContent["stdout"] == "from-mcp\\n"
    assert dynamic_sessions_pool.environ["MCP_SERVER_ENDPOINT"] == server.endpoint
    record(test="mcp", endpoint=dynamic_sessions_pool.endpoint, environ=sorted(dynamic_sessions_pool.environ))


@pytest.mark.dynamic_sessions(container_type="PythonLTS", mcp=True)
def test_an_mcp_enabled_python_pool(dynamic_sessions_pool):
    tools = httpx.post(
        dynamic_sessions_pool.mcp_endpoint,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers=dynamic_sessions_pool.mcp_server.headers,
    ).json()["result"]["tools"]
    assert "runPythonCodeInRemoteEnvironment" in [t["name"] for t in tools]


def test_a_pool_without_mcp_says_how_to_get_one(dynamic_sessions_pool):
    with pytest.raises(RuntimeError, match="mcp=True"):
        dynamic_sessions_pool.mcp_server


@pytest.mark.dynamic_sessions(mcp="yes")
def test_a_bad_marker(dynamic_sessions_pool):
    pass
"""


def test_the_fixture_starts_a_shell_pool_and_mcp_enabled_pools(pytester, monkeypatch):
    report = pytester.path / "report.jsonl"
    monkeypatch.setenv("FIXTURE_REPORT", str(report))
    # A key left in the developer's shell: the fixture's pools still make and announce their own.
    monkeypatch.setenv("MCP_SERVER_API_KEY", "a-key-of-the-shell-" + "s" * 20)
    pytester.makepyfile(test_app=APP_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=240)
    result.assert_outcomes(passed=4, errors=1)
    assert "dynamic_sessions(mcp='yes'): mcp must be True or False" in result.stdout.str()
    lines = {line["test"]: line for line in map(json.loads, report.read_text().splitlines())}
    assert lines["shell"]["endpoint"] != lines["mcp"]["endpoint"]  # one emulator per MCP setting
    assert lines["shell"]["environ"] == ["POOL_MANAGEMENT_ENDPOINT"]
    assert lines["mcp"]["environ"] == ["MCP_SERVER_API_KEY", "MCP_SERVER_ENDPOINT", "POOL_MANAGEMENT_ENDPOINT"]


@pytest.mark.dynamic_sessions(container_type="Shell")
def test_shell_is_a_container_type_of_the_fixture(dynamic_sessions_pool):
    assert dynamic_sessions_pool.container_type == "Shell"
