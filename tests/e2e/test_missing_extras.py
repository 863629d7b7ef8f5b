"""Without a module of an extra, each entry point names the extra and the command that installs it, never a bare
ModuleNotFoundError; the smoke reports it as configuration (exit 2). Each run is a real interpreter in which the
module cannot be imported, as in an environment that lacks it (`make demo`'s has neither mcp nor azure-identity)."""

import json
import subprocess
import sys

import httpx
import pytest

from dynamic_sessions.extras import install_command
from tests.emulator_process import NO_TLS, ROOT, bearer

# A None entry in sys.modules makes `import <module>` raise ModuleNotFoundError, as for a module not installed.
WITHOUT = "import runpy, sys\nsys.modules[{module!r}] = None\n"
SMOKE = "sys.argv = ['python -m smoke', *{argv!r}]\nrunpy.run_module('smoke', run_name='__main__')\n"
UNUSED_ENDPOINT = "http://127.0.0.1:9"


def _python(module: str, code: str) -> subprocess.CompletedProcess[str]:
    program = WITHOUT.format(module=module) + code
    return subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60)


def _smoke_json(module: str, *argv: str) -> tuple[int, dict]:
    done = _python(module, SMOKE.format(argv=[*argv, "--json"]))
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    return done.returncode, json.loads(lines[0])


def _names_the_extra(message: str, extra: str) -> bool:
    return message.endswith(f"install the '{extra}' extra: {install_command(extra)}")


@pytest.mark.parametrize("module", ["httpx", "tenacity"])
def test_the_smoke_without_the_client_extra_names_it_and_exits_2(module):
    code, report = _smoke_json(module, "--endpoint", UNUSED_ENDPOINT)
    assert code == 2
    assert report["message"].startswith(f"python -m smoke needs {module}, which is not installed")
    assert _names_the_extra(report["message"], "client")


def test_the_smokes_summary_without_httpx_is_one_fail_line():
    done = _python("httpx", SMOKE.format(argv=["--endpoint", UNUSED_ENDPOINT]))
    assert done.returncode == 2
    assert done.stderr == ""
    assert done.stdout.splitlines() == [
        "FAIL  python -m smoke needs httpx, which is not installed; install the 'client' extra: "
        + install_command("client")
    ]


def test_the_mcp_smoke_without_httpx_names_the_mcp_extra():
    code, report = _smoke_json("httpx", "--mcp", "--endpoint", f"{UNUSED_ENDPOINT}/mcp", "--mcp-api-key", "k" * 20)
    assert code == 2
    assert report["message"].startswith("python -m smoke --mcp needs httpx, which is not installed")
    assert _names_the_extra(report["message"], "mcp")


def test_the_mcp_smoke_without_the_mcp_sdk_is_a_configuration_problem():
    code, report = _smoke_json("mcp", "--mcp", "--endpoint", f"{UNUSED_ENDPOINT}/mcp", "--mcp-api-key", "k" * 20)
    assert code == 2
    assert "needs mcp, which is not installed" in report["message"]
    assert "ModuleNotFoundError" not in report["message"]
    assert _names_the_extra(report["message"], "mcp")


def test_the_mcp_module_without_httpx_names_the_mcp_extra():
    done = _python("httpx", "import dynamic_sessions.client.mcp\n")
    assert done.stderr.strip().splitlines()[-1] == (
        "dynamic_sessions.client.errors.MissingExtra: dynamic_sessions.client.mcp needs httpx, which is not installed; "
        f"install the 'mcp' extra: {install_command('mcp')}"
    )


def test_connect_without_the_mcp_sdk_raises_missing_extra():
    done = _python(
        "mcp",
        "import asyncio\n"
        "from dynamic_sessions.client.errors import ConfigurationError\n"
        "from dynamic_sessions.client.mcp import McpServer\n"
        "async def main():\n"
        f"    async with McpServer({UNUSED_ENDPOINT + '/mcp'!r}, 'k' * 20).connect():\n"
        "        pass\n"
        "try:\n    asyncio.run(main())\n"
        "except ConfigurationError as error:\n    print(type(error).__name__, isinstance(error, ImportError), error)\n",
    )
    assert done.stdout.strip() == (
        "MissingExtra True McpServer.connect (the official MCP SDK's client) needs mcp, which is not installed; "
        f"install the 'mcp' extra: {install_command('mcp')}"
    )


def test_a_missing_module_of_the_package_itself_stays_a_module_not_found_error():
    done = _python(
        "dynamic_sessions.client.client",
        "from dynamic_sessions.extras import extra_needed\n"
        "try:\n"
        "    with extra_needed('this', 'client'):\n"
        "        import dynamic_sessions.client.client\n"
        "except Exception as error:\n    print(type(error).__name__)\n",
    )
    assert done.stdout.strip() == "ModuleNotFoundError"


def test_a_bad_flag_under_json_is_still_one_report_without_httpx():
    done = _python("httpx", SMOKE.format(argv=["--json", "--no-such-flag"]))
    assert done.returncode == 2
    report = json.loads(done.stdout)
    assert report["exitCode"] == 2
    assert report["message"] == "python -m smoke: unrecognized arguments: --no-such-flag"
    assert "Traceback" not in done.stderr


def test_the_emulator_reads_tokens_without_pyjwt():
    # The emulator extra has no PyJWT (the client's has it through msal): its token checks must not need it.
    program = WITHOUT.format(module="jwt") + (
        "sys.argv = ['python -m emulator', '--port', '0', '--max-sessions', '2']\n"
        "runpy.run_module('emulator', run_name='__main__')\n"
    )
    emulator = subprocess.Popen(
        [sys.executable, "-c", program], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert emulator.stdout is not None
        line = emulator.stdout.readline().strip()
        assert line.startswith("POOL_MANAGEMENT_ENDPOINT="), f"the emulator did not start without PyJWT: {line!r}"
        url = line.split("=", 1)[1]
        params = {"api-version": "2025-10-02-preview", "identifier": "no-pyjwt"}
        body = {"codeInputType": "Inline", "executionType": "Synchronous", "code": "1 + 1", "timeoutInSeconds": 10}
        accepted = httpx.post(f"{url}/executions", params=params, json=body, headers=bearer(), verify=NO_TLS)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["result"]["executionResult"] == 2
        malformed = {"Authorization": "Bearer not-a-jwt"}
        refused = httpx.post(f"{url}/executions", params=params, json=body, headers=malformed, verify=NO_TLS)
        assert refused.status_code == 401 and "not a well-formed JWT" in refused.text
    finally:
        emulator.terminate()
        emulator.wait(15)
