"""The emulator's container image, built from this clone and run as the docs give it (Podman, the port published
on the host's loopback), then used from the host: the smoke, the client, a peer client, and a hostile session.

Where no image registry is reachable the base comes from Debian's packages (tests/image_build.py), cached between
runs. In CI (where $CI is set) a missing tool fails the test; on a developer machine it skips, naming what to install.
"""

import json
import os
import socket
import subprocess
import sys
import uuid
import warnings

import httpx
import pytest

from dynamic_sessions import api_versions
from dynamic_sessions.client import SessionsClient
from dynamic_sessions.client.errors import DataPlaneError
from dynamic_sessions.client.tokens import LocalToken
from dynamic_sessions.container import ENGINE_VARIABLE, SECURITY_OPTIONS, RunningImage
from tests import image_build

CANARY_VARIABLE = "IMAGE_TEST_CANARY"
# The first run builds the base and the image (minutes); later ones reuse both.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def image():
    if missing := image_build.missing_tools():
        message = f"the image tests need {', '.join(missing)} (Debian/Ubuntu: apt-get install {' '.join(missing)})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return image_build.build_image()


def _running(
    image: str,
    *flags: str,
    env: dict[str, str] | None = None,
    ready_lines: int = 1,
    security: tuple[str, ...] | None = None,
) -> RunningImage:
    options = (*image_build.engine_options(), *image_build.run_options())
    return RunningImage(
        "podman", image, *flags, env=env, engine_options=options, ready_lines=ready_lines, security=security
    )


@pytest.fixture(scope="module")
def container(image):
    # A secret-looking value only the container's environment holds: no session may ever print it.
    canary = f"canary-{uuid.uuid4().hex}"
    running = _running(image, env={CANARY_VARIABLE: canary})
    yield running, canary
    running.stop()


def test_the_port_is_published_on_the_hosts_loopback_alone(container):
    running, _ = container
    host, port = running.endpoint.removeprefix("http://").rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    # The same port on the host's other addresses is not the container's.
    outward = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        outward.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the host's outward address
        address = outward.getsockname()[0]
    finally:
        outward.close()
    if address != "127.0.0.1":
        with pytest.raises(OSError):
            socket.create_connection((address, int(port)), timeout=5).close()


def test_the_smoke_passes_from_the_host(container):
    running, _ = container
    done = subprocess.run(
        [sys.executable, "-m", "dynamic_sessions.smoke", "--endpoint", running.endpoint, "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0 and report["passed"] is True, done.stdout + done.stderr
    assert report["stdout"] == "hello-world\n"


def test_a_session_keeps_its_state_across_two_calls(container):
    running, _ = container
    with SessionsClient(running.endpoint) as client:
        identifier = f"image-{uuid.uuid4()}"
        client.execute("globalThis.counter = 41", identifier)
        assert client.execute("console.log(++globalThis.counter)", identifier).stdout == "42\n"
        client.release(identifier)


def test_a_file_round_trips_through_a_session(container):
    running, _ = container
    data = os.urandom(64 * 1024)
    with SessionsClient(running.endpoint) as client:
        identifier = f"image-{uuid.uuid4()}"
        client.upload_file(identifier, "blob.bin", data)
        copied = "require('fs').copyFileSync('/mnt/data/blob.bin', '/mnt/data/copy.bin')"
        client.execute(copied, identifier)
        assert client.download_file(identifier, "copy.bin") == data
        client.release(identifier)


def test_a_session_cannot_read_the_containers_environment(container):
    running, canary = container
    probes = [
        "console.log(JSON.stringify(process.env))",
        # The emulator is pid 1 of the container; the session's own /proc shows only its namespace.
        "const fs = require('fs'); for (const p of fs.readdirSync('/proc')) { if (/^\\d+$/.test(p)) { "
        "try { console.log(fs.readFileSync(`/proc/${p}/environ`, 'latin1')) } catch (e) { console.log(e.code) } } }",
        "try { console.log(require('fs').readFileSync('/proc/1/environ', 'latin1')) } "
        "catch (e) { console.log(e.code) }",
        "try { console.log(require('child_process').execSync('cat /proc/*/environ; env', "
        "{encoding: 'latin1'})) } catch (e) { console.log(String(e.stdout), String(e.stderr)) }",
    ]
    with SessionsClient(running.endpoint) as client:
        identifier = f"image-{uuid.uuid4()}"
        outputs = [client.execute(probe, identifier) for probe in probes]
        client.release(identifier)
    seen = "".join(o.stdout + o.stderr + json.dumps(o.execution_result, default=str) for o in outputs)
    assert "PATH" in outputs[0].stdout  # the probe ran and printed the session's own environment
    assert canary not in seen and CANARY_VARIABLE not in seen


def test_langchains_tool_runs_python_in_the_image_unchanged(image):
    running = _running(image, "--container-type", "PythonLTS", "--python-packages", "none")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from langchain_azure_dynamic_sessions import SessionsPythonREPLTool

        tool = SessionsPythonREPLTool(
            pool_management_endpoint=running.endpoint, access_token_provider=LocalToken().token
        )
        assert json.loads(tool.invoke("6 * 7")) == {"result": 42, "stdout": "", "stderr": ""}
    finally:
        running.stop()


def test_the_pytest_fixture_runs_the_image_when_asked_and_says_so(image, tmp_path):
    (tmp_path / "test_app.py").write_text(
        "def test_runs(dynamic_sessions_pool, dynamic_sessions_identifier):\n"
        "    result = dynamic_sessions_pool.client.execute('console.log(6 * 7)', dynamic_sessions_identifier)\n"
        "    assert result.stdout == '42\\n'\n"
        "    assert dynamic_sessions_pool.endpoint.startswith('http://127.0.0.1:')\n"
    )
    # What this machine's Podman needs (runc, ulimits within the host's hard limits), through its own settings
    # file, since the fixture runs the image as an app developer's machine would.
    runtime = dict(zip(image_build.engine_options()[::2], image_build.engine_options()[1::2], strict=True))
    options = image_build.run_options()
    limits = [value for flag, value in zip(options[::2], options[1::2], strict=True) if flag == "--ulimit"]
    settings = tmp_path / "containers.conf"
    settings.write_text(
        "[containers]\ndefault_ulimits = [" + ", ".join(f'"{limit}"' for limit in limits) + "]\n"
        + 'netns = "slirp4netns"\n'
        + '[engine]\nnetwork_cmd_options = ["port_handler=slirp4netns"]\n'
        + (f'runtime = "{runtime["--runtime"]}"\n' if "--runtime" in runtime else "")
    )  # fmt: skip
    env = {**os.environ, "DYNAMIC_SESSIONS_BACKEND": "image", "DYNAMIC_SESSIONS_IMAGE": image}
    env[ENGINE_VARIABLE] = "podman"
    env["CONTAINERS_CONF"] = str(settings)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly",
         str(tmp_path / "test_app.py")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"dynamic-sessions: emulators from the image {image} (as asked)" in done.stdout


def test_settings_come_from_environment_variables_and_the_mcp_key_from_its_own(image):
    key = f"key-{uuid.uuid4().hex}"
    env = {"DYNAMIC_SESSIONS_CONTAINER_TYPE": "Shell", "DYNAMIC_SESSIONS_MCP": "1", "MCP_SERVER_API_KEY": key}
    running = _running(image, env=env, ready_lines=2)
    try:
        # The key came from the environment: it is not announced.
        assert set(running.announced) == {"POOL_MANAGEMENT_ENDPOINT", "MCP_SERVER_ENDPOINT"}
        assert running.mcp_endpoint is not None
        listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        with httpx.Client(timeout=30) as http:
            refused = http.post(running.mcp_endpoint, json=listing, headers={"x-ms-apikey": "wrong-" + key})
            answered = http.post(running.mcp_endpoint, json=listing, headers={"x-ms-apikey": key})
        assert refused.status_code == 401 and answered.status_code == 200, answered.text
        assert "launchShell" in {tool["name"] for tool in answered.json()["result"]["tools"]}
        # A Shell pool: commands, not JavaScript, at the executions contract's latest version.
        with SessionsClient(running.endpoint, api_version=api_versions.EXECUTIONS_VERSIONS[-1]) as client:
            assert client.run_command("echo $((6 * 7))", identifier=f"image-{uuid.uuid4()}").stdout == "42\n"
    finally:
        running.stop()


def test_the_emulator_holds_no_capability_and_the_unmasked_proc_stays_closed_to_it(container):
    running, _ = container
    probe = "id -u; cat /proc/1/status; echo 1 > /proc/sys/vm/drop_caches && echo WROTE-SYSCTL"
    done = subprocess.run(
        ["podman", "exec", running.name, "sh", "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    uid, *status = done.stdout.splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    held = {name: fields[name].strip() for name in ("CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")}
    assert uid == "999", done.stdout
    # Not even in the bounding set (--cap-drop ALL), and nothing may gain one (no-new-privileges).
    assert held == {"CapPrm": "0" * 16, "CapEff": "0" * 16, "CapBnd": "0" * 16, "CapAmb": "0" * 16, "NoNewPrivs": "1"}
    assert "WROTE-SYSCTL" not in done.stdout and "Permission denied" in done.stderr


NEEDED = [("--security-opt", "seccomp=unconfined"), ("--security-opt", "unmask=/proc/*")]


@pytest.mark.parametrize("left_out", NEEDED, ids=lambda option: option[1])
def test_without_each_option_that_loosens_the_container_no_session_starts(image, left_out):
    options = SECURITY_OPTIONS["podman"]
    pairs = [options[i : i + 2] for i in range(0, len(options), 2)]
    assert left_out in pairs
    running = _running(image, security=tuple(arg for pair in pairs if pair != left_out for arg in pair))
    try:
        with SessionsClient(running.endpoint) as client, pytest.raises(DataPlaneError) as refused:
            client.execute("console.log(1)", f"image-{uuid.uuid4()}")
        assert refused.value.status == 503
    finally:
        running.stop()
