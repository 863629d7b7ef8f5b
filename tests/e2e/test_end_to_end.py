"""`python -m smoke` as a user runs it, against `python -m emulator` as a user runs it."""

import json
import subprocess
import sys

import pytest

from tests.emulator_process import ROOT, Emulator

VERSIONS = [
    "2024-02-02-preview",
    "2024-08-02-preview",
    "2024-10-02-preview",
    "2025-02-02-preview",
    "2025-10-02-preview",
]


@pytest.fixture(scope="module")
def emulator_flags():
    return ()


def smoke(*args: str) -> tuple[int, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "smoke", "--json", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    return done.returncode, json.loads(done.stdout)


@pytest.mark.parametrize("version", VERSIONS)
def test_smoke_passes_against_the_emulator_and_releases_its_session(emulator, version):
    code, report = smoke("--endpoint", emulator.url, "--api-version", version)
    assert code == 0, report
    assert report["stdout"] == "hello-world\n" and report["sessionReleased"] is True
    listed = emulator.http.get("/listSessions", params={"api-version": "2025-10-02-preview"}).json()["sessions"]
    assert not [s for s in listed if s["identifier"].startswith("smoke-")]


def test_smoke_reports_a_missing_role_as_exit_3():
    guarded = Emulator("--allow-principal", "00000000-0000-0000-0000-00000000abcd")
    try:
        code, report = smoke("--endpoint", guarded.url, "--rbac-wait", "1", "--backoff", "0.1")
    finally:
        guarded.stop()
    assert code == 3 and "Session Executor" in report["message"]


def test_the_clients_session_and_file_operations_against_the_emulator(emulator):
    from dynamic_sessions.client import SessionsClient

    with SessionsClient(emulator.url, api_version="2025-10-02-preview") as pool:
        pool.execute("1", identifier="e2e-ops")
        pool.upload_file("e2e-ops", "notes.txt", b"hello")
        found = pool.get_session("e2e-ops")
        listed = {s.identifier for s in pool.list_sessions()}
        deleted, deleted_again = pool.delete_file("e2e-ops", "notes.txt"), pool.delete_file("e2e-ops", "notes.txt")
        remaining = pool.list_files("e2e-ops")
        released = pool.release("e2e-ops")
        after = pool.get_session("e2e-ops")
    assert found is not None and found.identifier == "e2e-ops" and found.expire_at
    assert "e2e-ops" in listed
    assert (deleted, deleted_again, remaining) == (True, False, [])
    assert released is True and after is None


@pytest.mark.parametrize("version", ["2024-02-02-preview", "2025-10-02-preview"])
def test_smoke_of_a_python_pool_runs_pythons_hello_world(version):
    python_pool = Emulator("--container-type", "PythonLTS")
    try:
        code, report = smoke("--endpoint", python_pool.url, "--container-type", "PythonLTS", "--api-version", version)
        wrong_code, wrong = smoke("--endpoint", python_pool.url, "--api-version", version)  # NodeLTS's hello-world
    finally:
        python_pool.stop()
    assert code == 0, report
    assert report["containerType"] == "PythonLTS" and report["stdout"] == "hello-world\n"
    assert wrong_code == 1 and wrong["passed"] is False  # console.log is no Python: the pool answers, wrongly
