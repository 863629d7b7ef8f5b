"""LangChain's `SessionsBashTool` (langchain-azure-dynamic-sessions), unchanged, against the emulator's Shell pool
over real HTTP: it gets only an endpoint and a token callback, as an app would configure it."""

import io
import json
import time
import warnings

import pytest

from dynamic_sessions.client.tokens import LocalToken
from tests.emulator_process import serving


@pytest.fixture(scope="module")
def shell_pool():
    yield from serving("--container-type", "Shell", "--max-sessions", "5")


def test_the_bash_tool_runs_commands_keeps_files_and_moves_them(shell_pool):
    # Imported here, not at the top: every test process collects this module, and LangChain takes ~0.9 s to import.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # it announces its successor, langchain-azure-compute
        from langchain_azure_dynamic_sessions import SessionsBashTool

    tool = SessionsBashTool(pool_management_endpoint=shell_pool.url, access_token_provider=LocalToken().token)
    content, response = tool._run("echo hello; echo oops >&2; echo kept > notes.txt")
    assert (json.loads(content)["stdout"], json.loads(content)["stderr"]) == ("hello\n", "oops\n")
    assert response["exitCode"] == 0
    # The tool reads the exit code from `status`, which its maintainers saw as "0" on a live pool; the emulator
    # answers `status` and `exitCode` as Microsoft's shell image spec has them, so the tool's own field is empty.
    assert json.loads(content)["exitCode"] is None
    # Its uploads name the folder as path=/mnt/data.
    stored = tool.upload_file(data=io.BytesIO(b"uploaded\n"), remote_file_path="up.txt")
    assert (stored.filename, stored.size_in_bytes) == ("up.txt", 9)
    assert sorted(f.filename for f in tool.list_files()) == ["notes.txt", "up.txt"]
    assert tool.download_file(remote_file_path="notes.txt").read() == b"kept\n"
    later, _ = tool._run("cat up.txt")
    assert json.loads(later)["stdout"] == "uploaded\n"
    session = tool.session_id
    tool.close()  # DELETE /session, from a thread of its own
    params = {"api-version": "2025-10-02-preview", "identifier": session}
    for _ in range(100):
        if shell_pool.http.get("/session", params=params).status_code == 404:
            break
        time.sleep(0.05)
    assert shell_pool.http.get("/session", params=params).status_code == 404
