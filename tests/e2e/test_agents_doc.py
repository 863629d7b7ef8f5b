"""docs/agents.md sentences held to the program: its tables, its mcp.json and the flags it names."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from dynamic_sessions.client.mcp import McpServer
from dynamic_sessions.emulator.api import mcp, shell
from tests.emulator_process import ROOT, Emulator

PAGE = (ROOT / "docs" / "agents.md").read_text()


def _table_after(heading: str) -> list[list[str]]:
    section = PAGE.split(heading, 1)[1]
    rows: list[list[str]] = []
    for line in section.splitlines()[1:]:
        if rows and not line.startswith("|"):
            break
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_tools_table_is_what_each_pool_lists():
    rows = _table_after("| pool | tools |")
    documented = {row[0].strip("`"): tuple(re.findall(r"`(\w+)`", row[1])) for row in rows}
    assert documented == mcp.TOOLS_OF


def test_the_shell_fields_table_gives_the_contracts_defaults():
    rows = {row[0].strip("`"): row[1].strip("`") for row in _table_after("| request field | default | meaning |")}
    assert rows["shellType"] == "bash" == shell.SHELL_TYPES[0]
    assert int(rows["timeoutInSeconds"]) == shell.DEFAULT_TIMEOUT_S
    assert int(rows["outputStreamsMaxLength"]) == shell.DEFAULT_OUTPUT_MAX_LENGTH


def test_the_json_rpc_error_codes_are_the_servers():
    codes = {int(row[0].split()[0]) for row in _table_after("| JSON-RPC error | when |")}
    assert codes == {mcp.PARSE_ERROR, mcp.INVALID_REQUEST, mcp.METHOD_NOT_FOUND, mcp.INVALID_PARAMS, mcp.SERVER_ERROR}


def test_the_vscode_file_holds_the_entry_the_client_builds():
    block = PAGE.split("`.vscode/mcp.json`", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    entry = json.loads(block)["servers"]["aca-shell-sessions"]
    assert entry == McpServer(entry["url"], entry["headers"]["x-ms-apikey"]).vscode_server()


def test_the_flags_the_page_names_exist():
    emulator = subprocess.run([sys.executable, "-m", "emulator", "--help"], cwd=ROOT, capture_output=True, text=True)
    smoke = subprocess.run([sys.executable, "-m", "smoke", "--help"], cwd=ROOT, capture_output=True, text=True)
    for flag in ("--container-type", "--mcp", "--mcp-api-key", "--port"):
        assert flag in emulator.stdout
    for flag in ("--mcp", "--mcp-api-key", "--stack"):
        assert flag in smoke.stdout
    assert "Shell" in emulator.stdout


def _block_after(sentence: str, language: str) -> str:
    return PAGE.split(sentence, 1)[1].split(f"```{language}\n", 1)[1].split("```", 1)[0]


def _shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", PAGE, re.DOTALL)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the page's request is a curl command")
def test_the_shell_request_runs_as_written_against_a_shell_emulator():
    commands = _block_after("A Shell pool runs commands at", "sh")
    assert "az account get-access-token --resource https://dynamicsessions.io" in commands  # Azure's token
    script = commands.replace(".venv/bin/python", sys.executable)
    shown = json.loads(_block_after("A Shell pool runs commands at", "json"))
    emulator = Emulator("--container-type", "Shell")
    try:
        env = {"PATH": os.environ["PATH"], "POOL_MANAGEMENT_ENDPOINT": emulator.url}
        done = subprocess.run(["bash", "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    finally:
        emulator.stop()
    answer = json.loads(done.stdout)
    assert {k: v for k, v in answer.items() if k != "id"} == {
        **{k: v for k, v in shown.items() if k != "id"},
        "result": {**shown["result"], "executionTimeInMilliseconds": answer["result"]["executionTimeInMilliseconds"]},
    }


def test_the_mcp_script_is_a_script():
    source = _block_after("A script, run with `POOL_ID`", "python")
    compile(source, "agents.md", "exec")  # a top-level `async with` would be a SyntaxError here
    assert source.rstrip().endswith("asyncio.run(main(server))")


def test_commands_run_the_projects_python():
    bare = [line for block in _shell_blocks() for line in block.splitlines() if line.startswith("python")]
    assert bare == []


def test_the_app_install_line_is_the_readmes_with_the_mcp_extra():
    readme = (ROOT / "README.md").read_text()
    line = next(line for line in readme.splitlines() if line.startswith("pip install "))
    assert line.replace("[client,emulator]", "[client,mcp]") in PAGE


def test_the_sdk_only_script_prints_what_the_page_says_against_a_shell_emulator():
    script = _block_after("With the SDK alone", "python")
    printed = re.search(r"It prints `(.*?)` for a Shell pool", PAGE)
    assert printed is not None
    key = "k" * 32
    emulator = Emulator("--container-type", "Shell", "--mcp", env={**os.environ, "MCP_SERVER_API_KEY": key})
    try:
        env = {**os.environ, "MCP_SERVER_ENDPOINT": emulator.url + "/mcp", "MCP_SERVER_API_KEY": key}
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
        )
    finally:
        emulator.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout == printed.group(1) + "\n"
