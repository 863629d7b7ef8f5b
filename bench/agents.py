"""Agent pools' figures: a Shell pool's warm command, and an MCP tool call beside the direct `executions` call that
does the same work, in the same emulator and run (PythonLTS: the tool that runs Python; Shell: the shell tool)."""

import asyncio
import statistics
import time
from typing import Any

import httpx

from bench.emulators import EmulatorProcess
from bench.executions import SESSION_API
from bench.samples import timed
from bench.table import row
from dynamic_sessions.client.client import SOCKET_OPTIONS
from dynamic_sessions.client.mcp import McpServer
from dynamic_sessions.client.tokens import LocalToken
from dynamic_sessions.smoke import check

WARM_UP = 200


class McpEmulator(EmulatorProcess):
    """The emulator with --mcp: its data plane `url`, and the MCP server it announced."""

    def __init__(self, *flags: str):
        super().__init__(*flags, "--mcp")
        assert self.process.stdout is not None
        announced = dict(self.process.stdout.readline().strip().split("=", 1) for _ in range(2))
        self.mcp = McpServer(announced["MCP_SERVER_ENDPOINT"], announced["MCP_SERVER_API_KEY"])

    def __enter__(self) -> "McpEmulator":
        return self


def _http(headers: dict[str, str]) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(socket_options=SOCKET_OPTIONS), headers=headers, timeout=60)


def direct(url: str, body: dict[str, Any], count: int) -> list[float]:
    target = f"{url}/executions?api-version={SESSION_API}&identifier=bench-direct"
    with _http({"Authorization": f"Bearer {LocalToken().token()}"}) as data_plane:
        for _ in range(WARM_UP):
            data_plane.post(target, json=body).raise_for_status()
        return timed(lambda: data_plane.post(target, json=body), count)


def direct_and_tool_call(
    url: str, body: dict[str, Any], server: McpServer, tool: str, arguments: dict[str, Any], count: int
) -> tuple[float, float]:
    """p50s of a direct `executions` POST and of the MCP tools/call (as an MCP client POSTs it) doing the same
    work, both warmed first and then taken in turns, so a busy moment of the machine weighs on both alike."""
    target = f"{url}/executions?api-version={SESSION_API}&identifier=bench-direct"
    with (
        _http({"Authorization": f"Bearer {LocalToken().token()}"}) as data_plane,
        _http({**server.headers, "Accept": "application/json, text/event-stream"}) as mcp,
    ):
        launched = mcp.post(server.endpoint, json=_call("launchShell", {})).json()
        environment = launched["result"]["structuredContent"]["environmentId"]
        message = _call(tool, {"environmentId": environment, **arguments})
        for _ in range(WARM_UP):
            data_plane.post(target, json=body).raise_for_status()
            assert mcp.post(server.endpoint, json=message).json()["result"]["isError"] is False
        direct, called = [], []
        for _ in range(count):
            direct += timed(lambda: data_plane.post(target, json=body), 1)
            called += timed(lambda: mcp.post(server.endpoint, json=message), 1)
    return statistics.median(direct), statistics.median(called)


def _call(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}


def sdk_tool_call(server: McpServer, tool: str, arguments: dict[str, Any], count: int) -> list[float]:
    """The same tool call through the official SDK's ClientSession (what an agent framework runs)."""

    async def measure() -> list[float]:
        async with server.connect() as session:
            launched = await session.call_tool("launchShell", {})
            environment = (launched.structuredContent or {})["environmentId"]
            full = {"environmentId": environment, **arguments}
            for _ in range(WARM_UP // 4):
                await session.call_tool(tool, full)
            samples = []
            for _ in range(count):
                started = time.perf_counter()
                await session.call_tool(tool, full)
                samples.append((time.perf_counter() - started) * 1000)
            return samples

    return asyncio.run(measure())


def run(quick: bool) -> None:
    count = 300 if quick else 2000
    echo = {"shellCommand": "echo hello-world"}
    with McpEmulator("--container-type", "Shell") as shell:
        shell_direct, shell_tool = direct_and_tool_call(
            shell.url, echo, shell.mcp, "runShellCommandInRemoteEnvironment", echo, count
        )
        shell_sdk = statistics.median(sdk_tool_call(shell.mcp, "runShellCommandInRemoteEnvironment", echo, count // 4))
        no_shell = statistics.median(direct(shell.url, {"execCommandAndArgs": ["/bin/true"]}, count // 2))
    code = check.HELLO["PythonLTS"]
    body = {"codeInputType": "Inline", "executionType": "Synchronous", "code": code, "timeoutInSeconds": 60}
    with McpEmulator("--container-type", "PythonLTS") as python:
        python_direct, python_tool = direct_and_tool_call(
            python.url, body, python.mcp, "runPythonCodeInRemoteEnvironment", {"pythonCode": code}, count
        )
    print("\nAgent pools (Shell sessions, the MCP server; direct and MCP calls taken in turns)")
    print(row("figure", "measured", "baseline", "target", None))
    print(row("Shell: warm `echo` command, executions, p50", f"{shell_direct:.2f} ms", "", "< 5 ms", shell_direct < 5))
    print(
        row(
            "Shell: MCP runShellCommand..., p50",
            f"{shell_tool:.2f} ms",
            f"direct {shell_direct:.2f} ms",
            "<= 1.5x direct",
            shell_tool <= 1.5 * shell_direct,
        )
    )
    print(row("  the same through the MCP SDK's client, p50", f"{shell_sdk:.2f} ms", "", "", None))
    print(row("Shell: warm execCommandAndArgs /bin/true, p50", f"{no_shell:.2f} ms", "no bash started", "", None))
    print(
        row(
            "PythonLTS: MCP runPythonCode..., p50",
            f"{python_tool:.2f} ms",
            f"direct executions {python_direct:.2f} ms",
            "<= 1.5x direct",
            python_tool <= 1.5 * python_direct,
        )
    )
