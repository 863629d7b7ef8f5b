"""A pytest plugin: a local dynamic-sessions pool (the emulator, as a subprocess) for an app's own tests.

Installed with the distribution (entry point `pytest11`), so an app's tests just ask for a fixture:

    def test_my_agent_runs_code(dynamic_sessions_pool, dynamic_sessions_identifier):
        result = dynamic_sessions_pool.client.execute('console.log(1 + 1)', dynamic_sessions_identifier)
        assert result.stdout == "2\\n"

    @pytest.mark.dynamic_sessions(container_type="PythonLTS")
    def test_python(dynamic_sessions_pool): ...

    def test_my_async_agent(dynamic_sessions_pool, dynamic_sessions_identifier):
        async def run():
            async with dynamic_sessions_pool.async_client() as client:   # an AsyncSessionsClient
                return await client.execute("console.log(1 + 1)", dynamic_sessions_identifier)
        assert asyncio.run(run()).stdout == "2\\n"

    @pytest.mark.dynamic_sessions(container_type="Shell", mcp=True)
    def test_agent(dynamic_sessions_pool):
        server = dynamic_sessions_pool.mcp_server   # endpoint and x-ms-apikey of the pool's MCP server

One emulator per container type (and per MCP server on or off) is started on a free loopback port the first
time a test asks for it, shared by the rest of the test run, and stopped with all its sessions when the run ends. Under
pytest-xdist every worker process starts its own, so workers never share sessions or ports.

Settings (ini or command line): `dynamic_sessions_container_type` / `--dynamic-sessions-container-type`
(default NodeLTS), `dynamic_sessions_python_packages` (a package set folder for PythonLTS), and
`dynamic_sessions_emulator_args` (more emulator flags, e.g. `--ready-sessions 2`, or
`--unsandboxed --egress enabled` on a machine without bubblewrap, for trusted test code only), and for the image
`dynamic_sessions_engine_args` (more `docker run`/`podman run` options: volumes, variables, ulimits).

Where the machine has no bubblewrap (macOS, Windows), the emulators run from the container image instead, with
Docker or Podman (docs/container.md). `--dynamic-sessions-backend` or $DYNAMIC_SESSIONS_BACKEND chooses: `auto`
(the default: the image where bubblewrap is missing and Docker or Podman is installed), `process` or `image`.
`dynamic_sessions_image` (ini) or $DYNAMIC_SESSIONS_IMAGE names the image, $DYNAMIC_SESSIONS_ENGINE the engine
(docker, else podman). The run's header says which is used.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dynamic_sessions import container
from dynamic_sessions.azure_facts import CONTAINER_TYPES, DEFAULT_CONTAINER_TYPE
from dynamic_sessions.emulator.sessions import packages
from dynamic_sessions.ready_lines import announced, read_ready_lines

# The clients are imported where a test asks for one: pytest loads this plugin (the package's pytest11 entry point)
# in every run of a project that installs the package, and importing azure-identity alone takes ~0.3 s.
if TYPE_CHECKING:
    from dynamic_sessions.client.client import AsyncSessionsClient, SessionsClient
    from dynamic_sessions.client.mcp import McpServer

BACKENDS = ("auto", "process", "image")
BACKEND_VARIABLE, IMAGE_VARIABLE = "DYNAMIC_SESSIONS_BACKEND", "DYNAMIC_SESSIONS_IMAGE"
START_TIMEOUT_S = 60.0
# A PythonLTS emulator's first start on a machine installs the preloaded package set (about a minute).
PROVISIONING_TIMEOUT_S = 900.0
STOP_TIMEOUT_S = 15.0


# Where bubblewrap is missing the emulator asks for these flags; pytest hands them over through the ini setting.
UNSANDBOXED_FLAGS = "--unsandboxed --egress enabled"


class EmulatorFailed(RuntimeError):
    """The emulator did not start; the message holds what it said."""


def failed_start_message(container_type: str, said: str, flags: list[str]) -> str:
    """Why the emulator did not start, once: its last line first, then the log lines before it, if any;
    where it asks for flags the run did not give it, how to give them from pytest's configuration."""
    lines = [line.removeprefix("emulator: ") for line in said.splitlines()] or ["no output"]
    message = f"the dynamic-sessions emulator ({container_type}) did not start: {lines[-1]}"
    if len(lines) > 1:
        message += "\nbefore that it said:\n" + "\n".join(lines[:-1])
    if UNSANDBOXED_FLAGS in lines[-1] and "--unsandboxed" not in flags:
        message += (
            "\nFrom pytest, the emulator's flags come from the ini setting dynamic_sessions_emulator_args; "
            f"in pytest.ini:\n[pytest]\ndynamic_sessions_emulator_args = {UNSANDBOXED_FLAGS}\n"
            "(in pyproject.toml, under [tool.pytest.ini_options]: "
            f'dynamic_sessions_emulator_args = "{UNSANDBOXED_FLAGS}")'
        )
    return message


class EmulatedPool:
    """One running emulator: its `endpoint`, a ready `client`, `async_client()` for async tests, and tokens for
    other clients; with `mcp`, its MCP server's `mcp_endpoint` and `mcp_api_key`."""

    def __init__(self, container_type: str, flags: list[str], mcp: bool = False):
        self.container_type = container_type
        self.mcp_endpoint: str | None = None
        self.mcp_api_key: str | None = None
        if mcp:
            flags = [*flags, "--mcp"]
        self.flags = flags
        self._client: SessionsClient | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="dynamic-sessions-fixture-", suffix=".log", delete=False)  # noqa: SIM115
        command = [sys.executable, "-m", "dynamic_sessions.emulator", "--port", "0", "--log-level", "warning"]
        self.process = subprocess.Popen(
            [*_ending_with(os.getpid()), *command, "--container-type", container_type, *flags],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            # A key of the developer's shell would be taken over and not announced: each pool makes its own.
            env={name: value for name, value in os.environ.items() if name != "MCP_SERVER_API_KEY"},
            start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, which then stops it in order
        )
        self.endpoint = self._await_endpoint(3 if mcp else 1)

    def _await_endpoint(self, count: int) -> str:
        """The endpoint from the first of the `count` lines the emulator prints when ready (the MCP ones follow)."""
        stdout = self.process.stdout
        assert stdout is not None

        def provisioning() -> float | None:
            # A PythonLTS emulator's first start installs the package set before it serves.
            return PROVISIONING_TIMEOUT_S if packages.INSTALLING in Path(self._log.name).read_text() else None

        lines = read_ready_lines(stdout, count, START_TIMEOUT_S, provisioning)
        values = announced(lines)
        self.mcp_endpoint = values.get("MCP_SERVER_ENDPOINT")
        self.mcp_api_key = values.get("MCP_SERVER_API_KEY")
        line = lines[0].strip() if len(lines) == count else ""
        if not line.startswith("POOL_MANAGEMENT_ENDPOINT="):
            self.stop(keep_log=True)
            said = Path(self._log.name).read_text().strip()
            os.unlink(self._log.name)
            # Its last line says why (an argument error, bubblewrap missing).
            raise EmulatorFailed(failed_start_message(self.container_type, said, self.flags))
        return line.split("=", 1)[1]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def client(self) -> "SessionsClient":
        """A `SessionsClient` for this pool (it mints its own local token), closed with the pool."""
        if self._client is None:
            from dynamic_sessions.client import SessionsClient

            self._client = SessionsClient(self.endpoint)
        return self._client

    def async_client(self, **options: Any) -> "AsyncSessionsClient":
        """A new `AsyncSessionsClient` for this pool, for an async test to use in its own event loop
        (`async with pool.async_client() as client:`); it is bound to that loop, so each test makes its own and
        closes it. `options` are the client's keyword options (`api_version`, `execution_timeout_s`, ...)."""
        from dynamic_sessions.client import AsyncSessionsClient

        return AsyncSessionsClient(self.endpoint, **options)

    @staticmethod
    def token() -> str:
        """A bearer token the emulator accepts, for clients that take a token callback (LangChain, Semantic Kernel)."""
        from dynamic_sessions.client.tokens import LocalToken

        return LocalToken().token()

    @property
    def mcp_server(self) -> "McpServer":
        """The pool's MCP server (endpoint and key) for `dynamic_sessions.client.mcp`; the pool needs `mcp=True`."""
        if self.mcp_endpoint is None or self.mcp_api_key is None:
            raise RuntimeError(
                "this emulated pool has no MCP server: mark the test @pytest.mark.dynamic_sessions(mcp=True)"
            )
        from dynamic_sessions.client.mcp import McpServer

        return McpServer(self.mcp_endpoint, self.mcp_api_key)

    @property
    def environ(self) -> dict[str, str]:
        """What an app reads its pool (and its MCP server, when on) from."""
        found = {"POOL_MANAGEMENT_ENDPOINT": self.endpoint}
        if self.mcp_endpoint is not None and self.mcp_api_key is not None:
            found.update({"MCP_SERVER_ENDPOINT": self.mcp_endpoint, "MCP_SERVER_API_KEY": self.mcp_api_key})
        return found

    def stop(self, keep_log: bool = False) -> None:
        """Stops the emulator, which ends every session process; again is harmless."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()
        if not keep_log:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._log.name)


class ImagePool(EmulatedPool):
    """One emulator in a container of the image (Docker, else Podman), its port published on a free port of the
    host's loopback; otherwise the same as `EmulatedPool`."""

    def __init__(
        self, container_type: str, flags: list[str], image: str, mcp: bool = False, engine_args: tuple[str, ...] = ()
    ):
        self.container_type = container_type
        self.flags = [*flags, "--mcp"] if mcp else flags
        self._client = None
        engine = container.engine_on_path(os.environ.get(container.ENGINE_VARIABLE))
        if engine is None:
            raise EmulatorFailed(
                f"the dynamic-sessions emulator ({container_type}) needs bubblewrap on this machine, or Docker or "
                "Podman to run its image: install one of them"
            )
        try:
            self.running = container.RunningImage(
                engine, image, "--container-type", container_type, "--log-level", "warning", *self.flags,
                engine_options=engine_args, ready_lines=3 if mcp else 1, timeout=PROVISIONING_TIMEOUT_S,
            )  # fmt: skip
        except container.ContainerFailed as failed:
            raise EmulatorFailed(f"the dynamic-sessions emulator ({container_type}) did not start: {failed}") from None
        self.endpoint = self.running.endpoint
        self.mcp_endpoint = self.running.mcp_endpoint
        self.mcp_api_key = self.running.announced.get("MCP_SERVER_API_KEY")

    @property
    def pid(self) -> int:
        return self.running.process.pid

    def stop(self, keep_log: bool = False) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self.running.stop()


def chosen_backend(config: pytest.Config) -> tuple[str, str]:
    """`process` or `image`, and why, from the option, $DYNAMIC_SESSIONS_BACKEND, else bubblewrap's presence."""
    asked = config.getoption("dynamic_sessions_backend") or os.environ.get(BACKEND_VARIABLE) or "auto"
    if asked not in BACKENDS:
        raise pytest.UsageError(f"{BACKEND_VARIABLE}={asked!r} is not a backend; use one of {BACKENDS}")
    if asked != "auto":
        return asked, "as asked"
    if shutil.which("bwrap") is not None:
        return "process", "bubblewrap is installed"
    if "--unsandboxed" in config.getini("dynamic_sessions_emulator_args"):
        return "process", "unsandboxed, as configured"
    engine = container.engine_on_path(os.environ.get(container.ENGINE_VARIABLE))
    if engine is None:  # the emulator itself then says what to install, or which flags to pass
        return "process", "neither bubblewrap nor Docker or Podman is installed"
    return "image", f"bubblewrap is not installed; {engine} is"


def chosen_image(config: pytest.Config) -> str:
    return os.environ.get(IMAGE_VARIABLE) or str(config.getini("dynamic_sessions_image") or container.DEFAULT_IMAGE)


# Run before the emulator, in its own process: the kernel sends it SIGTERM when the test process dies,
# even by SIGKILL (a CI timeout), so no emulator outlives its test run; the setting survives the exec.
_TRAMPOLINE = """
import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    sys.exit(0)  # the test process is already gone
os.execv(sys.argv[2], sys.argv[2:])
"""


def _ending_with(parent: int) -> list[str]:
    if not sys.platform.startswith("linux"):
        return []
    return [sys.executable, "-c", _TRAMPOLINE, str(parent)]


class EmulatedPools:
    """The run's emulators, one per container type and MCP setting, each started when first asked for."""

    def __init__(self, config: pytest.Config):
        self._config = config
        self._pools: dict[tuple[str, bool], EmulatedPool] = {}
        self._failed: dict[tuple[str, bool], str] = {}
        self._lock = threading.Lock()

    def default_container_type(self) -> str:
        chosen = self._config.getoption("dynamic_sessions_container_type") or self._config.getini(
            "dynamic_sessions_container_type"
        )
        return _checked(str(chosen), "dynamic_sessions_container_type")

    def get(self, container_type: str | None = None, mcp: bool = False) -> EmulatedPool:
        kind = _checked(container_type, "container_type") if container_type else self.default_container_type()
        with self._lock:
            key = (kind, mcp)
            if key in self._failed:  # said in full to the first test that asked; not tried again
                raise EmulatorFailed(self._failed[key])
            if key not in self._pools:
                try:
                    if chosen_backend(self._config)[0] == "image":
                        engine_args = tuple(self._config.getini("dynamic_sessions_engine_args"))
                        image = chosen_image(self._config)
                        self._pools[key] = ImagePool(kind, self._flags(kind), image, mcp=mcp, engine_args=engine_args)
                    else:
                        self._pools[key] = EmulatedPool(kind, self._flags(kind), mcp=mcp)
                except EmulatorFailed:
                    self._failed[key] = (
                        f"the dynamic-sessions emulator ({kind}) did not start; why is in the error of the first "
                        "test that asked for it"
                    )
                    raise
            return self._pools[key]

    def _flags(self, container_type: str) -> list[str]:
        flags = list(self._config.getini("dynamic_sessions_emulator_args"))
        packages = str(self._config.getini("dynamic_sessions_python_packages") or "")
        if packages and container_type == "PythonLTS":
            flags += ["--python-packages", str(Path(self._config.rootpath, packages))]
        return flags

    def stop_all(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.stop()


def _checked(value: Any, setting: str) -> str:
    if value not in CONTAINER_TYPES:
        raise pytest.UsageError(
            f"{setting}={value!r} is not a container type the emulator runs; use one of {CONTAINER_TYPES}"
        )
    return str(value)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dynamic-sessions", "a local dynamic-sessions pool for tests")
    group.addoption(
        "--dynamic-sessions-container-type",
        dest="dynamic_sessions_container_type",
        choices=CONTAINER_TYPES,
        default=None,
        help=f"the emulated pool's interpreter when a test does not mark one (default {DEFAULT_CONTAINER_TYPE})",
    )
    group.addoption(
        "--dynamic-sessions-backend",
        dest="dynamic_sessions_backend",
        choices=BACKENDS,
        default=None,
        help=f"where the emulators run: auto (default: the container image only without bubblewrap), process or "
        f"image (also ${BACKEND_VARIABLE})",
    )
    parser.addini(
        "dynamic_sessions_image",
        f"the emulator's container image (default {container.DEFAULT_IMAGE}; ${IMAGE_VARIABLE} wins)",
        default="",
    )
    parser.addini(
        "dynamic_sessions_container_type",
        f"{', '.join(CONTAINER_TYPES)} (default {DEFAULT_CONTAINER_TYPE})",
        default=DEFAULT_CONTAINER_TYPE,
    )
    parser.addini(
        "dynamic_sessions_python_packages", "PythonLTS: a package set folder, relative to rootdir", default=""
    )
    parser.addini("dynamic_sessions_emulator_args", "more flags for the emulator", type="args", default=[])
    parser.addini(
        "dynamic_sessions_engine_args",
        "the image backend: more options for `docker run`/`podman run`, before the image (-v, -e, --ulimit)",
        type="args",
        default=[],
    )


def pytest_report_header(config: pytest.Config) -> str:
    backend, why = chosen_backend(config)
    if backend == "image":
        return f"dynamic-sessions: emulators from the image {chosen_image(config)} ({why})"
    return f"dynamic-sessions: emulators as local processes ({why})"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dynamic_sessions(container_type, mcp=False): which emulated pool `dynamic_sessions_pool` gives this test "
        "(mcp=True: one serving its MCP server too)",
    )


@pytest.fixture(scope="session")
def dynamic_sessions_pools(pytestconfig: pytest.Config) -> Iterator[EmulatedPools]:
    """Every emulator of this test run (of this xdist worker), by container type; stopped at the end."""
    pools = EmulatedPools(pytestconfig)
    try:
        yield pools
    finally:
        pools.stop_all()


@pytest.fixture
def dynamic_sessions_pool(request: pytest.FixtureRequest, dynamic_sessions_pools: EmulatedPools) -> EmulatedPool:
    """The emulated pool for this test: the marked container type, else the configured one (shared by the run)."""
    marker = request.node.get_closest_marker("dynamic_sessions")
    container_type, mcp = None, False
    if marker is not None:
        container_type = marker.kwargs.get("container_type", marker.args[0] if marker.args else None)
        mcp = marker.kwargs.get("mcp", False)
        if not isinstance(mcp, bool):
            raise pytest.UsageError(f"dynamic_sessions(mcp={mcp!r}): mcp must be True or False")
    return dynamic_sessions_pools.get(container_type, mcp)


@pytest.fixture
def dynamic_sessions_identifier(dynamic_sessions_pool: EmulatedPool) -> Iterator[str]:
    """A fresh session identifier for this test; its session is released afterwards."""
    identifier = f"test-{uuid.uuid4()}"
    yield identifier
    with contextlib.suppress(Exception):  # the emulator may already be gone; nothing to release then
        dynamic_sessions_pool.client.release(identifier)
