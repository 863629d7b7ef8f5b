"""What an app and a deployer install: the wheel's contents and extras, lazy imports, the program's runtime."""

import ast
import importlib.metadata
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from tests.app_runs import UV

ROOT = Path(__file__).resolve().parents[2]
NOT_SOURCES = shutil.ignore_patterns(".venv", "node_modules", ".git", "build", "dist", "*.egg-info", "__pycache__")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel the package's build backend makes from a copy of the whole repository, as for
    `pip install "dynamic-sessions[client] @ git+..."` (tests/e2e/test_app_install.py runs that line with pip).

    uv is the front end here: the same setuptools backend and the same files as `pip wheel` (compared file by
    file), in 1.2 s of CPU where pip, which makes its isolated build environment again each time, took 4.0 s."""
    work = tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, work / "src", ignore=NOT_SOURCES)
    subprocess.run(
        [
            UV,
            "build",
            "--quiet",
            "--wheel",
            "--out-dir",
            str(work / "out"),
            str(work / "src"),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = (work / "out").glob("dynamic_sessions-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_installs_only_the_namespaced_package(wheel):
    top_level = {name.split("/", 1)[0] for name in wheel.namelist()}
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"dynamic_sessions"}
    assert "dynamic_sessions/emulator/sessions/kernel.js" in wheel.namelist()


def test_the_client_extra_brings_only_what_an_app_needs_and_both_console_scripts_exist(wheel):
    info = next(name for name in wheel.namelist() if name.endswith(".dist-info/METADATA"))
    metadata = Parser().parsestr(wheel.read(info).decode())
    client = {
        req.split(";")[0].split(">")[0].split("<")[0].strip()
        for req in metadata.get_all("Requires-Dist") or []
        if 'extra == "client"' in req
    }
    assert client == {"httpx", "azure-identity", "tenacity"}
    assert not [req for req in metadata.get_all("Requires-Dist") or [] if "extra ==" not in req]
    scripts = wheel.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert "dynamic-sessions-smoke = dynamic_sessions.smoke.__main__:cli" in scripts
    assert "dynamic-sessions-emulator = dynamic_sessions.emulator.__main__:cli" in scripts


def _loaded_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint(' '.join(sys.modules))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return {name.split(".")[0] for name in done.stdout.split()}


def test_importing_the_client_package_loads_no_http_stack_until_a_name_is_used():
    heavy = {"httpx", "httpcore", "tenacity", "azure"}
    assert not heavy & _loaded_after("import dynamic_sessions.client")
    assert {"httpx", "tenacity"} <= _loaded_after("import dynamic_sessions.client as c\nc.SessionsClient")


def _third_party_imports(paths: list[Path]) -> set[str]:
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"components"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(path: Path) -> set[str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {_normal(re.split(r"[<>=!~\[; ]", line)[0]) for line in lines if line}


def test_requirements_txt_alone_runs_the_program_but_not_the_smoke():
    """`pulumi install` installs requirements.txt: enough for preview and up; the smoke needs the client extra."""
    distributions = importlib.metadata.packages_distributions()
    program = _third_party_imports([ROOT / "__main__.py", *sorted((ROOT / "components").glob("*.py"))])
    # The program reads the API versions from the package beside it (the project's root is on its path), and
    # that module imports the standard library alone.
    assert not _third_party_imports([ROOT / "dynamic_sessions" / "api_versions.py"])
    program -= {"dynamic_sessions"}
    needed = {_normal(dist) for module in program for dist in distributions[module]}
    runtime = _requirements(ROOT / "requirements.txt")
    assert needed and needed <= runtime
    smoke = _third_party_imports(sorted((ROOT / "dynamic_sessions" / "client").glob("*.py"))) - {"dynamic_sessions"}
    assert "httpx" in smoke and not {_normal(dist) for m in smoke for dist in distributions[m]} <= runtime
