"""`python -m smoke` against scripted servers on loopback: verdicts, waits, exit codes, output."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dynamic_sessions.smoke.__main__ import main
from tests.fault_server import RELEASED, FaultServer, Reply, error, executions_ok, legacy_ok

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--backoff", "0.05"]


@pytest.fixture(autouse=True)
def no_ambient_endpoint(monkeypatch):
    monkeypatch.delenv("POOL_MANAGEMENT_ENDPOINT", raising=False)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code, out, _ = run(capsys, *argv, "--json")
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    return code, json.loads(lines[0])


@pytest.mark.parametrize(
    "version,reply",
    [("2024-02-02-preview", legacy_ok()), ("2025-10-02-preview", executions_ok())],
)
def test_hello_world_passes_in_both_contracts_and_releases_the_session(capsys, version, reply):
    with FaultServer(reply, RELEASED) as server:
        code, report = run_json(capsys, "--endpoint", server.url, "--api-version", version)
    assert code == 0 and report["passed"] and report["stdout"] == "hello-world\n"
    assert report["apiVersion"] == version and report["attempts"] == 1 and report["sessionReleased"] is True
    execute, release = server.requests
    identifier = execute.query["identifier"][0]
    assert identifier.startswith("smoke-") and len(identifier) >= 12
    assert (release.method, release.path) == ("DELETE", "/session")
    assert release.query["identifier"] == [identifier]
    assert release.query["api-version"][0] in ("2025-02-02-preview", "2025-10-02-preview")


def test_keep_session_skips_the_release(capsys):
    with FaultServer(legacy_ok()) as server:
        code, report = run_json(capsys, "--endpoint", server.url, "--keep-session")
    assert code == 0 and report["sessionReleased"] is None
    assert [r.method for r in server.requests] == ["POST"]


def test_human_summary_names_the_facts(capsys):
    with FaultServer(legacy_ok(), RELEASED) as server:
        code, out, _ = run(capsys, "--endpoint", server.url)
    assert code == 0
    assert out.startswith("PASS")
    for fact in ("endpoint", server.url, "2024-02-02-preview", "Success", "'hello-world\\n'", "5 ms", "attempts"):
        assert fact in out


@pytest.mark.parametrize(
    "reply,expected",
    [
        (legacy_ok(status="Failure", stdout=""), "the code failed on the pool (status Failure)"),
        (legacy_ok(stdout="hello world\n"), "stdout was 'hello world\\n'"),
        (Reply(body="<html><body>Bad gateway</body></html>"), "unreadable"),
        (Reply(body={"unexpected": True}), "unreadable"),
    ],
)
def test_a_wrong_answer_exits_1(capsys, reply, expected):
    with FaultServer(reply, RELEASED) as server:
        code, report = run_json(capsys, "--endpoint", server.url)
    assert code == 1 and not report["passed"]
    assert expected in report["message"]


def test_failed_status_in_the_executions_contract_exits_1(capsys):
    with FaultServer(executions_ok(status="Failed", stdout=""), RELEASED) as server:
        code, report = run_json(capsys, "--endpoint", server.url, "--api-version", "2025-02-02-preview")
    assert code == 1 and report["status"] == "Failed" and "Error: boom" in report["stderr"]


def test_401_right_after_deploy_is_waited_out(capsys):
    with FaultServer(error(401, "Unauthorized"), legacy_ok(), RELEASED) as server:
        code, report = run_json(capsys, "--endpoint", server.url, *FAST)
    assert code == 0 and report["attempts"] == 2


def test_403_several_times_then_success(capsys):
    script = [error(403, "Forbidden")] * 3 + [legacy_ok(), RELEASED]
    with FaultServer(*script) as server:
        code, report = run_json(capsys, "--endpoint", server.url, *FAST)
    assert code == 0 and report["attempts"] == 4
    assert len(server.executions()) == 4


def test_403_forever_exits_3_within_the_rbac_wait(capsys):
    with FaultServer(error(403, "Forbidden", "no role")) as server:
        code, report = run_json(capsys, "--endpoint", server.url, "--rbac-wait", "1", *FAST)
    assert code == 3
    assert "Azure ContainerApps Session Executor" in report["message"]
    assert "Container Apps SessionPools Contributor" in report["message"]
    assert "grantContributor=true" in report["message"]
    assert report["wallMs"] < 3000
    assert report["attempts"] == len(server.requests) >= 2
    assert report["sessionReleased"] is None


def test_rbac_wait_says_what_it_waits_for(capsys):
    with FaultServer(error(403, "Forbidden"), legacy_ok(), RELEASED) as server:
        code, _, err = run(capsys, "--endpoint", server.url, *FAST)
    assert code == 0
    assert "waiting for the role assignment to take effect (403 Forbidden)" in err


def test_429_retry_after_is_honoured(capsys):
    script = [error(429, "TooManyRequests", "pool full", headers={"Retry-After": "1"}), legacy_ok(), RELEASED]
    with FaultServer(*script) as server:
        code, report = run_json(capsys, "--endpoint", server.url, *FAST)
    assert code == 0 and report["attempts"] == 2
    first, second = server.executions()
    assert second.at - first.at >= 0.95


def test_404_pool_full_is_retried_like_429(capsys):
    script = [error(404, "NotFound", "The session pool is full"), legacy_ok(), RELEASED]
    with FaultServer(*script) as server:
        code, report = run_json(capsys, "--endpoint", server.url, *FAST)
    assert code == 0 and report["attempts"] == 2


def test_404_for_a_missing_route_is_not_taken_for_a_full_pool(capsys):
    with FaultServer(error(404, "NotFound", "The requested resource is not available")) as server:
        code, report = run_json(capsys, "--endpoint", server.url, *FAST)
    assert code == 2 and len(server.requests) == 1
    assert "not available" in report["message"]


def test_pool_exhausted_past_the_deadline_exits_4(capsys):
    with FaultServer(error(429, "TooManyRequests", headers={"Retry-After": "30"})) as server:
        code, report = run_json(capsys, "--endpoint", server.url, "--timeout", "2", *FAST)
    assert code == 4 and "exhausted" in report["message"]
    assert len(server.requests) == 1


def test_5xx_then_success(capsys):
    script = [error(500, "InternalServerError"), error(503, "ServiceUnavailable"), legacy_ok(), RELEASED]
    with FaultServer(*script) as server:
        code, report = run_json(capsys, "--endpoint", server.url, *FAST)
    assert code == 0 and report["attempts"] == 3


def test_dropped_connection_then_success(capsys):
    with FaultServer(Reply(drop=True), legacy_ok(), RELEASED) as server:
        code, report = run_json(capsys, "--endpoint", server.url, *FAST)
    assert code == 0 and report["attempts"] == 2


def test_a_refused_loopback_connection_fails_at_once_with_the_emulator_hint(capsys):
    with FaultServer() as server:
        url = server.url  # the port is free again once the server is gone
    port = url.rsplit(":", 1)[1]
    code, report = run_json(capsys, "--endpoint", url)  # the default deadline: 900 s
    assert code == 4 and report["attempts"] == 1
    assert f"nothing is listening at {url}" in report["message"]
    assert f"python -m emulator --port {port}" in report["message"]


def test_each_waiting_line_shows_the_time_left_before_the_deadline(capsys):
    script = [error(503, "ServiceUnavailable"), error(429, "TooManyRequests"), error(403, "Forbidden")]
    with FaultServer(*script, legacy_ok(), RELEASED) as server:
        code, _, err = run(capsys, "--endpoint", server.url, "--timeout", "300", *FAST)
    assert code == 0
    lines = err.strip().splitlines()
    assert len(lines) == 3
    assert all(re.search(r"; retrying in \d+\.\d s, (2\d\d|300) s left before the deadline$", line) for line in lines)


def test_read_timeout_exits_4_within_the_overall_timeout(capsys):
    with FaultServer(Reply(delay_s=5, body={})) as server:
        code, report = run_json(capsys, "--endpoint", server.url, "--timeout", "1", *FAST)
    assert code == 4 and "Timeout" in report["message"]
    assert report["wallMs"] < 3000


def test_request_refused_as_malformed_exits_2(capsys):
    with FaultServer(error(400, "InvalidRequest", "wrong shape")) as server:
        code, report = run_json(capsys, "--endpoint", server.url)
    assert code == 2 and "--api-version" in report["message"] and "wrong shape" in report["message"]


def test_unknown_api_version_exits_2_listing_the_supported(capsys):
    code, report = run_json(capsys, "--endpoint", "http://127.0.0.1:9", "--api-version", "2023-11-02-preview")
    assert code == 2
    assert "2024-02-02-preview, 2024-08-02-preview, 2024-10-02-preview, 2025-02-02-preview" in report["message"]


def test_a_plain_http_endpoint_off_this_machine_exits_2_before_any_request(capsys):
    code, report = run_json(capsys, "--endpoint", "http://pool.example.com")
    assert code == 2
    assert "'http://pool.example.com' uses plain http on a non-loopback host" in report["message"]


def test_trailing_slash_endpoint(capsys):
    with FaultServer(legacy_ok(), RELEASED) as server:
        code, report = run_json(capsys, "--endpoint", server.url + "/")
    assert code == 0 and report["endpoint"] == server.url
    assert server.requests[0].path == "/code/execute"


def test_endpoint_from_the_environment(capsys, monkeypatch):
    with FaultServer(legacy_ok(), RELEASED) as server:
        monkeypatch.setenv("POOL_MANAGEMENT_ENDPOINT", server.url)
        code, report = run_json(capsys)
    assert code == 0 and report["endpointSource"] == "$POOL_MANAGEMENT_ENDPOINT"


def test_no_endpoint_anywhere_exits_2_saying_where_it_looked(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    code, report = run_json(capsys)
    assert code == 2
    assert "--endpoint" in report["message"] and "$POOL_MANAGEMENT_ENDPOINT" in report["message"]
    assert "pulumi CLI is not on PATH" in report["message"]


def _stand_in_pulumi(folder: Path, outputs: dict | None, exit_code: int = 0, stderr: str = "") -> Path:
    """A `pulumi` executable that prints stack outputs and records its arguments."""
    script = folder / "pulumi"
    script.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import json, sys
            open({str(folder / "args.json")!r}, "w").write(json.dumps(sys.argv[1:]))
            sys.stderr.write({stderr!r})
            print(json.dumps({outputs!r}))
            sys.exit({exit_code})
            """
        )
    )
    script.chmod(0o755)
    return folder / "args.json"


def test_endpoint_from_pulumi_stack_output(capsys, monkeypatch, tmp_path):
    with FaultServer(legacy_ok(), RELEASED) as server:
        args_file = _stand_in_pulumi(tmp_path, {"poolManagementEndpoint": server.url + "/", "poolName": "p"})
        monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
        code, report = run_json(capsys, "--stack", "dev")
    assert code == 0 and report["endpoint"] == server.url
    assert json.loads(args_file.read_text()) == ["stack", "output", "--json", "--stack", "dev"]
    assert report["endpointSource"] == "stack dev"


def test_stack_without_the_output_exits_2(capsys, monkeypatch, tmp_path):
    _stand_in_pulumi(tmp_path, {"poolName": "p"})
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    code, report = run_json(capsys, "--stack", "dev")
    assert code == 2 and "has no output 'poolManagementEndpoint'" in report["message"]


def test_pulumi_failure_exits_2_with_its_message(capsys, monkeypatch, tmp_path):
    _stand_in_pulumi(tmp_path, None, exit_code=255, stderr="error: no stack named 'qa' found\n")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    code, report = run_json(capsys, "--stack", "qa")
    assert code == 2 and "no stack named 'qa' found" in report["message"]


@pytest.mark.parametrize("as_json", [True, False])
def test_the_token_never_appears_in_any_output(capsys, as_json):
    script = [error(401, "Unauthorized"), error(403, "Forbidden"), legacy_ok(status="Failure"), RELEASED]
    with FaultServer(*script) as server:
        code, out, err = run(capsys, "--endpoint", server.url, *FAST, *(["--json"] if as_json else []))
    assert code == 1
    tokens = {r.headers["authorization"].split(" ", 1)[1] for r in server.requests}
    assert tokens and all(len(t) > 20 for t in tokens)
    for token in tokens:
        assert token not in out and token not in err


def test_help_lists_exit_codes_and_loads_neither_azure_identity_nor_pulumi():
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "smoke", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in ("0  passed", "3  access not granted", "4  the pool is unreachable", "--rbac-wait", "--api-version"):
        assert line in done.stdout
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "smoke" in imported
    assert not {m for m in imported if m.startswith(("azure", "pulumi", "httpx"))}


def test_on_a_terminal_the_wait_is_one_live_line(tmp_path):
    import pty

    primary, secondary = pty.openpty()
    with FaultServer(error(403, "Forbidden"), error(403, "Forbidden"), legacy_ok(), RELEASED) as server:
        done = subprocess.run(
            [sys.executable, "-m", "smoke", "--endpoint", server.url, "--backoff", "0.05"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=secondary,
            text=True,
            timeout=60,
        )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(primary)
    terminal = b"".join(chunks).decode()
    assert done.returncode == 0
    assert terminal.count("\r\x1b[K") == 2  # the same line rewritten for each wait
    assert "waiting for the role assignment to take effect (403 Forbidden)" in terminal
    assert terminal.endswith("\n") and terminal.count("\n") == 1


def test_a_release_the_pool_does_not_know_is_reported_as_not_released(capsys):
    with FaultServer(legacy_ok(), error(404, "NotFound", "no such route")) as server:
        code, report = run_json(capsys, "--endpoint", server.url)
    assert code == 0 and report["sessionReleased"] is False


def test_stack_wins_over_the_environment_and_the_output_says_so(capsys, monkeypatch, tmp_path):
    with FaultServer(legacy_ok(), RELEASED) as wrong, FaultServer(legacy_ok(), RELEASED) as prod:
        _stand_in_pulumi(tmp_path, {"poolManagementEndpoint": prod.url})
        monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("POOL_MANAGEMENT_ENDPOINT", wrong.url)
        code, out, _ = run(capsys, "--stack", "prod")
    assert code == 0 and wrong.requests == [] and len(prod.requests) == 2
    assert f"{prod.url} (from stack prod)" in out


def test_endpoint_flag_wins_over_the_environment(capsys, monkeypatch):
    with FaultServer(legacy_ok(), RELEASED) as wrong, FaultServer(legacy_ok(), RELEASED) as chosen:
        monkeypatch.setenv("POOL_MANAGEMENT_ENDPOINT", wrong.url)
        code, report = run_json(capsys, "--endpoint", chosen.url)
    assert code == 0 and wrong.requests == [] and report["endpointSource"] == "--endpoint"


def test_endpoint_and_stack_together_are_refused_before_any_lookup(capsys, monkeypatch, tmp_path):
    args_file = _stand_in_pulumi(tmp_path, {"poolManagementEndpoint": "http://127.0.0.1:9"})
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    code, report = run_json(capsys, "--endpoint", "http://127.0.0.1:9", "--stack", "dev")
    assert code == 2 and "give only one of them" in report["message"]
    assert not args_file.exists()


def test_a_bad_api_version_is_reported_before_looking_for_an_endpoint(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi: the lookup would fail too
    code, report = run_json(capsys, "--api-version", "2023-01-01")
    assert code == 2
    assert report["message"].startswith("--api-version: api version '2023-01-01' is not supported")
    assert "no pool endpoint" not in report["message"]


@pytest.mark.parametrize(
    "flag,outputs,code_sent",
    [
        ([], {}, 'console.log("hello-world")'),
        (["--container-type", "PythonLTS"], {}, 'print("hello-world")'),
        ([], {"containerType": "PythonLTS"}, 'print("hello-world")'),
        (["--container-type", "NodeLTS"], {"containerType": "NodeLTS"}, 'console.log("hello-world")'),
    ],
)
def test_the_hello_world_is_the_pools_interpreters(capsys, monkeypatch, tmp_path, flag, outputs, code_sent):
    with FaultServer(legacy_ok(), RELEASED) as server:
        _stand_in_pulumi(tmp_path, {"poolManagementEndpoint": server.url, **outputs})
        monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
        code, report = run_json(capsys, "--stack", "dev", *flag)
    assert code == 0 and report["stdout"] == "hello-world\n"
    assert server.requests[0].json()["properties"]["code"] == code_sent
    assert report["containerType"] == ("PythonLTS" if "print" in code_sent else "NodeLTS")


def test_a_container_type_flag_that_disagrees_with_the_stack_is_refused(capsys, monkeypatch, tmp_path):
    with FaultServer(legacy_ok(), RELEASED) as server:
        _stand_in_pulumi(tmp_path, {"poolManagementEndpoint": server.url, "containerType": "NodeLTS"})
        monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
        code, report = run_json(capsys, "--stack", "dev", "--container-type", "PythonLTS")
    assert code == 2 and server.requests == []
    assert "--container-type PythonLTS disagrees with stack dev's containerType output NodeLTS" in report["message"]


def test_an_unknown_container_type_names_the_allowed_ones(capsys):
    code, report = run_json(capsys, "--endpoint", "http://127.0.0.1:9", "--container-type", "Ruby")
    assert (
        code == 2
        and report["message"] == "--container-type 'Ruby' is not supported; use one of: NodeLTS, PythonLTS, Shell"
    )


@pytest.mark.parametrize("as_json", [True, False])
def test_no_azure_credential_is_one_line_with_nothing_from_azure_identity_on_stderr(tmp_path, as_json):
    home = tmp_path / "home"
    home.mkdir()
    # An environment with no Azure sign-in of any kind: no variables, no CLI on PATH, an empty home.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "MSI_", "IDENTITY_", "IMDS_"))}
    env.update(HOME=str(home), PATH=os.path.dirname(sys.executable), POOL_MANAGEMENT_ENDPOINT="")
    done = subprocess.run(
        [sys.executable, "-m", "smoke", "--endpoint", "https://127.0.0.1:9", *(["--json"] if as_json else [])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 2
    assert done.stderr == ""
    message = json.loads(done.stdout)["message"] if as_json else done.stdout.splitlines()[0]
    assert "no Azure credential could get a token" in message
    assert "tried EnvironmentCredential" in message and "AzureCliCredential" in message


def test_endpoint_from_the_selected_stack_when_nothing_else_names_one(capsys, monkeypatch, tmp_path):
    with FaultServer(legacy_ok(), RELEASED) as server:
        args_file = _stand_in_pulumi(tmp_path, {"poolManagementEndpoint": server.url})
        monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
        code, report = run_json(capsys)
    assert code == 0 and report["endpointSource"] == "the selected stack"
    assert json.loads(args_file.read_text()) == ["stack", "output", "--json"]


def test_the_installed_console_script_is_the_same_check():
    script = Path(sys.executable).parent / "dynamic-sessions-smoke"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    assert "--container-type" in done.stdout and "3  access not granted" in done.stdout
    assert "usage: dynamic-sessions-smoke" in done.stdout


@pytest.mark.parametrize("flag", ["--rbac-wait", "--timeout", "--backoff"])
@pytest.mark.parametrize("value", ["nan", "inf", "1e400", "-1", "ten"])
def test_a_bad_number_of_seconds_names_the_flag_the_value_and_what_is_allowed(capsys, flag, value):
    with pytest.raises(SystemExit) as exited:
        main(["--endpoint", "http://127.0.0.1:9", flag, value])
    assert exited.value.code == 2
    assert f"argument {flag}: '{value}' is not allowed: a number of seconds, 0 or more" in capsys.readouterr().err


def test_a_bad_flag_under_json_is_still_one_json_object(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--json", "--timeout", "nan"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert exited.value.code == 2 and len(lines) == 1
    report = json.loads(lines[0])
    assert report["exitCode"] == 2 and report["passed"] is False
    assert "--timeout: 'nan' is not allowed" in report["message"]


@pytest.mark.parametrize("flag", ["--endpoint", "--stack"])
def test_an_empty_endpoint_or_stack_is_refused_rather_than_passed_over(capsys, monkeypatch, flag):
    monkeypatch.setenv("POOL_MANAGEMENT_ENDPOINT", "http://127.0.0.1:9")
    code, report = run_json(capsys, flag, "")
    assert code == 2 and report["message"].startswith(f"{flag} is empty; give the ")
    assert report["endpoint"] is None


@pytest.mark.parametrize("source", ["--endpoint", "$POOL_MANAGEMENT_ENDPOINT"])
def test_a_bad_endpoint_says_where_it_came_from_and_what_is_allowed(capsys, monkeypatch, source):
    argv = ["--endpoint", "ftp://pool"] if source == "--endpoint" else []
    monkeypatch.setenv("POOL_MANAGEMENT_ENDPOINT", "ftp://pool")
    code, report = run_json(capsys, *argv)
    assert code == 2
    assert report["message"].startswith(f"{source}: endpoint 'ftp://pool' is not an http(s) URL; allowed: ")


def _page_tables(page: str) -> list[str]:
    section = (ROOT / "docs" / page).read_text()
    return [line for line in section.splitlines() if line.startswith("|")]


def test_the_smoke_page_tables_match_the_flags_and_exit_codes_of_help():
    from dynamic_sessions.smoke.__main__ import EPILOG

    rows = _page_tables("smoke.md")
    flags_table, exits_table = rows[: rows.index("| exit | meaning |")], rows[rows.index("| exit | meaning |") :]
    documented_flags = {row.split("`")[1].split()[0] for row in flags_table if row.startswith("| `--")}
    done = subprocess.run([sys.executable, "-m", "smoke", "--help"], cwd=ROOT, capture_output=True, text=True)
    offered = set(re.findall(r"^  (--[a-z-]+)", done.stdout, re.MULTILINE)) - {"--help"}
    assert documented_flags == offered
    documented_exits = {row.split("|")[1].strip() for row in exits_table[2:]}
    assert documented_exits == set(re.findall(r"^  (\d)  ", EPILOG, re.MULTILINE)) == {"0", "1", "2", "3", "4", "5"}


def test_the_installed_smoke_names_the_installed_emulator_when_nothing_listens():
    script = Path(sys.executable).parent / "dynamic-sessions-smoke"
    done = subprocess.run([str(script), "--endpoint", "http://127.0.0.1:9", "--json"], capture_output=True, text=True)
    report = json.loads(done.stdout)
    assert done.returncode == 4
    assert report["message"].endswith("start the emulator there: dynamic-sessions-emulator --port 9")
