"""One bytecode cache for the Python processes a test run starts (pytest runs of an app, emulators, pip).

Where PYTHONDONTWRITEBYTECODE is set (as in many containers) and the installed packages were not byte-compiled
(`make install` passes --no-compile), every such process compiles each module it imports again: about half a
second of CPU for pytest or the emulator. With PYTHONPYCACHEPREFIX naming one folder, each module is compiled
once and read back by every later process. The folder is in the virtual environment the tests run from, so it
lasts as long as what it caches (`make clean` removes both); nothing is written next to the sources. Python
checks each cached module against its source's size and time, so an edited module is compiled again.
"""

import sys
from collections.abc import Mapping
from pathlib import Path

import pytest


def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The virtual environment's cache, or, where it cannot be written, one of this test run."""
    cache = Path(sys.prefix) / "bytecode"
    try:
        cache.mkdir(exist_ok=True)
    except OSError:
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
