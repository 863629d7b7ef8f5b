"""PythonLTS's preloaded package set, as Azure's sessions come "with preloaded libraries": what LLM-written
code and public clients import, figures as images, useEmptyKernel, and the cache it is installed into."""

import base64
import concurrent.futures
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dynamic_sessions.emulator.sessions import packages, runtimes
from tests.emulator_process import Emulator, serving

LATEST = "2025-10-02-preview"
# The first run on a machine installs the set (about a minute here); later runs find it in the cache.
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def preloaded_pool(preloaded_packages: Path) -> Iterator[Emulator]:
    yield from serving("--container-type", "PythonLTS", "--max-sessions", "6")


def value(body: dict[str, Any]) -> Any:
    return body["result"]["executionResult"]


def test_llm_style_analysis_imports_the_set_and_a_figure_comes_back_as_an_image(preloaded_pool: Emulator) -> None:
    code = (
        "import numpy as np, pandas as pd, scipy.stats, sklearn.linear_model, sympy, requests, openpyxl\n"
        "import matplotlib.pyplot as plt\n"
        "frame = pd.DataFrame({'x': np.arange(10), 'y': np.arange(10) ** 2})\n"
        "print(frame['y'].sum(), round(scipy.stats.pearsonr(frame.x, frame.y)[0], 3), sympy.sqrt(8))\n"
        "fig, ax = plt.subplots()\n"
        "ax.plot(frame.x, frame.y)\n"
        "ax.set_title('squares')\n"
        "plt.show()"
    )
    # The tutorial's contract, where public clients save `result` images to disk.
    response = preloaded_pool.http.post(
        "/code/execute",
        params={"api-version": "2024-02-02-preview", "identifier": "analysis"},
        json={"properties": {"codeInputType": "inline", "executionType": "synchronous", "code": code}},
        timeout=120,
    )
    properties = response.json()["properties"]
    assert properties["status"] == "Success", properties
    assert (properties["stdout"], properties["stderr"]) == ("285 0.963 2*sqrt(2)\n", "")
    image = properties["result"]
    assert (image["type"], image["format"]) == ("image", "png")
    png = base64.b64decode(image["base64_data"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000  # a drawn figure, not an empty canvas
    # The figure was shown, so the next cell starts without it, as a notebook's inline backend does.
    assert value(preloaded_pool.execute("import matplotlib.pyplot as plt; plt.get_fignums()", "analysis")) == []
    # A cell that fails halfway through a figure leaves nothing for the next one.
    failed = preloaded_pool.execute("plt.plot([1, 2]); 1 / 0", "analysis")
    assert failed["status"] == "Failed" and "ZeroDivisionError" in failed["result"]["stderr"]
    assert value(preloaded_pool.execute("plt.get_fignums()", "analysis")) == []


def test_the_jupyter_format_carries_the_figure_and_the_value(preloaded_pool: Emulator) -> None:
    code = "import matplotlib.pyplot as plt\nplt.bar(['a', 'b'], [1, 2])\n6 * 7"
    outputs = value(
        preloaded_pool.execute(code, "jupyter", returnJupyterFormatExecutionResult=True, timeoutInSeconds=60)
    )
    assert [o["output_type"] for o in outputs] == ["execute_result", "display_data"]
    assert outputs[0]["data"] == {"text/plain": "42"}
    assert base64.b64decode(outputs[1]["data"]["image/png"]).startswith(b"\x89PNG")


def test_a_public_clients_first_call_lists_packages_with_pkg_resources(preloaded_pool: Emulator) -> None:
    # Microsoft's sample "List Pre-installed Python Packages", which one public client runs first.
    listed = preloaded_pool.execute(
        "import pkg_resources\n[(d.project_name, d.version) for d in pkg_resources.working_set]", "listing"
    )
    assert listed["status"] == "Succeeded", listed
    assert "pkg_resources is deprecated" in listed["result"]["stderr"]
    names = {name.lower() for name, _ in value(listed)}
    assert {"numpy", "pandas", "matplotlib", "scipy", "scikit-learn", "requests", "openpyxl", "setuptools"} <= names
    metadata = preloaded_pool.http.get("/metadata", params={"api-version": LATEST}).json()
    versions = {p["name"].lower(): p["version"] for p in metadata["preInstalledPackages"]}
    numpy_version = value(preloaded_pool.execute("import numpy; numpy.__version__", "listing"))
    assert versions["numpy"] == numpy_version and "pandas" in versions


def test_use_empty_kernel_is_the_bare_interpreter_with_state_of_its_own(preloaded_pool: Emulator) -> None:
    ident = "two-kernels"
    assert preloaded_pool.execute("import numpy\nkept = 'preloaded'", ident)["status"] == "Succeeded"
    bare = preloaded_pool.execute("import numpy", ident, useEmptyKernel=True)
    assert bare["status"] == "Failed"
    assert bare["result"]["stderr"].endswith("ModuleNotFoundError: No module named 'numpy'\n"), bare
    assert value(preloaded_pool.execute("'kept' in globals()", ident, useEmptyKernel=True)) is False
    assert preloaded_pool.execute("empty_only = 1", ident, useEmptyKernel=True)["status"] == "Succeeded"
    assert value(preloaded_pool.execute("empty_only", ident, useEmptyKernel=True)) == 1
    assert value(preloaded_pool.execute("[kept, 'empty_only' in globals()]", ident)) == ["preloaded", False]


def test_the_set_is_read_only_in_sessions(preloaded_pool: Emulator, preloaded_packages: Path) -> None:
    target = preloaded_packages / "numpy" / "planted.py"
    attempt = preloaded_pool.execute(f"open({str(target)!r}, 'w').write('x')", "writer")
    assert attempt["status"] == "Failed"
    assert "Read-only file system" in attempt["result"]["stderr"] or "Permission" in attempt["result"]["stderr"]
    assert not target.exists()
    path = value(preloaded_pool.execute("import sys; sys.path[:2]", "writer"))
    assert path == ["/mnt/data", str(preloaded_packages)]


def test_a_cached_set_is_used_offline_and_a_new_set_gets_a_folder_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = packages.cache_folder("3.11.2", tmp_path)
    folder.mkdir()

    def no_install(*_: Any) -> None:
        raise AssertionError("a cached set must not be installed again")

    monkeypatch.setattr(packages, "_install", no_install)
    assert packages.provisioned("3.11.9", "/usr/bin/python3", tmp_path) == folder  # same minor version, same set
    assert packages.cache_folder("3.12.1", tmp_path) != folder
    monkeypatch.setattr(packages, "PRELOADED", (*packages.PRELOADED, "tqdm>=4,<5"))
    assert packages.cache_folder("3.11.2", tmp_path) != folder


def test_the_cache_lives_under_the_users_cache_or_var_cache_for_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere/cache")
    assert packages.cache_root() == Path("/somewhere/cache/dynamic-sessions")
    monkeypatch.delenv("XDG_CACHE_HOME")
    expected = Path("/var/cache/dynamic-sessions") if os.geteuid() == 0 else Path.home() / ".cache/dynamic-sessions"
    assert packages.cache_root() == expected


def test_installing_shows_pips_progress_into_a_folder_named_for_the_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(packages, "PRELOADED", ("six>=1.16,<2",))
    folder = packages.provisioned("3.11.2", "/usr/bin/python3", tmp_path)
    assert folder == packages.cache_folder("3.11.2", tmp_path) and (folder / "six.py").is_file()
    assert "Successfully installed six" in capfd.readouterr().err  # pip's own report, on stderr
    assert [p.name for p in tmp_path.iterdir() if ".partial-" in p.name] == []


def test_emulators_starting_together_install_the_set_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    installs = []

    def slow_install(folder: Path, *_: Any) -> None:
        installs.append(folder)
        time.sleep(0.3)
        folder.mkdir()

    monkeypatch.setattr(packages, "_install", slow_install)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        found = set(pool.map(lambda _: packages.provisioned("3.11.2", "/usr/bin/python3", tmp_path), range(4)))
    assert len(installs) == 1 and found == {installs[0]}


def test_a_node_pool_never_installs_the_python_set(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any) -> Path:
        raise AssertionError("NodeLTS must not provision Python packages")

    monkeypatch.setattr(packages, "provisioned", refuse)
    assert runtimes.make_runtime("NodeLTS").container_type == "NodeLTS"


def test_a_cache_the_user_cannot_create_stops_the_start_with_what_to_do_instead(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    env = {**os.environ, "XDG_CACHE_HOME": str(blocked / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "dynamic_sessions.emulator", "--container-type", "PythonLTS", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()  # one line, no traceback
    assert line.startswith(f"emulator: the preloaded package set's cache cannot be created at {blocked / 'cache'}")
    assert "XDG_CACHE_HOME" in line and "--python-packages none" in line
