"""`python -m smoke --mcp`: the hello-world through the pool's MCP server, with the official MCP client.

The endpoint: --endpoint, else $MCP_SERVER_ENDPOINT, else the stack's `mcpServerEndpoint` output. The key:
--mcp-api-key, else $MCP_SERVER_API_KEY (the emulator prints both), else the ARM action fetchMcpServerCredentials
on the stack's `poolId`, with DefaultAzureCredential. Python pools run `print("hello-world")` with
runPythonCodeInRemoteEnvironment, the others `echo hello-world` with runShellCommandInRemoteEnvironment.
"""

import argparse
import asyncio
import os
import sys
import time
from typing import Any, TextIO

import httpx

from dynamic_sessions.client.arm import POOL_API_VERSION
from dynamic_sessions.client.errors import AccessDenied, ConfigurationError, MissingExtra, SessionsError
from dynamic_sessions.client.mcp import (
    ARM_ENDPOINT,
    ENDPOINT_VARIABLE,
    FETCH_KEY,
    KEY_VARIABLE,
    McpServer,
    PoolMcpCredentials,
)
from dynamic_sessions.smoke.check import EXPECTED_STDOUT
from dynamic_sessions.smoke.endpoint import EndpointNotFound, stack_outputs
from dynamic_sessions.smoke.report import (
    ACCESS_DENIED,
    PASSED,
    UNAVAILABLE,
    USAGE,
    WRONG_RESULT,
    Report,
    Verdict,
    print_report,
)

ENDPOINT_OUTPUT, POOL_ID_OUTPUT, API_VERSION_OUTPUT = "mcpServerEndpoint", "poolId", "poolApiVersion"
PYTHON_TOOL, SHELL_TOOL = "runPythonCodeInRemoteEnvironment", "runShellCommandInRemoteEnvironment"


def _server(args: argparse.Namespace, report: Report) -> McpServer:
    outputs: dict[str, Any] | None = None
    looked = f"looked in --endpoint, ${ENDPOINT_VARIABLE} and the stack's {ENDPOINT_OUTPUT} output"
    looked_for_key = f"looked in --mcp-api-key, ${KEY_VARIABLE} and {FETCH_KEY} on the stack's {POOL_ID_OUTPUT} output"

    def output(name: str, wanted: str = "MCP endpoint", where: str = looked) -> Any:
        nonlocal outputs
        if outputs is None:
            outputs = stack_outputs(args.stack, where, wanted)
        return outputs.get(name)

    if args.endpoint:
        endpoint, report.endpointSource = args.endpoint, "--endpoint"
    elif not args.stack and os.environ.get(ENDPOINT_VARIABLE):
        endpoint, report.endpointSource = os.environ[ENDPOINT_VARIABLE], f"${ENDPOINT_VARIABLE}"
    else:
        endpoint = output(ENDPOINT_OUTPUT)
        report.endpointSource = f"stack {args.stack}" if args.stack else "the selected stack"
        if not isinstance(endpoint, str) or not endpoint:
            why = f"the stack has no {ENDPOINT_OUTPUT!r} output (is its mcpServer setting on?)"
            raise EndpointNotFound(f"no MCP endpoint: {looked}; {why}")
    report.endpoint = endpoint
    if args.mcp_api_key:
        return McpServer(endpoint, args.mcp_api_key)
    if os.environ.get(KEY_VARIABLE):
        return McpServer(endpoint, os.environ[KEY_VARIABLE])
    pool_id = output(POOL_ID_OUTPUT, "MCP key", looked_for_key)
    if not isinstance(pool_id, str) or not pool_id:
        raise Verdict(USAGE, f"no MCP key: {looked_for_key}; the stack has no {POOL_ID_OUTPUT!r} output")
    api_version = output(API_VERSION_OUTPUT)
    with PoolMcpCredentials(
        pool_id,
        arm_endpoint=args.arm_endpoint or ARM_ENDPOINT,
        api_version=api_version if isinstance(api_version, str) and api_version else POOL_API_VERSION,
    ) as pool:
        return McpServer(endpoint, pool.api_key())


async def _hello(server: McpServer) -> tuple[str, dict[str, Any]]:
    async with server.connect() as session:
        tools = {tool.name for tool in (await session.list_tools()).tools}
        launched = await session.call_tool("launchShell", {})
        environment = (launched.structuredContent or {}).get("environmentId")
        if not isinstance(environment, str):
            raise Verdict(WRONG_RESULT, "launchShell answered without structuredContent.environmentId")
        if PYTHON_TOOL in tools:
            arguments = {"environmentId": environment, "pythonCode": 'print("hello-world")'}
            answer = await session.call_tool(PYTHON_TOOL, arguments)
            return PYTHON_TOOL, answer.structuredContent or {}
        answer = await session.call_tool(SHELL_TOOL, {"environmentId": environment, "shellCommand": "echo hello-world"})
        return SHELL_TOOL, answer.structuredContent or {}


def _leaves(error: BaseException) -> list[BaseException]:
    """The errors inside the SDK's task groups (it raises ExceptionGroups around what went wrong)."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _verdict(error: BaseException) -> Verdict:
    for leaf in _leaves(error):
        if isinstance(leaf, Verdict):
            return leaf
        if isinstance(leaf, MissingExtra):
            return Verdict(USAGE, str(leaf))
        if isinstance(leaf, httpx.HTTPStatusError):
            status = leaf.response.status_code
            if status in (401, 403):
                return Verdict(ACCESS_DENIED, f"the MCP server refused the key (HTTP {status}); fetch it again")
            return Verdict(UNAVAILABLE, f"the MCP server answered HTTP {status}")
        if isinstance(leaf, httpx.TransportError):
            return Verdict(UNAVAILABLE, f"the MCP server is unreachable ({type(leaf).__name__})")
    first = _leaves(error)[0]
    return Verdict(WRONG_RESULT, f"the MCP exchange failed: {type(first).__name__}: {first}")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    started = time.monotonic()
    report = Report(passed=False, exitCode=USAGE, message="")
    try:
        server = _server(args, report)
        try:
            tool, content = asyncio.run(asyncio.wait_for(_hello(server), args.timeout))
        except TimeoutError:
            raise Verdict(UNAVAILABLE, f"no answer within --timeout {args.timeout:g} s") from None
        except Exception as error:
            raise _verdict(error) from None
        report.status, report.stdout = content.get("status"), content.get("stdout")
        report.stderr = content.get("stderr")
        if report.stdout != EXPECTED_STDOUT:
            raise Verdict(WRONG_RESULT, f"{tool} printed {report.stdout!r}, expected {EXPECTED_STDOUT!r}")
        report.passed, report.exitCode = True, PASSED
        report.message = f"hello-world ran through the MCP server ({tool})"
    except EndpointNotFound as missing:
        report.exitCode, report.message = USAGE, str(missing)
    except SessionsError as error:  # the endpoint was refused, or the key could not be read through ARM
        exit_code = ACCESS_DENIED if isinstance(error, AccessDenied) else UNAVAILABLE
        report.exitCode, report.message = USAGE if isinstance(error, ConfigurationError) else exit_code, str(error)
    except Verdict as verdict:
        report.exitCode, report.message = verdict.exit_code, verdict.message
    report.wallMs = round((time.monotonic() - started) * 1000)
    print_report(report, args.json, out)
    return report.exitCode
