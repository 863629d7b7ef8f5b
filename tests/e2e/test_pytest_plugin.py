"""The pytest plugin as an app's test suite meets it: a separate pytest run (pytester, in a subprocess)
that finds the fixture through the distribution's entry point, with and without pytest-xdist."""

import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


APP_TESTS = '''
import json
import os
from pathlib import Path

import pytest


def children(pid):
    """The emulator's session processes, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def record(pool, name, result):
    line = {
        "test": name,
        "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
        "endpoint": pool.endpoint,
        "type": pool.container_type,
        "pid": pool.pid,
        "sessions": children(pool.pid),
        "stdout": result.stdout,
    }
    with Path(os.environ["FIXTURE_REPORT"]).open("a") as report:
        report.write(json.dumps(line) + "\\n")


@pytest.mark.parametrize("n", range(4))
def test_node(dynamic_sessions_pool, dynamic_sessions_identifier, n):
    result = dynamic_sessions_pool.client.execute(f"console.log({n} * 2)", dynamic_sessions_identifier)
    record(dynamic_sessions_pool, f"node-{n}", result)
    assert result.succeeded and result.stdout == f"{n * 2}\\n"
    assert os.environ.get("POOL_MANAGEMENT_ENDPOINT") is None
    assert dynamic_sessions_pool.environ == {"POOL_MANAGEMENT_ENDPOINT": dynamic_sessions_pool.endpoint}


@pytest.mark.dynamic_sessions(container_type="PythonLTS")
@pytest.mark.parametrize("n", range(2))
def test_python(dynamic_sessions_pool, dynamic_sessions_identifier, n):
    result = dynamic_sessions_pool.client.execute(f"print({n} + 1)", dynamic_sessions_identifier)
    record(dynamic_sessions_pool, f"python-{n}", result)
    assert result.succeeded and result.stdout == f"{n + 1}\\n"
'''


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[pytest.RunResult, list[dict]]:
    report = pytester.path / "report.jsonl"
    monkeypatch.setenv("FIXTURE_REPORT", str(report))
    monkeypatch.delenv("POOL_MANAGEMENT_ENDPOINT", raising=False)
    pytester.makepyfile(test_app=APP_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=240)
    lines = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    return result, lines


def _running(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


def _assert_everything_stopped(lines: list[dict]) -> None:
    started = {line["pid"] for line in lines} | {pid for line in lines for pid in line["sessions"]}
    assert started, "the app's tests should have reported their emulators"
    assert {pid for pid in started if _running(pid)} == set()


def test_the_fixture_gives_one_pool_per_container_type_and_stops_them(pytester, monkeypatch):
    result, lines = _run(pytester, monkeypatch)
    result.assert_outcomes(passed=6)
    by_type = {kind: {line["endpoint"] for line in lines if line["type"] == kind} for kind in ("NodeLTS", "PythonLTS")}
    assert len(by_type["NodeLTS"]) == 1 and len(by_type["PythonLTS"]) == 1  # shared by the run
    assert by_type["NodeLTS"] != by_type["PythonLTS"]
    assert all(endpoint.startswith("http://127.0.0.1:") for kind in by_type.values() for endpoint in kind)
    assert all(line["sessions"] for line in lines), "each test's session ran under its emulator"
    _assert_everything_stopped(lines)


def test_under_xdist_each_worker_has_its_own_emulator(pytester, monkeypatch):
    result, lines = _run(pytester, monkeypatch, "-n", "2")
    result.assert_outcomes(passed=6)
    workers = {line["worker"] for line in lines}
    assert workers == {"gw0", "gw1"}
    for worker in workers:
        mine = {(line["type"], line["endpoint"]) for line in lines if line["worker"] == worker}
        theirs = {(line["type"], line["endpoint"]) for line in lines if line["worker"] != worker}
        assert len({endpoint for kind, endpoint in mine if kind == "NodeLTS"}) == 1
        assert not mine & theirs, "workers must not share an emulator"
    _assert_everything_stopped(lines)


SETTINGS_TESTS = """
import httpx
import pytest

released = []


@pytest.fixture(scope="session")
def my_pool(dynamic_sessions_pools):
    return dynamic_sessions_pools.get("NodeLTS")


def test_default_type_and_package_set(dynamic_sessions_pool, dynamic_sessions_identifier):
    assert dynamic_sessions_pool.container_type == "PythonLTS"
    result = dynamic_sessions_pool.client.execute("import greet; greet.hello()", dynamic_sessions_identifier)
    assert result.execution_result == "hello from the package set", result.stderr
    released.append((dynamic_sessions_pool, dynamic_sessions_identifier))


def test_the_identifiers_session_was_released(dynamic_sessions_pool):
    pool, identifier = released[0]
    assert pool is dynamic_sessions_pool
    answer = httpx.get(
        pool.endpoint + "/session",
        params={"api-version": "2025-10-02-preview", "identifier": identifier},
        headers={"Authorization": "Bearer " + pool.token()},
    )
    assert answer.status_code == 404, answer.text


def test_a_session_scoped_fixture_of_the_app(my_pool):
    assert my_pool.container_type == "NodeLTS"
    assert my_pool.client.execute("console.log(6 * 7)", "app-fixture").stdout == "42\\n"
"""


def test_settings_package_sets_tokens_and_released_identifiers(pytester):
    # Where every uid can pass: as root, sessions run as their own uid and must reach the package set.
    packages = Path(tempfile.mkdtemp(prefix="session-packages-"))
    packages.chmod(0o755)
    greet = packages / "greet"
    greet.mkdir(parents=True)
    (greet / "__init__.py").write_text("def hello():\n    return 'hello from the package set'\n")
    pytester.makeini(f"[pytest]\ndynamic_sessions_python_packages = {packages}\n")
    pytester.makepyfile(test_settings=SETTINGS_TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:randomly", "--dynamic-sessions-container-type", "PythonLTS", timeout=120
    )
    shutil.rmtree(packages, ignore_errors=True)
    result.assert_outcomes(passed=3)


def test_no_emulator_outlives_a_killed_test_run(pytester, monkeypatch):
    report = pytester.path / "report.jsonl"
    monkeypatch.setenv("FIXTURE_REPORT", str(report))
    pytester.makepyfile(
        test_crash=APP_TESTS
        + """

def test_the_run_is_killed(dynamic_sessions_pool, dynamic_sessions_identifier):
    result = dynamic_sessions_pool.client.execute("console.log('last words')", dynamic_sessions_identifier)
    record(dynamic_sessions_pool, "killed", result)
    os.kill(os.getpid(), 9)
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "killed", timeout=120)
    assert result.ret != 0
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert [line["stdout"] for line in lines] == ["last words\n"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _running(lines[0]["pid"]):
        time.sleep(0.1)
    _assert_everything_stopped(lines)


def test_an_emulator_that_cannot_start_is_reported_with_what_it_said(pytester):
    pytester.makeini("[pytest]\ndynamic_sessions_emulator_args = --max-sessions 0\n")
    pytester.makepyfile(test_broken="def test_uses_pool(dynamic_sessions_pool):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*emulator (NodeLTS) did not start*--max-sessions: must be at least 1, got 0*"])


def test_without_bubblewrap_the_fixture_says_why_once_and_its_suggestion_works_as_written(pytester, tmp_path):
    node = shutil.which("node")
    assert node is not None
    (tmp_path / "node").symlink_to(node)  # a PATH with Node.js but no bubblewrap
    pytester.makepyfile(
        test_two="def test_a(dynamic_sessions_pool):\n    pass\n\n\ndef test_b(dynamic_sessions_pool):\n"
        "    assert dynamic_sessions_pool.client.execute('console.log(1)', 'app-b').stdout == '1\\n'\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", str(tmp_path))
        refused = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
        refused.assert_outcomes(errors=2)
        output = refused.stdout.str()
        # Counted in the errors pytest prints, above its own summary (which repeats each error's first line in
        # full when $CI is set).
        errors = output.split("short test summary info", 1)[0]
        assert errors.count("bubblewrap (bwrap) is not installed") == 1
        assert "did not start; why is in the error of the first test that asked for it" in output
        # What it says to write in pytest.ini, as it says it.
        block = re.search(r"in pytest.ini:\nE +(\[pytest\])\nE +(dynamic_sessions_emulator_args = .*)\n", output)
        assert block is not None, output
        toml = re.search(r"under (\[tool.pytest.ini_options\]): (dynamic_sessions_emulator_args = \"[^\"]+\")", output)
        assert toml is not None, output
        # Each as written, in a folder of its own; the two runs at once, as neither depends on the other.
        written = {"pytest.ini": block.groups(), "pyproject.toml": toml.groups()}
        for name, lines in written.items():
            folder = pytester.mkdir(name.replace(".", "-"))
            shutil.copy(pytester.path / "test_two.py", folder)
            (folder / name).write_text("\n".join(lines) + "\n")
        for run in _run_at_once(pytester, [pytester.path / name.replace(".", "-") for name in written]):
            run.assert_outcomes(passed=2)


def _run_at_once(pytester: pytest.Pytester, folders: list[Path]) -> list[pytest.RunResult]:
    """`pytest` in each folder, all started before any is waited for; none is left running."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
    began = time.monotonic()
    started = []
    try:
        for folder in folders:
            with (folder / "stdout").open("w") as out, (folder / "stderr").open("w") as err:
                started.append((folder, pytester.popen(command, stdout=out, stderr=err, cwd=folder)))
        codes = [process.wait(120) for _, process in started]
    finally:
        for _, process in started:
            process.kill()
            process.wait()
    output = [((folder / "stdout").read_text(), (folder / "stderr").read_text()) for folder, _ in started]
    duration = time.monotonic() - began
    return [
        pytest.RunResult(code, out.splitlines(), err.splitlines(), duration)
        for code, (out, err) in zip(codes, output, strict=True)
    ]


def test_an_unknown_container_type_names_the_setting(pytester):
    pytester.makeini("[pytest]\ndynamic_sessions_container_type = RubyLTS\n")
    pytester.makepyfile(test_typo="def test_uses_pool(dynamic_sessions_pool):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    assert result.ret != 0
    output = "\n".join(result.stdout.lines + result.stderr.lines)
    assert "dynamic_sessions_container_type='RubyLTS'" in output and "PythonLTS" in output


def test_pytest_loads_the_plugin_through_the_distributions_entry_point(pytestconfig):
    from dynamic_sessions import pytest_plugin

    # Registered under the entry point's name, which only the pytest11 entry point gives it.
    assert pytestconfig.pluginmanager.get_plugin("dynamic_sessions") is pytest_plugin
    assert any(
        dist.metadata["Name"] == "dynamic-sessions" for _, dist in pytestconfig.pluginmanager.list_plugin_distinfo()
    )
