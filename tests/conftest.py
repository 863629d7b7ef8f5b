"""Emulator fixtures the test modules share; a module sets its own flags by overriding `emulator_flags`
or `launch_flags`."""

import builtins
import functools
import gc
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dynamic_sessions.emulator.sessions import packages, runtimes
from tests import app_runs
from tests.emulator_process import Emulator, serving

QUIET: dict[str, Any] = {"capture_output": True, "text": True, "check": True}
# The files whose tests take longest, longest first (the per-file wall times of a parallel run). `make test`
# hands whole files to its processes in collection order, so these start first and no process is left
# running a long file alone at the end; every other file keeps its place after them.
LONGEST_FIRST = (
    # The image's build: 2 min 15 s on a machine without its cached Debian base, 20 s with it.
    "test_image.py",
    "test_teardown.py",
    "test_http_server.py",
    "test_python_sessions.py",
    "test_emulator.py",
    "test_files_api.py",
    "test_memory.py",
    "test_kernel_channel.py",
    "test_network.py",
    "test_privileges.py",
    "test_smoke_verify.py",
    "test_mcp_server.py",
    "test_app_install.py",
    "test_pytest_plugin.py",
    "test_data_plane_bounds.py",
    "test_system_calls.py",
    "test_processes.py",
    "test_delivery_scripts.py",
    "test_smoke_command.py",
    "test_nodelts_kernel.py",
    "test_filesystem.py",
    "test_end_to_end.py",
    "test_readme_claims.py",
    "test_smoke_client.py",
    "test_python_preloaded.py",
    "test_peer_clients.py",
    "test_delivery_bootstrap.py",
    "test_startup.py",
    "test_shell_sessions.py",
    "test_smoke_mcp.py",
    "test_smoke_shell.py",
    "test_docs.py",
    "test_install_paths.py",
    "test_shell_client.py",
    "test_consumer_paths.py",
    "test_agent_fixture.py",
)


def _compile_alone(compile_: Callable[..., Any]) -> Callable[..., Any]:
    """`compile` (and so `ast.parse`), never run by two threads at once nor re-entered by the garbage collector.

    Python 3.11 counts the depth of the AST it converts to or from Python objects in one counter of the whole
    interpreter (python/cpython#106905): a conversion started while another runs fails the first with
    "AST constructor recursion depth mismatch". In a test process one starts inside another when the collector,
    run by the objects the first allocates, frees garbage whose finalizer formats a traceback (`traceback` parses
    each line it shows; pytest's unraisable-exception hook formats at once): Pulumi programs leave such garbage,
    and a file run after others that had left it failed so (tests/stand_in_server.py's threads did the same from
    another thread). With the collector paused and a lock held while each compiles, no file has to run first.
    """
    lock = threading.RLock()

    @functools.wraps(compile_)
    def compile_alone(*args: Any, **kwargs: Any) -> Any:
        with lock:
            collecting = gc.isenabled()
            gc.disable()
            try:
                return compile_(*args, **kwargs)
            finally:
                if collecting:
                    gc.enable()

    return compile_alone


builtins.compile = _compile_alone(builtins.compile)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file's own order is kept


def pytest_collection_finish(session: pytest.Session) -> None:
    # Once collected, a test process holds every test module and what they import (Pulumi, the MCP SDK, httpx...):
    # about 125,000 objects that live until it exits, which each full collection would walk again. Frozen, they are
    # left out of every collection; with the higher thresholds, the young collections run less often. In five test
    # processes, the garbage collector's time fell from 4.5 s to 2.2-3.0 s of CPU (docs/performance.md).
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


@pytest.fixture(scope="module")
def emulator_flags() -> tuple[str, ...]:
    return ("--max-sessions", "40")


@pytest.fixture(scope="module")
def emulator(emulator_flags: tuple[str, ...]) -> Iterator[Emulator]:
    """One emulator the whole module shares."""
    yield from serving(*emulator_flags)


@pytest.fixture
def launch_flags() -> tuple[str, ...]:
    """What every emulator `launch` starts is given before the test's own flags."""
    return ()


@pytest.fixture
def launch(launch_flags: tuple[str, ...]) -> Iterator[Callable[..., Emulator]]:
    """Starts emulators with given flags; every one is stopped after the test, whatever happened."""
    started: list[Emulator] = []

    def start(*flags: str) -> Emulator:
        started.append(Emulator(*launch_flags, *flags))
        return started[-1]

    yield start
    for running in started:
        running.stop()


@pytest.fixture(scope="session")
def preloaded_packages() -> Path:
    """PythonLTS's preloaded set in the emulator's user cache: installed by the first run on a machine (a lock
    keeps parallel workers to one install), found there by every later one. Request it before starting a
    PythonLTS emulator that uses the set, so the emulator starts at once."""
    python = runtimes.default_python()
    version = subprocess.run([python, "-c", "import platform; print(platform.python_version())"], **QUIET)
    return packages.provisioned(version.stdout.strip(), python)


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester (for the modules that load it) with the app's runs prepared, once it has started: it clears
    PYTEST_ADDOPTS as it starts."""
    app_runs.prepare(monkeypatch)
    return pytester
