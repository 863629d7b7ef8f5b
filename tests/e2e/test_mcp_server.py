"""The pool's MCP server (`--mcp`): Microsoft's tutorials' curl commands verbatim, the official MCP Python SDK's
streamable-HTTP client unchanged, JSON-RPC errors, the API key, and what an MCP caller can and cannot reach."""

import asyncio
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from dynamic_sessions.emulator.sessions.session import MAX_QUEUED
from tests.emulator_process import NO_TLS, Emulator, running_below

if TYPE_CHECKING:
    from mcp import ClientSession

LATEST = "2025-10-02-preview"
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")

# From learn.microsoft.com/azure/container-apps/sessions-tutorial-shell-mcp (MicrosoftDocs/azure-docs,
# articles/container-apps/sessions-tutorial-shell-mcp.md, 2026-02-18), each block as published.
SHELL_TUTORIAL = [
    """curl -sS -X POST "$MCP_ENDPOINT" \\
    -H "Content-Type: application/json" \\
    -H "x-ms-apikey: $API_KEY" \\
    -d '{ "jsonrpc": "2.0", "id": "1", "method": "initialize" }'""",
    """ENVIRONMENT_RESPONSE=$(curl -sS -X POST "$MCP_ENDPOINT" \\
    -H "Content-Type: application/json" \\
    -H "x-ms-apikey: $API_KEY" \\
    -d '{ "jsonrpc": "2.0", "id": "2", "method": "tools/call", "params": { "name": "launchShell", "arguments": {} } }')

echo $ENVIRONMENT_RESPONSE""",
    """ENVIRONMENT_ID=$(echo $ENVIRONMENT_RESPONSE | jq -r '.result.structuredContent.environmentId')
echo $ENVIRONMENT_ID""",
    """curl -sS -X POST "$MCP_ENDPOINT" \\
    -H "Content-Type: application/json" \\
    -H "x-ms-apikey: $API_KEY" \\
    -d '{
        "jsonrpc": "2.0",
        "id": "3",
        "method": "tools/call",
        "params": {
            "name": "runShellCommandInRemoteEnvironment",
            "arguments": {
                "environmentId": "'"$ENVIRONMENT_ID"'",
                "shellCommand": "echo Hello from Azure Container Apps Shell Session!"
            }
        }
    }'""",
    """# Check the operating system
curl -sS -X POST "$MCP_ENDPOINT" \\
    -H "Content-Type: application/json" \\
    -H "x-ms-apikey: $API_KEY" \\
    -d '{
        "jsonrpc": "2.0",
        "id": "4",
        "method": "tools/call",
        "params": {
            "name": "runShellCommandInRemoteEnvironment",
            "arguments": {
                "environmentId": "'"$ENVIRONMENT_ID"'",
                "shellCommand": "cat /etc/os-release && uname -a"
            }
        }
    }'""",
]

# From learn.microsoft.com/azure/container-apps/sessions-tutorial-python-mcp (articles/container-apps/
# sessions-tutorial-python-mcp.md, 2026-02-19): initialize and launchShell are the shell tutorial's blocks.
PYTHON_TUTORIAL = [
    *SHELL_TUTORIAL[:3],
    """curl -sS -X POST "$MCP_ENDPOINT" \\
    -H "Content-Type: application/json" \\
    -H "x-ms-apikey: $API_KEY" \\
    -d '{
        "jsonrpc": "2.0",
        "id": "3",
        "method": "tools/call",
        "params": {
            "name": "runPythonCodeInRemoteEnvironment",
            "arguments": {
                "environmentId": "'"$ENVIRONMENT_ID"'",
                "pythonCode": "import sys; print(f\\"Python {sys.version}\\")"
            }
        }
    }'""",
    """curl -sS -X POST "$MCP_ENDPOINT" \\
    -H "Content-Type: application/json" \\
    -H "x-ms-apikey: $API_KEY" \\
    -d '{
        "jsonrpc": "2.0",
        "id": "4",
        "method": "tools/call",
        "params": {
            "name": "runPythonCodeInRemoteEnvironment",
            "arguments": {
                "environmentId": "'"$ENVIRONMENT_ID"'",
                "pythonCode": "import math\\nresults = {n: math.factorial(n) for n in range(1, 11)}\\nfor k, v in results.items():\\n    print(f\\"{k}! = {v}\\")"
            }
        }
    }'""",  # noqa: E501 (verbatim)
]


class McpPool:
    """An emulator started with --mcp: its data plane (`emulator`), MCP endpoint and key, as it printed them."""

    def __init__(self, *flags: str, key: str | None = None, key_in_environment: bool = False):
        extra = ("--mcp-api-key", key) if key and not key_in_environment else ()
        env = {**os.environ, "MCP_SERVER_API_KEY": key} if key and key_in_environment else None
        self.emulator = Emulator(*flags, "--mcp", *extra, env=env)
        stdout = self.emulator.process.stdout
        assert stdout is not None
        self.lines = [stdout.readline().strip() for _ in range(1 if key else 2)]
        announced = dict(line.split("=", 1) for line in self.lines)
        self.endpoint = announced["MCP_SERVER_ENDPOINT"]
        self.key = key or announced["MCP_SERVER_API_KEY"]
        self.http = httpx.Client(timeout=30, headers={"x-ms-apikey": self.key}, verify=NO_TLS)

    def rpc(self, method: str, params: dict[str, Any] | None = None, message_id: Any = 1) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": message_id, "method": method}
        if params is not None:
            message["params"] = params
        response = self.http.post(self.endpoint, json=message)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        return response.json()

    def tool(self, name: str, **arguments: Any) -> dict[str, Any]:
        return self.rpc("tools/call", {"name": name, "arguments": arguments})

    def launch(self) -> str:
        return self.tool("launchShell")["result"]["structuredContent"]["environmentId"]

    def printed_until_exit(self) -> str:
        """Stops the emulator, and returns what it printed on stdout after the lines read at its start."""
        self.stop()
        stdout = self.emulator.process.stdout
        assert stdout is not None
        return stdout.read()

    def stop(self) -> None:
        self.http.close()
        self.emulator.stop()


def serving_mcp(*flags: str, key: str | None = None) -> Iterator[McpPool]:
    pool = McpPool(*flags, key=key)
    yield pool
    pool.stop()


# The shell pool is given its key on the command line, as a user who picks their own; the others generate theirs.
COMMAND_LINE_KEY = "k" * 40


@pytest.fixture(scope="module")
def shell_mcp():
    yield from serving_mcp("--container-type", "Shell", "--max-sessions", "10", key=COMMAND_LINE_KEY)


@pytest.fixture(scope="module")
def python_mcp():
    yield from serving_mcp("--container-type", "PythonLTS", "--max-sessions", "10")


@pytest.fixture(scope="module")
def node_mcp():
    yield from serving_mcp("--max-sessions", "10")


def tutorial(pool: McpPool, blocks: list[str]) -> list[str]:
    """Runs the tutorial's blocks in one bash, as a reader pastes them; what each printed, in order."""
    script = "\n".join(f"{block}\necho; echo '<<block-end>>'" for block in blocks)
    env = {"PATH": os.environ["PATH"], "MCP_ENDPOINT": pool.endpoint, "API_KEY": pool.key}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120, check=True)
    return [part.strip() for part in done.stdout.split("<<block-end>>")[:-1]]


def _initialized(answer: dict[str, Any]) -> None:
    assert answer["jsonrpc"] == "2.0"
    assert answer["id"] == "1"
    assert answer["result"]["protocolVersion"] == "2025-03-26"
    assert answer["result"]["serverInfo"]["name"] == "Microsoft Container Apps MCP Server"
    assert answer["result"]["capabilities"]["tools"] == {"call": True, "list": True}


@pytest.mark.skipif(shutil.which("jq") is None or shutil.which("curl") is None, reason="the tutorial uses curl and jq")
def test_the_shell_tutorial_runs_verbatim(shell_mcp):
    initialized, launched, environment, hello, system = tutorial(shell_mcp, SHELL_TUTORIAL)
    _initialized(json.loads(initialized))
    assert json.loads(launched)["result"]["structuredContent"]["environmentId"] == environment
    greeting = json.loads(hello)
    assert greeting["id"] == "3"
    assert greeting["result"]["structuredContent"]["stdout"] == "Hello from Azure Container Apps Shell Session!\n"
    assert greeting["result"]["structuredContent"]["exitCode"] == 0
    machine = json.loads(system)["result"]["structuredContent"]
    assert machine["exitCode"] == 0, machine
    assert "NAME=" in machine["stdout"]
    assert "Linux session" in machine["stdout"]


@pytest.mark.skipif(shutil.which("jq") is None or shutil.which("curl") is None, reason="the tutorial uses curl and jq")
def test_the_python_tutorial_runs_verbatim(python_mcp):
    initialized, _, environment, version, factorials = tutorial(python_mcp, PYTHON_TUTORIAL)
    _initialized(json.loads(initialized))
    assert environment
    assert json.loads(version)["result"]["structuredContent"]["stdout"].startswith("Python 3.")
    listed = json.loads(factorials)["result"]["structuredContent"]["stdout"].splitlines()
    assert listed[0] == "1! = 1"
    assert listed[-1] == "10! = 3628800"


async def _with_sdk(pool: McpPool, steps: Any) -> Any:
    """Runs `steps(session)` with the official SDK's streamable-HTTP client, headers as VS Code's mcp.json sends."""
    # Imported here, not at the top: every test process collects this module, and the SDK takes ~0.5 s to import.
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    headers, timeout = {"x-ms-apikey": pool.key}, httpx.Timeout(30, read=300)
    async with (
        httpx.AsyncClient(headers=headers, timeout=timeout, verify=NO_TLS) as http,
        streamable_http_client(pool.endpoint, http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        return await steps(session)


def test_the_official_mcp_client_initializes_lists_and_calls_tools(shell_mcp):
    from mcp.shared.exceptions import McpError

    async def steps(session: "ClientSession") -> Any:
        initialized = await session.initialize()
        tools = await session.list_tools()
        launched = await session.call_tool("launchShell", {})
        assert launched.structuredContent is not None
        environment = launched.structuredContent["environmentId"]
        first = await session.call_tool(
            "runShellCommandInRemoteEnvironment", {"environmentId": environment, "shellCommand": "echo 41 > n"}
        )
        second = await session.call_tool(
            "runShellCommandInRemoteEnvironment",
            {"environmentId": environment, "execCommandAndArgs": ["sh", "-c", "echo $(( $(cat n) + 1 ))"]},
        )
        failing = await session.call_tool(
            "runShellCommandInRemoteEnvironment", {"environmentId": environment, "shellCommand": "exit 4"}
        )
        with pytest.raises(McpError) as unknown:
            await session.call_tool("runPythonCodeInRemoteEnvironment", {"environmentId": environment})
        return initialized, tools, first, second, failing, unknown.value

    initialized, tools, first, second, failing, unknown = asyncio.run(_with_sdk(shell_mcp, steps))
    assert initialized.serverInfo.name == "Microsoft Container Apps MCP Server"
    assert initialized.protocolVersion == "2025-03-26"
    assert [t.name for t in tools.tools] == ["launchShell", "runShellCommandInRemoteEnvironment"]
    assert tools.tools[1].inputSchema["required"] == ["environmentId"]
    assert first.isError is False
    assert second.structuredContent["stdout"] == "42\n"  # files stay between calls in one environment
    assert json.loads(second.content[0].text) == second.structuredContent
    assert (failing.isError, failing.structuredContent["exitCode"]) == (True, 4)
    assert "Unknown tool" in unknown.error.message
    assert unknown.error.code == -32602


def test_python_pools_keep_interpreter_state_between_tool_calls(python_mcp):
    environment = python_mcp.launch()
    python_mcp.tool("runPythonCodeInRemoteEnvironment", environmentId=environment, pythonCode="total = 40")
    answer = python_mcp.tool("runPythonCodeInRemoteEnvironment", environmentId=environment, pythonCode="total + 2")
    assert answer["result"]["structuredContent"]["result"] == 42
    failed = python_mcp.tool("runPythonCodeInRemoteEnvironment", environmentId=environment, pythonCode="1/0")
    assert failed["result"]["isError"] is True
    assert "ZeroDivisionError" in failed["result"]["structuredContent"]["stderr"]
    shell = python_mcp.tool("runShellCommandInRemoteEnvironment", environmentId=environment, shellCommand="pwd; id -u")
    assert shell["result"]["structuredContent"]["stdout"].splitlines()[0] == "/mnt/data"
    # A process left in the background does not hold the answer back, and the command's helpers stay out
    # of the session's globals.
    started = time.monotonic()
    background = python_mcp.tool(
        "runShellCommandInRemoteEnvironment", environmentId=environment, shellCommand="sleep 30 & echo left"
    )
    assert background["result"]["structuredContent"]["stdout"] == "left\n"
    assert time.monotonic() - started < 10
    names = python_mcp.tool(
        "runPythonCodeInRemoteEnvironment",
        environmentId=environment,
        pythonCode="sorted(k for k in globals() if not k.startswith('__'))",
    )
    assert names["result"]["structuredContent"]["result"] == ["_", "total"]  # _: the last result, as in a notebook


def test_node_pools_offer_only_the_documented_tools(node_mcp):
    tools = [t["name"] for t in node_mcp.rpc("tools/list")["result"]["tools"]]
    assert tools == ["launchShell", "runShellCommandInRemoteEnvironment"]
    environment = node_mcp.launch()
    answer = node_mcp.tool(
        "runShellCommandInRemoteEnvironment", environmentId=environment, execCommandAndArgs=["node", "-e", "1+1"]
    )
    assert answer["result"]["structuredContent"]["exitCode"] == 0
    echoed = node_mcp.tool(
        "runShellCommandInRemoteEnvironment", environmentId=environment, shellCommand="echo hi; exit 3"
    )["result"]["structuredContent"]
    assert (echoed["stdout"], echoed["exitCode"]) == ("hi\n", 3)


@needs_bwrap
@pytest.mark.parametrize("pool_name", ["shell_mcp", "python_mcp", "node_mcp"])
def test_a_tool_calls_timeout_kills_what_the_command_started_judged_from_the_host(pool_name, request):
    pool: McpPool = request.getfixturevalue(pool_name)
    environment = pool.launch()
    answer = pool.tool(
        "runShellCommandInRemoteEnvironment",
        environmentId=environment,
        shellCommand="sleep 5501 & setsid sleep 5502 & (sleep 5503 &); sleep 5500",
        timeoutInSeconds=1,
    )
    content = answer["result"]["structuredContent"]
    assert (content["exitCode"], content["errorName"]) == (-1, "ExecutionTimeout"), content
    deadline = time.monotonic() + 5
    while running_below(pool.emulator.process.pid, "sleep 550") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running_below(pool.emulator.process.pid, "sleep 550") == []


def test_json_rpc_errors_for_methods_tools_arguments_and_environments(shell_mcp):
    environment = shell_mcp.launch()
    assert shell_mcp.rpc("resources/list")["error"]["code"] == -32601
    assert shell_mcp.rpc("tools/call", {"name": "runShell"})["error"]["code"] == -32602
    both = shell_mcp.tool(
        "runShellCommandInRemoteEnvironment", environmentId=environment, shellCommand="ls", execCommandAndArgs=["ls"]
    )
    assert both["error"]["code"] == -32602
    assert "exactly one" in both["error"]["message"]
    neither = shell_mcp.tool("runShellCommandInRemoteEnvironment", environmentId=environment)
    assert "at least one of the 'shellCommand'" in neither["error"]["message"]
    unknown = shell_mcp.tool("runShellCommandInRemoteEnvironment", environmentId=str(uuid.uuid4()), shellCommand="ls")
    assert unknown["error"]["code"] == -32602
    assert "launchShell" in unknown["error"]["message"]
    assert shell_mcp.rpc("ping") == {"jsonrpc": "2.0", "id": 1, "result": {}}
    garbled = shell_mcp.http.post(shell_mcp.endpoint, content=b"{not json")
    assert (garbled.status_code, garbled.json()["error"]["code"]) == (400, -32700)
    wrong_version = shell_mcp.http.post(shell_mcp.endpoint, json={"jsonrpc": "1.0", "id": 1, "method": "ping"})
    assert wrong_version.json()["error"]["code"] == -32600
    notified = shell_mcp.http.post(shell_mcp.endpoint, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert (notified.status_code, notified.content) == (202, b"")
    batch = shell_mcp.http.post(
        shell_mcp.endpoint, json=[{"jsonrpc": "2.0", "id": 7, "method": "ping"}, {"jsonrpc": "2.0", "method": "x"}]
    )
    assert batch.json() == [{"jsonrpc": "2.0", "id": 7, "result": {}}]
    assert shell_mcp.http.get(shell_mcp.endpoint).status_code == 405
    rebound = shell_mcp.http.post(
        shell_mcp.endpoint, json={"jsonrpc": "2.0", "id": 8, "method": "ping"}, headers={"Origin": "https://evil.test"}
    )
    assert rebound.status_code == 403
    local = shell_mcp.http.post(
        shell_mcp.endpoint, json={"jsonrpc": "2.0", "id": 9, "method": "ping"}, headers={"Origin": "http://localhost"}
    )
    assert local.json()["result"] == {}


def test_the_endpoint_needs_the_key_and_never_logs_it(shell_mcp):
    message = {"jsonrpc": "2.0", "id": "1", "method": "initialize"}
    for headers in ({}, {"x-ms-apikey": "wrong-" + shell_mcp.key}, {"x-ms-apikey": shell_mcp.key[:-1]}):
        denied = httpx.post(shell_mcp.endpoint, json=message, headers=headers, timeout=30, verify=NO_TLS)
        assert denied.status_code == 401
        assert shell_mcp.key not in denied.text
    # The data plane's bearer token is not the MCP key, and the MCP key opens no data-plane route.
    bearer_only = shell_mcp.emulator.http.post(shell_mcp.endpoint, json=message)
    assert bearer_only.status_code == 401
    data_plane = httpx.get(
        f"{shell_mcp.emulator.url}/listSessions",
        params={"api-version": LATEST},
        headers={"x-ms-apikey": shell_mcp.key},
        verify=NO_TLS,
    )
    assert data_plane.status_code == 401
    shell_mcp.rpc("initialize")
    assert "/mcp 401" in shell_mcp.emulator.logs()
    assert shell_mcp.key not in shell_mcp.emulator.logs()


def test_an_mcp_caller_cannot_reach_a_data_plane_session_by_its_identifier(shell_mcp):
    victim = f"victim-{uuid.uuid4()}"
    params = {"api-version": LATEST, "identifier": victim}
    planted = shell_mcp.emulator.http.post("/executions", params=params, json={"shellCommand": "echo secret > s.txt"})
    assert planted.json()["exitCode"] == 0
    for attempt in (victim, f"{victim} ", victim.upper(), "../" + victim):
        answer = shell_mcp.tool("runShellCommandInRemoteEnvironment", environmentId=attempt, shellCommand="rm -f s.txt")
        assert answer["error"]["code"] == -32602
    files = shell_mcp.emulator.http.get("/files", params=params).json()["value"]
    assert [f["name"] for f in files] == ["s.txt"]


def test_environments_are_sessions_of_the_pool_with_its_capacity_and_release(launch_mcp):
    pool = launch_mcp("--container-type", "Shell", "--max-sessions", "1")
    first, second = pool.launch(), pool.launch()  # launching allocates nothing: sessions start on first use
    assert pool.tool("runShellCommandInRemoteEnvironment", environmentId=first, shellCommand="true")["result"]
    full = pool.tool("runShellCommandInRemoteEnvironment", environmentId=second, shellCommand="true")
    assert full["error"]["code"] == -32000
    assert "all 1 sessions of the pool are in use" in full["error"]["message"]
    listed = pool.emulator.http.get("/listSessions", params={"api-version": LATEST}).json()["sessions"]
    assert [s["identifier"] for s in listed] == [first]
    released = pool.emulator.http.delete("/session", params={"api-version": LATEST, "identifier": first})
    assert released.status_code == 204
    answer = pool.tool("runShellCommandInRemoteEnvironment", environmentId=second, shellCommand="echo now")
    assert answer["result"]["structuredContent"]["stdout"] == "now\n"


def test_an_environments_session_ends_after_the_cooldown_and_the_id_starts_a_new_one(launch_mcp):
    pool = launch_mcp("--container-type", "Shell", "--cooldown", "0.5")
    environment = pool.launch()
    pool.tool("runShellCommandInRemoteEnvironment", environmentId=environment, shellCommand="touch kept")
    deadline = time.monotonic() + 15
    while pool.emulator.http.get("/listSessions", params={"api-version": LATEST}).json()["sessions"]:
        assert time.monotonic() < deadline, "the idle session outlived its cooldown"
        time.sleep(0.2)
    again = pool.tool("runShellCommandInRemoteEnvironment", environmentId=environment, shellCommand="ls")
    content = again["result"]["structuredContent"]
    assert (content["stdout"], content["exitCode"]) == ("", 0)  # a new session: the file went with the old one


def test_a_key_given_on_the_command_line_is_used_and_not_printed(launch_mcp):
    pool = launch_mcp("--container-type", "Shell", key=COMMAND_LINE_KEY)
    assert pool.key == COMMAND_LINE_KEY
    assert pool.lines == [f"MCP_SERVER_ENDPOINT={pool.emulator.url}/mcp"]
    assert pool.rpc("initialize")["result"]["protocolVersion"] == "2025-03-26"
    logs = pool.emulator.logs()
    assert COMMAND_LINE_KEY not in logs + pool.printed_until_exit()  # on stdout, all it printed up to its exit


def test_a_key_from_the_environment_is_used_and_not_printed(launch_mcp):
    key = "from-the-environment-" + "e" * 20
    pool = launch_mcp("--container-type", "Shell", key=key, key_in_environment=True)
    assert pool.lines == [f"MCP_SERVER_ENDPOINT={pool.emulator.url}/mcp"]
    assert pool.rpc("initialize")["result"]["protocolVersion"] == "2025-03-26"
    refused = httpx.post(
        pool.endpoint, json={"jsonrpc": "2.0", "id": 1, "method": "initialize"}, timeout=30, verify=NO_TLS
    )
    assert refused.status_code == 401  # the variable's key, not one generated beside it
    logs = pool.emulator.logs()
    assert key not in logs + pool.printed_until_exit()  # on stdout, all it printed up to its exit


def test_a_bad_key_in_the_environment_is_named_by_its_variable():
    short = "short-key"
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "--port", "0", "--mcp"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "MCP_SERVER_API_KEY": short},
    )
    assert done.returncode == 2
    assert "$MCP_SERVER_API_KEY must be 16..256 printable characters" in done.stderr
    assert short not in done.stderr


def test_mcp_flags_are_checked():
    for flags, said in (
        (["--mcp-api-key", "k" * 40], "pass --mcp with it"),
        (["--mcp", "--mcp-api-key", "short"], "16..256 printable characters"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "emulator", "--port", "0", *flags],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert done.returncode == 2
        assert said in done.stderr
        assert "k" * 40 not in done.stderr


@pytest.fixture
def launch_mcp() -> Iterator[Any]:
    started: list[McpPool] = []

    def start(*flags: str, key: str | None = None, key_in_environment: bool = False) -> McpPool:
        started.append(McpPool(*flags, key=key, key_in_environment=key_in_environment))
        return started[-1]

    yield start
    for pool in started:
        pool.stop()


def test_tool_calls_on_one_environment_are_held_to_the_sessions_queue_like_data_plane_executions(shell_mcp):
    environment = shell_mcp.launch()

    def call(command: str) -> dict[str, Any]:
        with httpx.Client(timeout=120, headers={"x-ms-apikey": shell_mcp.key}, verify=NO_TLS) as http:
            arguments = {"environmentId": environment, "shellCommand": command}
            params = {"name": "runShellCommandInRemoteEnvironment", "arguments": arguments}
            return http.post(
                shell_mcp.endpoint, json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
            ).json()

    with concurrent.futures.ThreadPoolExecutor(MAX_QUEUED + 8) as threads:
        busy = threads.submit(call, "sleep 3")
        # Once the host sees the busy command, it holds the session; the next calls wait behind it, or are refused.
        deadline = time.monotonic() + 30
        while not running_below(shell_mcp.emulator.process.pid, "sleep 3") and not busy.done():
            assert time.monotonic() < deadline, "the busy call never started"
            time.sleep(0.02)
        waiting = list(threads.map(call, ["true"] * (MAX_QUEUED + 7)))
        assert "result" in busy.result()
    refused = [a for a in waiting if "error" in a]
    assert len(refused) >= 8, "more calls were held than the session's queue allows"
    assert all("executions running or waiting" in a["error"]["message"] for a in refused), refused[0]
    done = shell_mcp.tool("runShellCommandInRemoteEnvironment", environmentId=environment, shellCommand="echo ok")
    assert done["result"]["structuredContent"]["stdout"] == "ok\n"
