"""`python -m ci` as the workflows run it: a real subprocess, a stand-in `pulumi` on PATH, GitHub's files in tmp."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.emulator_process import Emulator
from tests.fault_server import RELEASED, FaultServer, error, legacy_ok
from tests.pulumi_stand_in import StandInPulumi

ROOT = Path(__file__).resolve().parents[2]
FAST_SMOKE = ["--", "--backoff", "0.05"]


class Runner:
    """Runs `python -m ci` against a copy of the project, as a GitHub job would, and reads back what it wrote."""

    def __init__(self, tmp_path: Path):
        self.project = tmp_path / "project"
        self.project.mkdir()
        for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
            shutil.copy(ROOT / name, self.project / name)
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.summary_file = tmp_path / "summary.md"
        self.output_file = tmp_path / "output.txt"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ACTIONS_", "PULUMI_"))}
        self.env.pop("POOL_MANAGEMENT_ENDPOINT", None)
        self.env.update(
            PATH=f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            GITHUB_STEP_SUMMARY=str(self.summary_file),
            GITHUB_OUTPUT=str(self.output_file),
        )

    def pulumi(self, stacks=None, **replies) -> StandInPulumi:
        return StandInPulumi(self.bin, stacks, **replies)

    def __call__(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ci", "--project-dir", str(self.project), *argv],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )

    @property
    def summary(self) -> str:
        return self.summary_file.read_text() if self.summary_file.exists() else ""

    @property
    def outputs(self) -> dict[str, str]:
        lines = self.output_file.read_text().splitlines() if self.output_file.exists() else []
        return dict(line.split("=", 1) for line in lines)


@pytest.fixture
def ci(tmp_path) -> Runner:
    return Runner(tmp_path)


def test_stacks_lists_the_committed_stack_files_as_a_step_output(ci):
    (ci.project / "Pulumi.qa.yaml").write_text("config: {}\n")
    (ci.project / "Pulumi.pr-12.yaml").write_text("config: {}\n")  # a review stack left over on a laptop
    done = ci("stacks")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["dev", "prod", "qa"]
    assert json.loads(ci.outputs["stacks"]) == ["dev", "prod", "qa"]


def test_the_repository_commits_dev_and_prod(ci):
    done = subprocess.run([sys.executable, "-m", "ci", "stacks"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == ["dev", "prod"]


def test_stacks_needs_only_the_standard_library():
    """The workflows list stacks with the runner's own python3, before anything is installed."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ci", "stacks"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "ci.stacks" in imported
    assert not {m for m in imported if m.split(".")[0] in ("yaml", "httpx", "pulumi", "dynamic_sessions")}


def test_a_stack_without_a_file_is_a_usage_error_naming_what_is_allowed(ci):
    ci.pulumi()
    done = ci("up", "--stack", "staging")
    assert done.returncode == 2
    assert "--stack 'staging' has no Pulumi.staging.yaml" in done.stderr and "dev, prod" in done.stderr


def test_up_creates_a_missing_stack_records_the_ci_deployer_and_reports_success(ci):
    pulumi = ci.pulumi(stacks={})
    done = ci("up", "--stack", "dev", "--deployer-principal-type", "ServicePrincipal")
    assert done.returncode == 0, done.stderr
    assert pulumi.commands() == ["stack select", "config set", "up"]
    select, _, up = pulumi.calls
    assert "--create" in select and up[:3] == ["up", "--stack", "dev"] and "--yes" in up
    assert pulumi.stacks["dev"]["config"] == {"dynamic-sessions:deployerPrincipalType": "ServicePrincipal"}
    assert "`dev`: `pulumi up` succeeded" in ci.summary
    assert ci.outputs["exists"] == "true"


def test_a_failed_up_fails_the_step_with_the_error_in_the_summary(ci):
    output = (
        "Updating (dev)\n  azure-native:app:SessionPool pool creating\nerror: SessionPoolQuotaExceeded: quota reached\n"
    )
    ci.pulumi(stacks={"dev": {}}, up={"code": 255, "output": output})
    done = ci("up", "--stack", "dev")
    assert done.returncode == 1
    assert "`pulumi up` failed (exit 255)" in ci.summary
    assert "error: SessionPoolQuotaExceeded: quota reached" in ci.summary
    assert "pool creating" in ci.summary  # the whole output, folded under details


def test_pulumi_org_qualifies_the_stack_name(ci):
    pulumi = ci.pulumi(stacks={"acme/dev": {}})
    ci.env["PULUMI_ORG"] = "acme"
    done = ci("up", "--stack", "dev")
    assert done.returncode == 0, done.stderr
    assert all("acme/dev" in call for call in pulumi.calls)


def test_prepare_of_a_stack_not_deployed_yet_says_so_and_skips_the_preview(ci):
    pulumi = ci.pulumi(stacks={})
    done = ci("prepare", "--stack", "prod", "--deployer-principal-type", "ServicePrincipal")
    assert done.returncode == 0, done.stderr
    assert ci.outputs == {"exists": "false", "stack": "prod"}
    assert pulumi.commands() == ["stack select"]  # neither created nor configured
    assert "`prod`: not deployed yet" in ci.summary


def test_without_pulumi_on_path_the_command_says_so(ci):
    ci.env["PATH"] = str(ci.bin)
    done = ci("drift", "--stack", "dev")
    assert done.returncode == 2 and "the pulumi CLI is not on PATH" in done.stderr


@pytest.mark.parametrize(
    "argv,message",
    [
        (["up", "--stack", "staging"], "--stack 'staging' has no Pulumi.staging.yaml here; allowed: dev, prod"),
        (["drift", "--stack", "qa"], "--stack 'qa' has no Pulumi.qa.yaml here; allowed: dev, prod"),
        (["review", "up", "--pr", "abc"], "--pr 'abc' is not a pull request number: a positive whole number"),
        (["review", "down", "--pr", "0"], "--pr '0' is not a pull request number"),
        (["review", "up", "--pr", "7", "--from", "qa"], "--from 'qa' has no Pulumi.qa.yaml here; allowed: dev, prod"),
        (
            ["up", "--stack", "dev", "--deployer-principal-type", "Group"],
            "--deployer-principal-type: invalid choice: 'Group' (choose from 'User', 'ServicePrincipal')",
        ),
    ],
)
def test_a_bad_flag_is_named_even_where_pulumi_is_missing(ci, argv, message):
    ci.env["PATH"] = str(ci.bin)
    done = ci(*argv)
    assert done.returncode == 2 and message in done.stderr
    assert "pulumi CLI" not in done.stderr
    assert not list(ci.project.glob("Pulumi.pr-*.yaml"))


@pytest.mark.parametrize("flag", ["--stack", "--endpoint=https://other.example", "--json"])
def test_the_smoke_gate_refuses_flags_that_would_check_another_pool_or_hide_the_report(ci, flag):
    pulumi = ci.pulumi(stacks={"dev": {"outputs": {"poolManagementEndpoint": "http://127.0.0.1:9"}}})
    report = str(ci.project / "smoke.json")
    done = ci("smoke", "--stack", "dev", "--out", report, "--", flag, *(["prod"] if flag == "--stack" else []))
    assert done.returncode == 2
    assert f"{flag!r} after -- is not allowed: `python -m ci smoke` sets --stack, --endpoint, --json" in done.stderr
    assert pulumi.calls == []


def test_the_docs_list_exactly_the_subcommands_and_each_help_says_what_it_does():
    page = (ROOT / "docs" / "reference" / "delivery.md").read_text()
    section = page.split("## `python -m ci`", 1)[1].split("\n#", 1)[0]
    listed = {row.split("`")[1].split()[0] for row in section.splitlines() if row.startswith("| `")}
    for command in sorted(listed):
        done = subprocess.run(
            [sys.executable, "-m", "ci", command, "--help"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        usage, description = done.stdout.split("\n\n")[:2]
        assert usage.startswith(f"usage: python -m ci {command}")
        assert description and not description.startswith(("positional", "options")), command
    done = subprocess.run([sys.executable, "-m", "ci", "--help"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert set(re.search(r"\{([a-z,-]+)\}", done.stdout)[1].split(",")) == listed  # type: ignore[index]


# The smoke gate: the real smoke against a scripted pool, its endpoint from the stand-in's stack outputs.


def smoke_gate(ci, server: FaultServer, *smoke_flags: str) -> tuple[subprocess.CompletedProcess, dict]:
    ci.pulumi(stacks={"dev": {"outputs": {"poolManagementEndpoint": server.url, "poolName": "p"}}})
    report_file = ci.project / "smoke.json"
    done = ci("smoke", "--stack", "dev", "--out", str(report_file), *FAST_SMOKE, *smoke_flags)
    return done, json.loads(report_file.read_text())


def test_smoke_passes_and_its_report_is_kept_and_summarised(ci):
    with FaultServer(legacy_ok(), RELEASED) as server:
        done, report = smoke_gate(ci, server)
    assert done.returncode == 0, done.stderr
    assert report["passed"] is True and report["endpoint"] == server.url
    assert "### Smoke `dev`: PASS (exit 0: passed)" in ci.summary
    assert f"| endpoint | {server.url} |" in ci.summary
    assert "| stdout | 'hello-world\\n' |" in ci.summary


def test_smoke_exit_3_fails_the_gate_and_the_summary_names_the_missing_role(ci):
    with FaultServer(error(403, "Forbidden", "no role")) as server:
        done, report = smoke_gate(ci, server, "--rbac-wait", "0.3")
    assert done.returncode == 3
    assert report["exitCode"] == 3 and report["passed"] is False
    assert "FAIL (exit 3: access not granted after waiting" in ci.summary
    assert "Session Executor" in ci.summary


def test_smoke_exit_4_fails_the_gate_when_the_pool_stays_exhausted(ci):
    with FaultServer(error(429, "TooManyRequests", headers={"Retry-After": "30"})) as server:
        done, report = smoke_gate(ci, server, "--timeout", "2")
    assert done.returncode == 4
    assert report["exitCode"] == 4 and "exhausted" in report["message"]
    assert "FAIL (exit 4: the pool is unreachable, exhausted or failing)" in ci.summary


def test_smoke_of_a_stack_never_deployed_exits_2_with_pulumis_reason(ci):
    ci.pulumi(stacks={})
    report_file = ci.project / "smoke.json"
    done = ci("smoke", "--stack", "prod", "--out", str(report_file))
    assert done.returncode == 2
    assert "no stack named 'prod' found" in json.loads(report_file.read_text())["message"]
    assert "FAIL (exit 2" in ci.summary


# Drift: `pulumi preview --refresh --expect-no-changes`.

DRIFT_OUTPUT = """\
Previewing update (dev)
~ azure-native:app:SessionPool: (update)
    ~ dynamicPoolConfiguration: {
        ~ maxConcurrentSessions: 20 => 5
      }
Resources:
    ~ 1 to update
error: no changes were expected but changes were proposed
"""


def test_drift_found_fails_with_the_diff_in_the_summary(ci):
    pulumi = ci.pulumi(stacks={"dev": {}}, preview={"code": 255, "output": DRIFT_OUTPUT})
    done = ci("drift", "--stack", "dev", "--deployer-principal-type", "ServicePrincipal")
    assert done.returncode == 1
    preview = pulumi.calls[-1]
    assert preview[0] == "preview" and {"--refresh", "--expect-no-changes"} <= set(preview)
    assert "### Drift `dev`: found" in ci.summary
    assert "```diff\n" in ci.summary and "maxConcurrentSessions: 20 => 5" in ci.summary


def test_no_drift_passes(ci):
    ci.pulumi(stacks={"dev": {}}, preview={"code": 0, "output": "Resources:\n    4 unchanged\n"})
    done = ci("drift", "--stack", "dev")
    assert done.returncode == 0, done.stderr
    assert "### Drift `dev`: none" in ci.summary


def test_a_preview_that_fails_for_another_reason_is_not_called_drift(ci):
    output = "error: failed to refresh: AuthorizationFailed: the client does not have authorization\n"
    ci.pulumi(stacks={"dev": {}}, preview={"code": 255, "output": output})
    done = ci("drift", "--stack", "dev")
    assert done.returncode == 2
    assert "the check could not run (exit 255)" in ci.summary and "AuthorizationFailed" in ci.summary
    assert "Drift `dev`: found" not in ci.summary


def test_drift_of_a_stack_never_deployed_passes_and_says_so(ci):
    pulumi = ci.pulumi(stacks={})
    done = ci("drift", "--stack", "prod")
    assert done.returncode == 0, done.stderr
    assert "preview" not in pulumi.commands()
    assert "`prod`: not deployed yet" in ci.summary


# Review stacks.


def test_review_up_makes_pr_stack_from_dev_settings_without_fixed_name_or_executors(ci):
    dev = yaml.safe_load((ci.project / "Pulumi.dev.yaml").read_text())
    dev["config"]["dynamic-sessions:poolName"] = "devpool"
    dev["config"]["dynamic-sessions:executors"] = [{"principalId": "x", "principalType": "User"}]
    (ci.project / "Pulumi.dev.yaml").write_text(yaml.safe_dump(dev))
    pulumi = ci.pulumi(stacks={})
    done = ci("review", "up", "--pr", "42", "--deployer-principal-type", "ServicePrincipal")
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load((ci.project / "Pulumi.pr-42.yaml").read_text())["config"]
    assert "dynamic-sessions:poolName" not in config and "dynamic-sessions:executors" not in config
    assert config["azure-native:location"] == dev["config"]["azure-native:location"]
    assert config["dynamic-sessions:maxSessions"] == dev["config"]["dynamic-sessions:maxSessions"]
    assert config["dynamic-sessions:tags"] == {"reviewStack": "pr-42"}
    assert pulumi.commands() == ["stack select", "config set", "up"] and "--create" in pulumi.calls[0]
    assert ci.outputs["review-stack"] == "pr-42"


def test_review_up_refuses_a_number_that_is_not_one(ci):
    ci.pulumi()
    done = ci("review", "up", "--pr", "12; rm -rf /")
    assert done.returncode == 2 and "a positive whole number is allowed" in done.stderr
    assert not list(ci.project.glob("Pulumi.pr-*.yaml"))


def test_review_down_destroys_then_removes_the_stack(ci):
    pulumi = ci.pulumi(stacks={"pr-42": {}})
    done = ci("review", "down", "--pr", "42")
    assert done.returncode == 0, done.stderr
    assert pulumi.commands() == ["stack select", "destroy", "stack rm"]
    assert pulumi.stacks == {}
    assert "`pr-42`: destroyed and removed" in ci.summary


def test_review_down_of_a_stack_already_gone_passes(ci):
    pulumi = ci.pulumi(stacks={})
    done = ci("review", "down", "--pr", "42")
    assert done.returncode == 0, done.stderr
    assert pulumi.commands() == ["stack select"]
    assert "nothing to remove" in ci.summary


def test_review_down_keeps_the_stack_when_destroy_fails(ci):
    pulumi = ci.pulumi(stacks={"pr-42": {}}, destroy={"code": 255, "output": "error: resource is locked\n"})
    done = ci("review", "down", "--pr", "42")
    assert done.returncode == 1
    assert "stack rm" not in pulumi.commands() and "pr-42" in pulumi.stacks
    assert "may cost money" in ci.summary and "resource is locked" in ci.summary


def test_the_deploy_jobs_steps_in_order_against_a_real_pool(ci):
    """up creates the stack and its outputs; the smoke reads the endpoint from them and runs on real Node sessions."""
    emulator = Emulator()
    try:
        pulumi = ci.pulumi(stacks={}, outputs_after_up={"poolManagementEndpoint": emulator.url})
        up = ci("up", "--stack", "dev", "--deployer-principal-type", "ServicePrincipal")
        assert up.returncode == 0, up.stderr
        report_file = ci.project / "smoke-dev.json"
        smoke = ci("smoke", "--stack", "dev", "--out", str(report_file))
    finally:
        emulator.stop()
    assert smoke.returncode == 0, smoke.stderr
    report = json.loads(report_file.read_text())
    assert report["stdout"] == "hello-world\n" and report["endpoint"] == emulator.url
    assert pulumi.calls[-1] == ["stack", "output", "--json", "--stack", "dev"]
    assert ci.summary.index("`pulumi up` succeeded") < ci.summary.index("Smoke `dev`: PASS")
