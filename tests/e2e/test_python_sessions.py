"""PythonLTS sessions: the emulator as a real process, real Python interpreters under bubblewrap."""

import base64
import concurrent.futures
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from dynamic_sessions.emulator.sessions import runtimes
from tests.conditions import until
from tests.emulator_process import ROOT, descendants, serving

LATEST = "2025-10-02-preview"
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


# The interpreter's own behaviour is tested on the standard library alone; the preloaded set has its own
# module (test_python_preloaded.py), so these tests never wait for it to be installed.
BARE = ("--container-type", "PythonLTS", "--python-packages", "none")


@pytest.fixture(scope="module")
def python_pool():
    yield from serving(*BARE, "--max-sessions", "20")


@pytest.fixture
def launch_flags():
    return BARE


def value(body: dict) -> Any:
    return body["result"]["executionResult"]


def test_state_persists_per_identifier_and_never_leaks(python_pool):
    assert python_pool.execute("counter = 41\ndef bump(n):\n    return n + 1", "py-state-a")["status"] == "Succeeded"
    assert value(python_pool.execute("bump(counter)", "py-state-a")) == 42
    other = python_pool.execute("'counter' in globals()", "py-state-b")
    assert value(other) is False


def test_stdout_stderr_and_the_last_expression(python_pool):
    body = python_pool.execute("import sys\nprint('out')\nprint('err', file=sys.stderr)\n{'a': [1, 2.5, None]}")
    assert body["status"] == "Succeeded"
    assert (body["result"]["stdout"], body["result"]["stderr"]) == ("out\n", "err\n")
    assert value(body) == {"a": [1, 2.5, None]}
    assert value(python_pool.execute("x = 3")) == ""  # an assignment shows nothing, as in a notebook
    assert value(python_pool.execute("None")) == ""
    assert value(python_pool.execute("print('only output')")) == ""
    assert value(python_pool.execute("{3, 1, 2}")) == "{1, 2, 3}"  # not JSON: its repr, as Jupyter's text/plain
    assert value(python_pool.execute("'text'")) == "text"
    assert value(python_pool.execute("_")) == "text"  # the last result, as in a notebook
    assert value(python_pool.execute("import sys; sys.stdout.buffer.write(b'raw\\n')"))  # the byte count
    assert python_pool.execute("import sys; sys.stdout.buffer.write(b'raw\\n')")["result"]["stdout"] == "raw\n"


def test_an_object_with_a_png_representation_is_an_image_result(python_pool):
    code = "class Chart:\n    def _repr_png_(self):\n        return b'\\x89PNG fake'\nChart()"
    assert value(python_pool.execute(code)) == {
        "type": "image",
        "format": "png",
        "base64_data": base64.b64encode(b"\x89PNG fake").decode(),
    }


def test_the_tutorials_contract_answers_with_pythons_result_field(python_pool):
    response = python_pool.http.post(
        "/code/execute",
        params={"api-version": "2024-02-02-preview", "identifier": "py-legacy"},
        json={"properties": {"codeInputType": "inline", "executionType": "synchronous", "code": "6 * 7"}},
    )
    properties = response.json()["properties"]
    assert set(properties) == {"status", "stdout", "stderr", "result", "executionTimeInMilliseconds"}
    assert (properties["status"], properties["result"]) == ("Success", 42)


def test_exceptions_are_failed_executions_with_the_traceback_on_stderr(python_pool):
    python_pool.execute("def divide(a, b):\n    return a / b", "py-errors")
    failed = python_pool.execute("divide(1, 0)", "py-errors")
    assert failed["status"] == "Failed"
    stderr = failed["result"]["stderr"]
    assert stderr.startswith("Traceback (most recent call last):")
    assert "divide(1, 0)" in stderr and "return a / b" in stderr  # the cells' own lines
    assert stderr.endswith("ZeroDivisionError: division by zero\n")
    assert "kernel.py" not in stderr
    assert failed["error"]["error"]["message"] == "ZeroDivisionError: division by zero"
    syntax = python_pool.execute("def broken(:", "py-errors")
    assert syntax["status"] == "Failed" and "SyntaxError" in syntax["result"]["stderr"]
    exited = python_pool.execute("import sys; sys.exit(3)", "py-errors")
    assert exited["status"] == "Failed" and "SystemExit: 3" in exited["result"]["stderr"]
    quitted = python_pool.execute("exit()", "py-errors")
    assert quitted["status"] == "Failed" and "SystemExit" in quitted["result"]["stderr"]
    assert python_pool.execute("divide(4, 2)", "py-errors")["result"]["executionResult"] == 2.0  # it survived


def test_help_works_as_with_site(python_pool):
    body = python_pool.execute("help(len)", "py-help")
    assert body["status"] == "Succeeded" and "len(obj, /)" in body["result"]["stdout"]


def test_top_level_await(python_pool):
    body = python_pool.execute("import asyncio\nawait asyncio.sleep(0.01)\nawait asyncio.sleep(0, 'awaited')")
    assert body["status"] == "Succeeded" and value(body) == "awaited"


def test_a_runaway_loop_times_out_while_other_sessions_answer(python_pool):
    python_pool.execute("kept = 'state'", "py-runaway")
    python_pool.execute("1", "py-neighbour")
    with concurrent.futures.ThreadPoolExecutor(1) as threads:
        loop = threads.submit(python_pool.execute, "while True: pass", "py-runaway", timeoutInSeconds=2)
        time.sleep(0.2)  # a head start: the loop is running before the neighbour calls
        answers = [value(python_pool.execute("0 * 2", "py-neighbour"))]
        # Answered while the loop runs: a neighbour held up by it would be answered only once it timed out.
        still_running = not loop.done()
        answers += [value(python_pool.execute(f"{i} * 2", "py-neighbour")) for i in range(1, 20)]
        looped = loop.result()
    assert still_running, "the neighbour's call should be answered while the loop is still running"
    assert answers == [i * 2 for i in range(20)]
    assert looped["status"] == "Failed"
    assert looped["result"]["stderr"].endswith("TimeoutError: Execution timed out after 2 s\n")
    assert 1900 <= looped["result"]["executionTimeInMilliseconds"] < 6000
    assert value(python_pool.execute("kept", "py-runaway")) == "state"  # interrupted, not killed


def test_a_result_whose_repr_never_returns_times_out_too(python_pool):
    looping = "class Endless:\n    def __repr__(self):\n        while True: pass\nEndless()"
    body = python_pool.execute(looping, "py-repr", timeoutInSeconds=1)
    assert body["status"] == "Failed" and "TimeoutError: Execution timed out after 1 s" in body["result"]["stderr"]
    assert value(python_pool.execute("'still here'", "py-repr")) == "still here"


def test_code_that_swallows_the_interrupt_is_stopped_and_replaced(python_pool):
    python_pool.execute("kept = 'state'", "py-stubborn")
    stubborn = "import time\nwhile True:\n    try:\n        time.sleep(60)\n    except BaseException:\n        pass"
    stopped = python_pool.execute(stubborn, "py-stubborn", timeoutInSeconds=1)
    assert stopped["status"] == "Failed" and "the session was stopped" in stopped["result"]["stderr"]
    fresh = python_pool.execute("'kept' in globals()", "py-stubborn")
    assert fresh["status"] == "Succeeded" and value(fresh) is False


def test_a_runaway_allocation_is_a_memory_error_in_that_session_only(python_pool):
    python_pool.execute("kept = 'state'", "py-hungry")
    hungry = python_pool.execute("block = bytearray(600 * 1024 * 1024)", "py-hungry")
    assert hungry["status"] == "Failed" and hungry["result"]["stderr"].endswith("MemoryError\n")
    assert value(python_pool.execute("small = bytearray(100 * 1024 * 1024); [kept, len(small)]", "py-hungry")) == [
        "state",
        100 * 1024 * 1024,
    ]


def test_code_blocking_inside_c_is_stopped_and_replaced(python_pool):
    python_pool.execute("kept = 'state'", "py-blocking")
    stopped = python_pool.execute("sum(range(10**12))", "py-blocking", timeoutInSeconds=1)  # no signal check inside
    assert stopped["status"] == "Failed" and "the session was stopped" in stopped["result"]["stderr"]
    assert 1000 <= stopped["result"]["executionTimeInMilliseconds"] < 10000
    assert value(python_pool.execute("'kept' in globals()", "py-blocking")) is False


def test_the_system_python_comes_first_then_the_emulators_own(monkeypatch, tmp_path):
    system = tmp_path / "python3"
    system.symlink_to(sys.executable)
    monkeypatch.setattr(runtimes, "SYSTEM_PYTHON", str(system))
    assert runtimes.default_python() == str(system)
    monkeypatch.setattr(runtimes, "SYSTEM_PYTHON", str(tmp_path / "missing"))
    assert runtimes.default_python() == str(Path(sys.executable).resolve())  # never the venv's own link


def test_files_are_at_mnt_data_which_is_the_working_folder(python_pool):
    params = {"api-version": LATEST, "identifier": "py-files"}
    python_pool.http.post("/files", params=params, files={"file": ("data.csv", b"a,b\n1,2\n")})
    python_pool.http.post("/files", params=params, files={"file": ("helper.py", b"def twice(x):\n    return 2 * x\n")})
    code = (
        "import csv, os\n"
        "rows = list(csv.reader(open('/mnt/data/data.csv')))\n"
        "open('out.txt', 'w').write(str(rows))\n"
        "from helper import twice\n"
        "[os.getcwd(), twice(21)]"
    )
    body = python_pool.execute(code, "py-files")
    assert value(body) == ["/mnt/data", 42], body["result"]["stderr"]
    assert python_pool.http.get("/files/out.txt/content", params=params).content == b"[['a', 'b'], ['1', '2']]"
    names = {f["name"] for f in python_pool.http.get("/files", params=params).json()["value"]}
    assert names == {"data.csv", "helper.py", "out.txt"}  # no __pycache__ or other leftovers


def test_sessions_see_the_standard_library_only(python_pool):
    body = python_pool.execute("import sys\n[sys.flags.isolated, sys.flags.no_site, 'site' in sys.modules]")
    assert value(body) == [1, 1, False]
    for module in ("httpx", "starlette", "pytest", "dynamic_sessions"):
        missing = python_pool.execute(f"import {module}")
        assert missing["result"]["stderr"].endswith(f"ModuleNotFoundError: No module named '{module}'\n"), module
    assert value(python_pool.execute("import json, sqlite3, decimal; 'ok'")) == "ok"


@needs_bwrap
def test_session_code_cannot_read_the_hosts_files_or_the_emulators(python_pool):
    for path in (str(ROOT), os.path.expanduser("~"), "/work", sys.prefix):
        body = python_pool.execute(f"import os; os.listdir({path!r})", "py-prying")
        assert body["status"] == "Failed" and "FileNotFoundError" in body["result"]["stderr"], path
    assert value(python_pool.execute("import os; os.listdir('/opt/emulator')", "py-prying")) == ["kernel.py"]
    assert value(python_pool.execute("os.listdir('/tmp')", "py-prying")) == []
    seen = value(python_pool.execute("import os; sorted(os.environ)", "py-prying"))
    assert set(seen) <= {"HOME", "PATH", "PWD", "LC_CTYPE"}, seen  # nothing of the emulator's environment
    write = python_pool.execute("open('/usr/evil', 'w')", "py-prying")
    assert write["status"] == "Failed" and (
        "Read-only" in write["result"]["stderr"] or "Permission" in write["result"]["stderr"]
    )


def test_metadata_reports_the_python_runtime(python_pool):
    metadata = python_pool.http.get("/metadata", params={"api-version": LATEST}).json()
    assert metadata["runtimes"][0]["name"] == "python"
    version = value(python_pool.execute("import platform; platform.python_version()", "py-meta"))
    assert metadata["runtimes"][0]["version"] == version
    assert metadata["preInstalledPackages"] == []


@pytest.fixture
def open_folder():
    """A folder every uid can pass through, as the sessions' own uid (root mode) must reach what is bound."""
    folder = Path(tempfile.mkdtemp(prefix="python-sessions-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_package_set_is_importable_read_only_and_listed(launch, open_folder):
    packages = open_folder / "packages"
    (packages / "greet").mkdir(parents=True)
    (packages / "greet" / "__init__.py").write_text("def hello(name):\n    return f'hello, {name}'\n")
    (packages / "greet-1.2.3.dist-info").mkdir()
    (packages / "greet-1.2.3.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: greet\nVersion: 1.2.3\n")
    pool = launch("--python-packages", str(packages))
    assert value(pool.execute("import greet; greet.hello('pool')")) == "hello, pool"
    write = pool.execute(f"open({str(packages / 'greet' / 'evil.py')!r}, 'w')")
    assert write["status"] == "Failed"
    assert not (packages / "greet" / "evil.py").exists()
    metadata = pool.http.get("/metadata", params={"api-version": LATEST}).json()
    assert metadata["preInstalledPackages"] == [{"name": "greet", "version": "1.2.3"}]


def test_ready_python_sessions_are_handed_to_new_identifiers(launch):
    warm = launch("--ready-sessions", "1", "--max-sessions", "2")
    prestarted = descendants(warm.process.pid)
    assert prestarted
    assert value(warm.execute("21 * 2", "py-warm")) == 42
    session = warm.http.get("/session", params={"api-version": LATEST, "identifier": "py-warm"}).json()
    assert int(session["etag"].strip('"')) in prestarted


def test_stopping_the_emulator_ends_every_python_process(launch):
    doomed = launch("--ready-sessions", "1")
    doomed.execute("1", "py-a")
    doomed.execute("1", "py-b")
    children = descendants(doomed.process.pid)
    assert len(children) >= 3
    doomed.stop()
    until(lambda: not any(_running(c) for c in children), "every Python process of the stopped emulator ended")


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "zombie" not in status.lower()


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--python-packages", "/tmp"], "--python-packages need --container-type PythonLTS, not NodeLTS"),  # noqa: S108
        (["--container-type", "PythonLTS", "--python-packages", "/nonexistent"], "is not a folder"),
        (["--container-type", "PythonLTS", "--python", "/nonexistent/python3"], "--python /nonexistent/python3"),
        (["--container-type", "RubyLTS"], "invalid choice: 'RubyLTS'"),
        (["--tls-cert", "cert.pem"], "--tls-cert and --tls-key go together"),
    ],
)
def test_configuration_errors_name_the_setting(flags, message):
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "--port", "0", *flags], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and message in done.stderr, done.stderr


@needs_bwrap
def test_an_interpreter_outside_usr_runs_with_its_prefix_bound_read_only(launch, open_folder):
    # A copy of the system's Python (without its tests) in a folder outside /usr: it finds its prefix there.
    system = Path(runtimes.SYSTEM_PYTHON).resolve()
    prefix = open_folder / "python"
    (prefix / "bin").mkdir(parents=True)
    own = str(prefix / "bin" / system.name)
    shutil.copy2(system, own)
    library = f"python{platform.python_version_tuple()[0]}.{system.name.removeprefix('python3.')}"
    shutil.copytree(
        system.parent.parent / "lib" / library,
        prefix / "lib" / library,
        ignore=shutil.ignore_patterns("test", "__pycache__", "dist-packages", "site-packages"),
        symlinks=True,
    )
    version = subprocess.run([own, "-c", "import platform; print(platform.python_version())"], capture_output=True)
    pool = launch("--python", own)
    body = pool.execute(
        "import sys, platform\n[sys.executable, platform.python_version(), sys.prefix == sys.base_prefix]"
    )
    assert body["status"] == "Succeeded", body["result"]["stderr"]
    assert value(body) == [own, version.stdout.decode().strip(), True]
    missing = pool.execute("import pytest")  # the venv's packages stay out of reach
    assert missing["result"]["stderr"].endswith("ModuleNotFoundError: No module named 'pytest'\n")
    write = pool.execute(f"open({str(prefix / 'evil')!r}, 'w')")
    assert write["status"] == "Failed" and not (prefix / "evil").exists()
    metadata = pool.http.get("/metadata", params={"api-version": LATEST}).json()
    assert metadata["runtimes"] == [{"name": "python", "version": version.stdout.decode().strip()}]


@pytest.mark.skipif(os.geteuid() != 0, reason="root mode: sessions run as their own uid")
def test_as_root_an_interpreter_in_a_folder_closed_to_other_users_is_refused_by_name():
    own = str(Path(sys.executable).resolve())
    closed = next((p for p in reversed(Path(own).parents) if not os.stat(p).st_mode & 0o001), None)
    assert closed is not None, f"{own} is reachable by other users; this check needs a closed folder"
    started = subprocess.run(
        [sys.executable, "-m", "emulator", "--port", "0", *BARE, "--python", own],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 2
    assert own in started.stderr and f"{closed} is closed to other users" in started.stderr


@needs_bwrap
def test_egress_disabled_blocks_connections(python_pool):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    code = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {listener.getsockname()[1]}), timeout=2).close()\n"
        "    outcome = 'connected'\n"
        "except OSError as error:\n"
        "    outcome = type(error).__name__\n"
        "outcome"
    )
    try:
        assert value(python_pool.execute(code, "py-egress")) != "connected"
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()


def test_a_result_neither_json_nor_repr_can_show_is_named_and_the_session_lives_on(python_pool):
    identifier = "py-huge-int"
    before = python_pool.execute("kept = 'state'", identifier)
    assert before["status"] == "Succeeded"
    huge = python_pool.execute("10 ** 100000", identifier)  # past Python's 4300-digit limit for str()
    assert huge["status"] == "Succeeded"
    assert value(huge) == "<repr failed: ValueError>"
    assert value(python_pool.execute("kept", identifier)) == "state"  # the same process answered
