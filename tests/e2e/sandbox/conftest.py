"""Fixtures the sandbox tests share; helpers are in tests/sandbox_support.py."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from tests.emulator_process import Emulator, serving
from tests.sandbox_support import (
    ORDINARY_UID,
    Canary,
    _address,
    _emulator,
    _head_never_completed,
    _idle_after_an_answer,
)


@pytest.fixture
def launch_flags() -> tuple[str, ...]:
    """Emulators a test starts for itself: room for the few sessions it uses."""
    return ("--max-sessions", "4")


@pytest.fixture
def canary(tmp_path):
    tmp_path.chmod(0o755)
    return Canary(tmp_path)


@pytest.fixture(scope="module")
def waiting_connections(emulator) -> Iterator[dict[str, Future]]:
    """A connection whose head never completes and one idle after its answer, both on the module's emulator
    at once, so that their tests wait out the server's timeouts together."""
    with ThreadPoolExecutor(2) as pool:
        yield {
            "head": pool.submit(_head_never_completed, _address(emulator)),
            "idle": pool.submit(_idle_after_an_answer, _address(emulator)),
        }


@pytest.fixture(scope="module")
def python_emulator() -> Iterator[Emulator]:
    """The PythonLTS emulator the module's tests share."""
    yield from serving("--container-type", "PythonLTS", "--max-sessions", "6")


@pytest.fixture(scope="module")
def nobody_emulator() -> Iterator[Emulator]:
    """The PythonLTS emulator, without its preloaded packages and with a 256 MiB memory cap, that nobody runs
    for the module's tests of an ordinary user's kernel objects."""
    flags = ("--container-type", "PythonLTS", "--python-packages", "none", "--memory-limit", "256M")
    with _emulator("nobody", *flags) as running:
        yield running


@pytest.fixture
def memory_folder() -> Iterator[str]:
    """A folder of nobody's own on a tmpfs (/dev/shm), private as mkdtemp makes it."""
    folder = tempfile.mkdtemp(prefix="tenant-bounds-", dir="/dev/shm")
    os.chown(folder, ORDINARY_UID, ORDINARY_UID)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
