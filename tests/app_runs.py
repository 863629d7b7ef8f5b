"""How the tests make and run an app of their own: uv for its environment (and the package's wheel), and its
pytest runs (pytester, in a subprocess) without the installed plugins that play no part in them, and with
Python's bytecode cache in use.

Where PYTHONDONTWRITEBYTECODE is set (as on some machines; `make test` unsets it) and the installed packages were
not byte-compiled (`make install` passes --no-compile), every such process would compile each module it imports
again: about half a second of CPU for pytest or the emulator.
"""

import sys
from pathlib import Path

import pytest

# uv, a development requirement (requirements-dev.txt), beside the Python running the tests: it makes the app's
# environment and builds the package's wheel.
UV = str(Path(sys.executable).parent / "uv")
# Every installed pytest plugin loads in an app's run; langsmith's (~0.7 s each) and anyio's (~0.3 s) play no part.
UNUSED_PLUGINS = "-p no:langsmith_plugin -p no:anyio"


def prepare(monkeypatch: pytest.MonkeyPatch) -> None:
    """For the rest of the test, the app's runs it starts load no unused plugin and cache their bytecode (the
    `pytester` fixture of tests/conftest.py calls it)."""
    monkeypatch.setenv("PYTEST_ADDOPTS", UNUSED_PLUGINS)
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
