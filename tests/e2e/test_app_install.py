"""The README's "Use it from your app", done as an app's developer would: its install line into a fresh
virtual environment, then its snippets run there against the installed emulator.

The install line is pinned to this clone's HEAD commit through a `git+file://` URL in place of the hosted
repository's: what is installed is what that commit holds, as for a user.
"""

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app_runs import UV

ROOT = Path(__file__).resolve().parents[2]
SECTION = (ROOT / "README.md").read_text().split("## Use it from your app", 1)[1].split("\n## ", 1)[0]
HOSTED = "git+<repo-url>@<commit>"
# An empty authority (file:///) is refused by the packaging library of older pips: name the host.
LOCAL_URL = "git+file://localhost{root}@{commit}"


# pip as configured here, not as it is used: no version check, and no byte-compiling of what it installs
# (Python compiles what is imported; the same as `make install`'s --no-compile).
QUIET_PIP = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_COMPILE": "1"}


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", SECTION, re.DOTALL)


class App:
    """A fresh virtual environment of an app, with the README's install line run in it."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.bin = folder / "venv" / "bin"
        # uv's seeded environment: the same Python, with pip in it, as `python -m venv` makes (whose ensurepip
        # takes ~4 s of CPU to install pip); the README's line is then run with that pip, as a user would.
        self.run(UV, "venv", "--quiet", "--seed", "--python", sys.executable, str(folder / "venv"))
        self.python = str(self.bin / "python")
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        self.url = LOCAL_URL.format(root=ROOT, commit=commit)
        (line,) = [line for block in _blocks("sh") for line in block.splitlines() if line.startswith("pip install ")]
        assert HOSTED in line
        self.install_line = line.replace(HOSTED, self.url)
        self.run(*shlex.split(self.install_line))

    def run(self, *argv: str, **environ: str) -> subprocess.CompletedProcess[str]:
        """`argv` with the app's environment first on PATH, as after `source venv/bin/activate`."""
        env = {**self.environ(), **QUIET_PIP, **environ}
        env.pop("PYTHONPATH", None)
        done = subprocess.run(argv, cwd=self.folder, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"
        return done

    def environ(self) -> dict[str, str]:
        """The shell's, with the app's environment first on PATH. Its Python caches what it compiles, as by
        default: where the shell says not to (PYTHONDONTWRITEBYTECODE), each pip run would compile pip again."""
        env = {**os.environ, "PATH": f"{self.bin}:{os.environ['PATH']}"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> App:
    return App(tmp_path_factory.mktemp("app"))


@pytest.fixture(scope="module")
def pool(app: App) -> Iterator[str]:
    """The README's emulator command, as the app's shell would run it, on a free port instead of 8480."""
    (command,) = [line for block in _blocks("sh") for line in block.splitlines() if "dynamic-sessions-emulator" in line]
    argv = shlex.split(command.split("&", 1)[0].replace("--port 8480", "--port 0"))
    started = subprocess.Popen(
        argv, cwd=app.folder, env=app.environ(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert started.stdout is not None
    line = started.stdout.readline().strip()
    assert line.startswith("POOL_MANAGEMENT_ENDPOINT=http://127.0.0.1:"), line
    yield line.split("=", 1)[1]
    started.terminate()
    started.wait(15)


def test_the_install_line_brings_the_package_alone_and_both_console_scripts(app):
    done = app.run(
        app.python, "-c", "import dynamic_sessions, azure.identity, uvicorn; print(dynamic_sessions.__file__)"
    )
    assert done.stdout.strip().startswith(str(app.folder / "venv" / "lib"))
    assert (app.bin / "dynamic-sessions-emulator").exists() and (app.bin / "dynamic-sessions-smoke").exists()


def test_the_app_snippet_runs_against_the_installed_emulator(app, pool):
    (snippet, _) = _blocks("python")
    done = app.run(app.python, "-c", snippet, POOL_MANAGEMENT_ENDPOINT=pool)
    assert done.stdout == "True hello-world\n\n"


def test_the_fixture_snippet_passes_as_the_apps_own_test(app):
    (_, test) = _blocks("python")
    app.run(UV, "pip", "install", "--quiet", "--python", app.python, "pytest>=8,<10")  # however the app does
    (app.folder / "tests").mkdir()
    (app.folder / "tests" / "test_agent.py").write_text(test)
    done = app.run(app.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests")
    assert "1 passed" in done.stdout


def test_a_missing_extra_names_a_command_that_installs_it_as_written(app):
    code = (
        "import sys\nsys.modules['azure.identity'] = None  # as after an install without the client extra\n"
        "from dynamic_sessions.client import SessionsClient\n"
        "try:\n    SessionsClient('https://pool.example')\nexcept ImportError as error:\n    print(error)\n"
    )
    message = app.run(app.python, "-c", code).stdout.strip()
    command = message.split("install the 'client' extra: ", 1)[1]
    assert command == f'{app.python} -m pip install "dynamic-sessions[client] @ {app.url}"'
    app.run(*shlex.split(command))
    app.run(app.python, "-c", "import azure.identity")
