"""`python -m policy check --stack NAME` as a user runs it, and the promises docs/policy.md, the pack's files and the
pull-request workflow make about it."""

import json
import re
import subprocess
import sys

import pytest
import yaml

from policy import rules
from policy.check import evaluate, read_pack_config
from policy.regions import SESSION_REGIONS
from policy.rules import RULES
from policy.stack_run import ProgramError, committed_stacks, registrations
from tests.pulumi_harness import ROOT

DOC = ROOT / "docs" / "policy.md"


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "policy", "check", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_committed_stack_passes_with_exit_0(stack):
    assert stack in committed_stacks()
    result = run_check("--stack", stack)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines()[-1].endswith(f"{len(RULES)} rules, no violations")


def test_violations_are_listed_each_with_rule_resource_property_value_allowed_and_key_then_exit_1(tmp_path):
    config = tmp_path / "policy-config.json"
    config.write_text(
        json.dumps(
            {
                rules.EGRESS_ID: {"allowedStacks": []},
                rules.MAX_SESSIONS_ID: {"maxSessions": 4},
                rules.REGION_ID: {"enforcementLevel": "advisory", "allowedRegions": ["westus2"]},
            }
        )
    )
    result = run_check("--stack", "dev", "--policy-pack-config", str(config))
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        f"mandatory {rules.EGRESS_ID}",
        "    dev-pool (azure-native:resources:Resource)",
        "    properties.sessionNetworkConfiguration.status='EgressEnabled' is not allowed",
        "    allowed: EgressDisabled; egress is allowed in no stack",
        f"    policy config: {rules.EGRESS_ID}.allowedStacks",
        f"mandatory {rules.MAX_SESSIONS_ID}",
        "    dev-pool (azure-native:resources:Resource)",
        "    properties.scaleConfiguration.maxConcurrentSessions=5 is not allowed",
        "    allowed: at most 4",
        f"    policy config: {rules.MAX_SESSIONS_ID}.maxSessions",
        f"advisory {rules.REGION_ID}",
        "    dev-pool (azure-native:resources:Resource)",
        "    location='northcentralus' is not allowed",
        "    allowed: one of westus2",
        f"    policy config: {rules.REGION_ID}.allowedRegions",
        f"stack dev: 4 resources, {len(RULES)} rules, 3 violation(s)",
    ]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ((), "the following arguments are required: --stack"),
        (("--stack", "staging"), "--stack='staging' is not a committed stack: one of dev, prod"),
        (("--stack", "dev", "--policy-pack-config", "/nonexistent.json"), "--policy-pack-config=/nonexistent.json"),
    ],
)
def test_bad_usage_exits_2_naming_the_flag(args, named):
    result = run_check(*args)
    assert result.returncode == 2 and named in result.stderr and result.stdout == ""


def _shown(default: object) -> str:
    """How the docs' table writes a default: the region list by its section, other lists as JSON."""
    if default == list(SESSION_REGIONS):
        return "the 36 regions in [Regions](reference/settings.md#regions)"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, int):
        return str(default)
    return f"`{default}`" if isinstance(default, str) else f"`{json.dumps(default)}`"


def test_the_docs_list_every_rule_with_its_level_settings_and_what_it_protects_against():
    text = DOC.read_text()
    table = text.split("<!-- policy-rules:begin -->")[1].split("<!-- policy-rules:end -->")[0]
    rows = [line.split(" | ") for line in table.strip().splitlines()[2:]]
    assert [row[0].strip("| `") for row in rows] == [rule.id for rule in RULES]
    for row, rule in zip(rows, RULES, strict=True):
        assert row[1] == rule.enforcement
        assert re.findall(r"`(\w+)` \(", row[2]) == list(rule.config)
        for key, default in rule.settings().items():
            assert f"`{key}` ({_shown(default)})" in row[2], (rule.id, key)
        assert row[3].rstrip(" |") == rule.protects
    for command in (
        "pulumi preview --policy-pack policy",
        "pulumi policy publish my-org",
        "python -m policy check --stack prod",
        "pip install -r policy/requirements.txt",
    ):
        assert command in text


def test_the_docs_sample_violation_is_what_the_check_prints_for_it():
    sample = DOC.read_text().split("```text\n")[1].split("```")[0].splitlines()
    pool = rules.Subject(
        "azure-native:resources:Resource",
        "prod-pool",
        {
            "resourceProviderNamespace": "Microsoft.App",
            "resourceType": "sessionPools",
            "properties": {"sessionNetworkConfiguration": {"status": "EgressEnabled"}},
        },
    )
    (violation,) = rules.check_egress(pool, next(r for r in RULES if r.id == rules.EGRESS_ID).settings(), "prod")
    assert sample[0] == f"mandatory {violation.rule}" and sample[1] == "    prod-pool (azure-native:resources:Resource)"
    assert [line.strip() for line in sample[2:]] == violation.message().splitlines()


def test_the_default_regions_are_the_ones_the_docs_list():
    pages = [page.read_text() for page in (ROOT / "docs").rglob("*.md")]
    section = next(text for text in pages if "\n## Regions\n" in text).split("\n## Regions\n")[1].split("\n## ")[0]
    listed = [line.split(":", 1)[1] for line in section.splitlines() if line.startswith("- ")]
    listed += [line for line in section.splitlines() if line.startswith("  ")]
    names = {name.strip().lower().replace(" ", "") for line in listed for name in line.split(",") if name.strip()}
    assert names == set(SESSION_REGIONS) and len(SESSION_REGIONS) == 36


def test_the_pack_is_a_python_pack_with_its_own_pinned_requirements():
    manifest = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    pack = (ROOT / "policy" / "requirements.txt").read_text().splitlines()
    dev = (ROOT / "requirements-dev.txt").read_text().splitlines()
    policy_sdk = next(line for line in pack if line.startswith("pulumi-policy"))
    assert policy_sdk in dev and re.fullmatch(r"pulumi-policy>=[\d.]+,<\d+", policy_sdk)
    assert any(re.fullmatch(r"pulumi>=[\d.]+,<4", line) for line in pack)
    roles = ROOT / "policy" / "roles.py"
    assert roles.is_symlink() and roles.resolve() == (ROOT / "components" / "roles.py").resolve()


def test_the_pull_request_workflow_checks_every_committed_stack():
    document = yaml.safe_load((ROOT / ".github" / "workflows" / "pull-request.yml").read_text())
    job = document["jobs"]["policy"]
    assert job["needs"] == "stacks" and job["permissions"] == {"contents": "read"}
    assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    step = next(s for s in job["steps"] if "-m policy check" in s.get("run", ""))
    assert step["run"] == '.venv/bin/python -m policy check --stack "$STACK"'
    assert step["env"] == {"STACK": "${{ matrix.stack }}"}
    assert "make install" in [s.get("run") for s in job["steps"]]


NAMESPACE = "dynamic-sessions"
THROUGH_THE_COMPONENT = [
    ("prod", {f"{NAMESPACE}:egressEnabled": "true"}, {rules.EGRESS_ID}),
    ("dev", {f"{NAMESPACE}:identity": '["system"]', f"{NAMESPACE}:identityLifecycle": "Main"}, {rules.IDENTITY_ID}),
    ("prod", {f"{NAMESPACE}:maxSessions": "600"}, {rules.MAX_SESSIONS_ID}),
    ("dev", {"azure-native:location": "chinaeast2"}, {rules.REGION_ID}),
    ("dev", {f"{NAMESPACE}:grantContributor": "true"}, {rules.CONTRIBUTOR_ID}),
    ("prod", {f"{NAMESPACE}:protect": "false"}, {rules.PRODUCTION_ID}),
    ("prod", {f"{NAMESPACE}:lock": "none"}, {rules.PRODUCTION_ID}),
    ("dev", {f"{NAMESPACE}:grantDeployer": "false"}, {rules.EXECUTOR_PRESENT_ID}),
]


@pytest.mark.parametrize(("stack", "overrides", "expected"), THROUGH_THE_COMPONENT)
def test_a_stack_setting_that_breaks_a_rule_through_the_component_is_reported(stack, overrides, expected):
    subjects = registrations(stack, overrides)
    assert {f.rule for f in evaluate(subjects, stack, read_pack_config(None))} == expected


def test_a_stack_config_the_program_refuses_is_a_program_error():
    with pytest.raises(ProgramError, match="maxSessions"):
        registrations("dev", {f"{NAMESPACE}:maxSessions": "0"})
