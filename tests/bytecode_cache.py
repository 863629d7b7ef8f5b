"""One bytecode cache for the Python processes a test run starts (pytest runs of an app, emulators, pip).

Where PYTHONDONTWRITEBYTECODE is set (as in many containers) and the installed packages were not byte-compiled
(`make install` passes --no-compile), every such process compiles each module it imports again: about half a
second of CPU for pytest or the emulator, a second for pip. With PYTHONPYCACHEPREFIX naming one folder of the
test run, each module is compiled once and read back by every later process; nothing is written next to the
sources or into the virtual environment.
"""

from collections.abc import Mapping
from pathlib import Path

import pytest


def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test run's cache (of this xdist worker): the same folder for every test that asks."""
    cache = tmp_path_factory.getbasetemp() / "bytecode"
    cache.mkdir(exist_ok=True)
    return cache


def environ(base: Mapping[str, str], cache: Path) -> dict[str, str]:
    """`base` with Python's compiled modules written to, and read from, `cache`."""
    found = {name: value for name, value in base.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**found, "PYTHONPYCACHEPREFIX": str(cache)}


def use(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """For the rest of the test, the processes it starts share the test run's cache."""
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", str(folder(tmp_path_factory)))
