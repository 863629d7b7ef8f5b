"""`make bench-tests` (bench/test_suite.py) as it is run: from make, whose flags must not reach the `make test`
it times, or that run would print none of the commands its phases are found by."""

import subprocess

from bench.test_suite import fresh_make_env


def test_the_timed_make_echoes_its_commands_when_the_bench_itself_runs_under_make_s(monkeypatch, tmp_path):
    (tmp_path / "Makefile").write_text("test:\n\techo phase-one\n")
    for name, value in {"MAKEFLAGS": "s", "MFLAGS": "-s", "MAKELEVEL": "1", "MAKEOVERRIDES": ""}.items():
        monkeypatch.setenv(name, value)  # as `make -s bench-tests` hands them to bench/test_suite.py
    silent = subprocess.run(["make", "test"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert silent.stdout == "phase-one\n"  # the command is not echoed: the bench would find no phase
    echoed = subprocess.run(
        ["make", "test"], cwd=tmp_path, env=fresh_make_env(), capture_output=True, text=True, check=True
    )
    assert echoed.stdout == "echo phase-one\nphase-one\n"
