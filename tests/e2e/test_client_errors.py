"""The client's errors as an app meets them, over real loopback HTTP: each names what failed and what to do."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dynamic_sessions.client import SessionsClient
from dynamic_sessions.client.errors import (
    ConnectFailed,
    NotFound,
    NotSupported,
    RequestRejected,
    UnreachableError,
)
from dynamic_sessions.client.tokens import LocalToken
from dynamic_sessions.extras import install_command
from tests.emulator_process import ROOT
from tests.fault_server import FaultServer, Reply

HELLO = 'console.log("hello-world")'


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_refused_connection_on_loopback_names_the_url_and_a_command_that_starts_the_emulator_there():
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with SessionsClient(endpoint) as pool, pytest.raises(ConnectFailed) as refused:
        pool.execute(HELLO, "app-user")
    message = str(refused.value)
    assert message.startswith(f"nothing is listening at {endpoint} (ConnectError: ")
    assert "Connection refused" in refused.value.reason and refused.value.endpoint == endpoint
    command = message.split("); start the emulator there: ", 1)[1].split()
    assert command == ["dynamic-sessions-emulator", "--port", str(port)]
    # As written, with this environment's console script: then the same call works.
    started = subprocess.Popen(
        [str(Path(sys.executable).parent / command[0]), *command[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert started.stdout is not None
        assert started.stdout.readline().strip() == f"POOL_MANAGEMENT_ENDPOINT={endpoint}"
        with SessionsClient(endpoint) as pool:
            assert pool.execute(HELLO, "app-user").stdout == "hello-world\n"
    finally:
        started.terminate()
        started.wait(15)


def test_a_remote_endpoint_that_cannot_be_reached_is_named_with_what_to_check():
    endpoint = "https://pool.invalid"
    with SessionsClient(endpoint, token_provider=LocalToken()) as pool, pytest.raises(ConnectFailed) as failed:
        pool.execute(HELLO, "app-user")
    assert str(failed.value).startswith(f"could not connect to {endpoint} (ConnectError: ")
    assert str(failed.value).endswith(
        "check the endpoint (the pool stack's poolManagementEndpoint output) and that this machine reaches it"
    )
    assert "start the emulator" not in str(failed.value)


def test_a_pool_that_never_answers_is_named_with_the_timeout():
    with FaultServer(Reply(delay_s=5)) as server, SessionsClient(server.url) as pool:
        pool.deadline = time.monotonic() + 0.5  # the read timeout is what is left of it
        with pytest.raises(UnreachableError) as silent:
            pool.execute(HELLO, "app-user")
    assert type(silent.value) is UnreachableError  # the request was sent: not a ConnectFailed
    assert str(silent.value).startswith(f"no answer from {server.url} (ReadTimeout: ")


def test_an_operation_the_api_version_lacks_names_the_versions_that_have_it():
    with SessionsClient("http://127.0.0.1:9") as pool, pytest.raises(NotSupported) as lacking:
        pool.get_session("app-user")  # refused before any request: nothing listens on port 9
    assert str(lacking.value) == (
        "get_session needs api version 2025-02-02-preview or 2025-10-02-preview; this client speaks 2024-02-02-preview"
    )


@pytest.mark.parametrize("api_version", ["2024-02-02-preview", "2025-10-02-preview"])
def test_a_missing_file_is_not_found_naming_the_file_and_the_session(emulator, api_version):
    with SessionsClient(emulator.url, api_version=api_version) as pool:
        pool.upload_file("files-user", "present.txt", b"here")
        with pytest.raises(NotFound) as missing:
            pool.download_file("files-user", "absent.txt")
        assert pool.download_file("files-user", "present.txt") == b"here"
    assert isinstance(missing.value, RequestRejected)  # what callers caught before it had its own type
    assert missing.value.status == 404
    assert str(missing.value).startswith("HTTP 404")
    assert "file 'absent.txt' in /mnt/data of session 'files-user' does not exist (" in str(missing.value)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)


BLOCK = "import sys\nsys.modules[{module!r}] = None  # as if it were not installed\n"


def test_without_httpx_the_client_names_the_extra_and_the_command_that_installs_it():
    done = _run(BLOCK.format(module="httpx") + "from dynamic_sessions.client import SessionsClient\n")
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        "dynamic_sessions.client.errors.MissingExtra: dynamic_sessions.client.SessionsClient needs httpx, "
        f"which is not installed; install the 'client' extra: {install_command('client')}"
    )


def test_without_azure_identity_an_https_client_says_so_when_it_is_made():
    done = _run(
        BLOCK.format(module="azure.identity")
        + "from dynamic_sessions.client import SessionsClient\n"
        + "from dynamic_sessions.client.errors import ConfigurationError\n"
        + "try:\n    SessionsClient('https://pool.example')\n"
        + "except ConfigurationError as error:\n    print(type(error).__name__, error)\n"
    )
    assert done.stdout.strip() == (
        "MissingExtra "
        "a token for an https endpoint (DefaultAzureCredential) needs azure-identity, which is not installed; "
        f"install the 'client' extra: {install_command('client')}"
    )


def test_the_install_command_of_a_clone_installs_the_extra_into_it():
    assert install_command("client") == f'{sys.executable} -m pip install -e "{ROOT}[client]"'
