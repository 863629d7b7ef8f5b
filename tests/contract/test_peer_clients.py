"""Python's agent frameworks, unchanged, against the emulator's PythonLTS sessions over real HTTP.

LangChain's `SessionsPythonREPLTool` (langchain-azure-dynamic-sessions) and Semantic Kernel's
`SessionsPythonTool` speak the 2024-02-02-preview contract; each gets only an endpoint and a token
callback, as an app would configure it. Semantic Kernel accepts https endpoints only, so its pool
serves TLS with a certificate from a throwaway test CA.
"""

import asyncio
import io
import json
import ssl
import time
import warnings
from typing import Any

import httpx
import pytest
import trustme

from dynamic_sessions.client.tokens import LocalToken
from tests.emulator_process import Emulator, serving


# The frameworks are imported by the tests that use them, not at collection: together they take seconds
# to import, which every test process (each xdist worker) would otherwise pay whatever it runs.
def _quietly_imported(module: str, name: str) -> Any:
    import importlib

    with warnings.catch_warnings():
        # langchain-azure-dynamic-sessions announces its successor (langchain-azure-compute) on import, and
        # Semantic Kernel subclasses a deprecated class; neither concerns the tools tested here.
        warnings.simplefilter("ignore", DeprecationWarning)
        return getattr(importlib.import_module(module), name)


@pytest.fixture(scope="module")
def python_pool():
    yield from serving("--container-type", "PythonLTS", "--max-sessions", "10")


@pytest.fixture(scope="module")
def tls_python_pool(tmp_path_factory):
    """A PythonLTS emulator serving https, and an SSL context that trusts it."""
    folder = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    certificate.private_key_pem.write_to_path(str(key_file))
    cert_file.write_bytes(b"".join(blob.bytes() for blob in certificate.cert_chain_pems))
    running = Emulator(
        "--container-type", "PythonLTS", "--tls-cert", str(cert_file), "--tls-key", str(key_file)
    )  # fmt: skip
    context = ssl.create_default_context()
    authority.configure_trust(context)
    yield running, context
    running.stop()


def _session_status(pool: Emulator, identifier: str) -> int:
    params = {"api-version": "2025-10-02-preview", "identifier": identifier}
    return pool.http.get("/session", params=params).status_code


# --- LangChain ----------------------------------------------------------------------------------


def _langchain_tool(pool: Emulator) -> Any:
    tool = _quietly_imported("langchain_azure_dynamic_sessions", "SessionsPythonREPLTool")
    return tool(pool_management_endpoint=pool.url, access_token_provider=LocalToken().token)


def test_langchain_invoke_returns_the_result_and_streams(python_pool):
    tool = _langchain_tool(python_pool)
    assert json.loads(tool.invoke("6 * 7")) == {"result": 42, "stdout": "", "stderr": ""}
    tool.invoke("total = 40")
    answer = json.loads(tool.invoke("```python\nprint('adding')\ntotal + 2\n```"))  # the tool strips the fences
    assert answer == {"result": 42, "stdout": "adding\n", "stderr": ""}


def test_langchain_execute_reports_failures_as_azure_does(python_pool):
    tool = _langchain_tool(python_pool)
    properties = tool.execute("values = [1, 2]\nvalues[5]")
    assert properties["status"] == "Failure"
    assert properties["stderr"].endswith("IndexError: list index out of range\n")
    assert properties["result"] == "" and properties["stdout"] == ""


def test_langchain_file_upload_and_download(python_pool, tmp_path):
    tool = _langchain_tool(python_pool)
    uploaded = tool.upload_file(data=io.BytesIO(b"name,age\nada,36\n"), remote_file_path="people.csv")
    assert (uploaded.filename, uploaded.size_in_bytes, uploaded.full_path) == ("people.csv", 16, "/mnt/data/people.csv")
    local = tmp_path / "grace.txt"
    local.write_bytes(b"grace")
    assert tool.upload_file(local_file_path=str(local)).filename == "grace.txt"
    code = (
        "import csv\n"
        f"rows = list(csv.DictReader(open({uploaded.full_path!r})))\n"
        "open('/mnt/data/ages.txt', 'w').write(rows[0]['name'] + '=' + rows[0]['age'])\n"
        "len(rows)"
    )
    assert json.loads(tool.invoke(code))["result"] == 1
    assert tool.download_file(remote_file_path="ages.txt").read() == b"ada=36"
    saved = tmp_path / "ages.txt"
    tool.download_file(remote_file_path="ages.txt", local_file_path=str(saved))
    assert saved.read_bytes() == b"ada=36"
    listed = {(f.filename, f.size_in_bytes) for f in tool.list_files()}
    assert listed == {("people.csv", 16), ("grace.txt", 5), ("ages.txt", 6)}


def test_langchain_close_releases_the_session(python_pool):
    tool = _langchain_tool(python_pool)
    tool.invoke("1")
    identifier = tool.session_id
    assert _session_status(python_pool, identifier) == 200
    tool.close()  # DELETE /session from a background thread
    deadline = time.monotonic() + 10
    while _session_status(python_pool, identifier) != 404 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _session_status(python_pool, identifier) == 404
    assert tool.session_id != identifier


# --- Semantic Kernel ----------------------------------------------------------------------------


def test_semantic_kernel_executes_uploads_lists_and_downloads(tls_python_pool, tmp_path):
    pool, trust = tls_python_pool
    assert pool.url.startswith("https://127.0.0.1:")
    (tmp_path / "notes.txt").write_text("dynamic sessions")
    SessionsPythonTool = _quietly_imported("semantic_kernel.core_plugins.sessions_python_tool", "SessionsPythonTool")

    async def scenario() -> None:
        async with httpx.AsyncClient(verify=trust, timeout=30) as http:
            plugin = SessionsPythonTool(
                auth_callback=LocalToken().token,
                pool_management_endpoint=pool.url,
                http_client=http,
                enable_dangerous_file_uploads=True,
                allowed_upload_directories=[str(tmp_path)],
            )
            ran = await plugin.execute_code("x = 6\nprint('seen')\nx * 7")
            assert ran == "Status:\nSuccess\nResult:\n42\nStdout:\nseen\n\nStderr:\n"
            assert (await plugin.execute_code("x + 1")).startswith("Status:\nSuccess\nResult:\n7\n")
            failed = await plugin.execute_code("raise ValueError('no')")
            assert failed.startswith("Status:\nFailure\n") and failed.endswith("ValueError: no\n")

            uploaded = await plugin.upload_file(local_file_path=str(tmp_path / "notes.txt"))
            assert (uploaded.full_path, uploaded.size_in_bytes) == ("/mnt/data/notes.txt", 16)
            await plugin.execute_code("open('shout.txt', 'w').write(open('/mnt/data/notes.txt').read().upper())")
            names = sorted(f.filename for f in await plugin.list_files())
            assert names == ["notes.txt", "shout.txt"]
            downloaded = await plugin.download_file(remote_file_name="shout.txt")
            assert downloaded is not None and downloaded.read() == b"DYNAMIC SESSIONS"

    asyncio.run(asyncio.wait_for(scenario(), 60))
