"""The smoke gate's parts: GitHub's OIDC token for azure-identity, the report, the verdict, the summary's blocks."""

import stat

import pytest

from ci.github import SUMMARY_LIMIT, fenced
from ci.smoke_gate import GateError, federated_credential_env, gate_exit_code, parse_report, summary
from tests.fault_server import FaultServer, Reply

REQUEST_TOKEN = "request-token-0123456789abcdef"
ID_TOKEN = "eyJ.github-id-token.sig"


def actions_env(url: str) -> dict[str, str]:
    return {
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{url}/token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
        "ARM_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
        "ARM_TENANT_ID": "22222222-2222-2222-2222-222222222222",
    }


def test_github_oidc_token_becomes_a_workload_identity_file(tmp_path):
    with FaultServer(Reply(body={"value": ID_TOKEN})) as server:
        env = federated_credential_env(actions_env(server.url), tmp_path)
    (request,) = server.requests
    assert request.path == "/token"
    assert request.query == {"api-version": ["2.0"], "audience": ["api://AzureADTokenExchange"]}
    assert request.headers["authorization"] == f"Bearer {REQUEST_TOKEN}"
    token_file = tmp_path / "azure-federated-token"
    assert env == {
        "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
        "AZURE_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
        "AZURE_TENANT_ID": "22222222-2222-2222-2222-222222222222",
    }
    assert token_file.read_text() == ID_TOKEN
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_a_refused_token_names_the_missing_permission_and_not_the_token(tmp_path):
    with FaultServer(Reply(status=403, body={"message": "no"})) as server, pytest.raises(GateError) as refused:
        federated_credential_env(actions_env(server.url), tmp_path)
    assert "HTTP 403" in str(refused.value) and "id-token: write" in str(refused.value)
    assert REQUEST_TOKEN not in str(refused.value)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "environ",
    [
        {},  # a laptop: DefaultAzureCredential uses `az login`
        {"ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:9/x", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"},  # no ids
        {**actions_env("http://127.0.0.1:9"), "AZURE_FEDERATED_TOKEN_FILE": "/var/run/token"},  # already set
    ],
)
def test_no_token_is_fetched_outside_actions_or_when_one_is_configured(tmp_path, environ):
    assert federated_credential_env(environ, tmp_path) == {}
    assert not list(tmp_path.iterdir())


def test_the_report_is_the_smokes_json_line_or_says_there_was_none():
    line = '{"passed": true, "exitCode": 0, "message": "ok"}'
    assert parse_report(f"noise\n{line}\n", 0)["message"] == "ok"
    missing = parse_report("Traceback (most recent call last):\n", 1)
    assert missing == {"passed": False, "exitCode": 1, "message": "the smoke printed no JSON report (exit 1)"}


@pytest.mark.parametrize(
    "code,report,expected",
    [(0, {"passed": True}, 0), (0, {"passed": False}, 1), (0, {}, 1), (3, {"passed": False}, 3), (4, {}, 4)],
)
def test_the_gate_passes_only_on_exit_0_with_a_passed_report(code, report, expected):
    assert gate_exit_code(code, report) == expected


def test_summary_cells_cannot_break_the_table():
    text = summary("dev", {"message": "a | b", "stdout": "x|y\n", "attempts": 2}, 1)
    assert "a \\| b" in text and "| stdout | 'x\\|y\\n' |" in text and "| attempts | 2 |" in text


def test_fenced_survives_backticks_and_keeps_the_end_of_long_output():
    assert fenced("run ```this```").startswith("````\n")
    long = "x" * (SUMMARY_LIMIT + 10) + "\nerror: the verdict"
    block = fenced(long)
    assert block.endswith("error: the verdict\n```") and "characters cut" in block
    assert len(block) < SUMMARY_LIMIT + 100


def test_summary_names_verify_differences_and_exit_5():
    report = {
        "message": "Azure differs",
        "verified": False,
        "differences": [{"property": "egress", "message": "egress: declared off, Azure has EgressEnabled"}],
        "unknown": ["maxSessions: stack prod has no maxSessions output (deployed by an older version?)"],
    }
    text = summary("prod", report, 5)
    assert "Not compared:\n\n- maxSessions: stack prod has no maxSessions output" in text
    assert "(exit 5: Azure differs from what the stack declared (--verify))" in text
    assert "| verified | False |" in text and "- egress: declared off, Azure has EgressEnabled" in text


def test_the_gate_names_every_exit_code_the_smoke_documents():
    import re

    from ci.smoke_gate import VERDICTS
    from dynamic_sessions.smoke.__main__ import EPILOG

    assert set(VERDICTS) == {int(code) for code in re.findall(r"^  (\d)  ", EPILOG, re.MULTILINE)}
