"""How the tests start an app's own pytest runs (pytester, in a subprocess): without the installed plugins that
play no part in them, and with one bytecode cache for them and the emulators they start.

Where PYTHONDONTWRITEBYTECODE is set (as in many containers) and the installed packages were not byte-compiled
(`make install` passes --no-compile), every such process compiles each module it imports again: about half a
second of CPU for pytest or the emulator. With PYTHONPYCACHEPREFIX naming one folder, each module is compiled
once and read back by every later process. The folder is in the virtual environment the tests run from, so it
lasts as long as what it caches (`make clean` removes both); nothing is written next to the sources. Python
checks each cached module against its source's size and time, so an edited module is compiled again.
"""

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# Every installed pytest plugin loads in an app's run; langsmith's (~0.7 s each) and anyio's (~0.3 s) play no part.
UNUSED_PLUGINS = "-p no:langsmith_plugin -p no:anyio"

_pruned: set[Path] = set()


def bytecode_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The virtual environment's cache, or, where it cannot be written, one of this test run."""
    cache = Path(sys.prefix) / "bytecode"
    try:
        cache.mkdir(exist_ok=True)
    except OSError:
        cache = tmp_path_factory.getbasetemp() / "bytecode"
        cache.mkdir(exist_ok=True)
    if cache not in _pruned:
        # What earlier runs compiled under the temporary folder (the test files of an app's pytest runs) is
        # never read again; dropped once per test process, so the cache does not grow with every run.
        shutil.rmtree(cache / Path(tempfile.gettempdir()).relative_to("/"), ignore_errors=True)
        _pruned.add(cache)
    return cache


def prepare(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """For the rest of the test, the app's runs it starts load no unused plugin and share the bytecode cache."""
    monkeypatch.setenv("PYTEST_ADDOPTS", UNUSED_PLUGINS)
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", str(bytecode_cache(tmp_path_factory)))
