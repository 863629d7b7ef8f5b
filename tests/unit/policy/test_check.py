"""`python -m policy check`'s parts that need no program run: the policy config file, the pack's policies run over
resources as the engine hands them, and the usage errors (exit 2)."""

import io
import json
import runpy
import sys
from pathlib import Path

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policy import check, rules
from policy.pack import plain
from policy.resources import UNKNOWN
from tests.unit.policy.test_rules import generic_pool, grant, lock


def test_no_config_file_keeps_each_rules_default_level():
    chosen = check.read_pack_config(None)
    assert chosen == {rule.id: (rule.enforcement, {}) for rule in rules.RULES}


def test_a_config_file_sets_levels_and_settings_as_pulumis_flag_reads_them(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "all": "advisory",
                rules.EGRESS_ID: {"enforcementLevel": "mandatory", "allowedStacks": []},
                rules.REGION_ID: "disabled",
            }
        )
    )
    chosen = check.read_pack_config(path)
    assert chosen[rules.EGRESS_ID] == ("mandatory", {"allowedStacks": []})
    assert chosen[rules.REGION_ID] == ("disabled", {})
    assert chosen[rules.MAX_SESSIONS_ID] == ("advisory", {})


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("{not json", "cannot read it as JSON"),
        ("[]", "a JSON object of rule ids"),
        (json.dumps({"no-such-rule": "advisory"}), "'no-such-rule' is not a rule of the pack"),
        (json.dumps({rules.EGRESS_ID: {"allowedStack": []}}), f"{rules.EGRESS_ID}.allowedStack is not a setting"),
        (json.dumps({rules.EGRESS_ID: "strict"}), f"{rules.EGRESS_ID}='strict' is not allowed: one of advisory"),
        (json.dumps({"all": "off"}), "all='off' is not allowed"),
    ],
)
def test_a_wrong_config_file_is_a_usage_error_naming_what_is_wrong(tmp_path, content, named):
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(check.UsageError, match=named.replace("[", r"\[").replace("(", r"\(")):
        check.read_pack_config(path)


def test_the_policies_report_each_violation_with_rule_resource_and_config_key():
    pool = generic_pool(protect=False, sessionNetworkConfiguration={"status": "EgressEnabled"})
    findings = check.evaluate([pool, lock(deps=("urn:pool",)), grant()], "prod", check.read_pack_config(None))
    assert [(f.rule, f.resource, f.level) for f in findings] == [
        (rules.EGRESS_ID, "urn:pool", "mandatory"),
        (rules.PRODUCTION_ID, "urn:pool", "mandatory"),
    ]
    assert findings[0].message == (
        "properties.sessionNetworkConfiguration.status='EgressEnabled' is not allowed\n"
        "allowed: EgressDisabled; egress is allowed only in stacks matching dev*\n"
        f"policy config: {rules.EGRESS_ID}.allowedStacks"
    )
    assert findings[0].line().splitlines() == [
        f"mandatory {rules.EGRESS_ID}",
        "    urn:pool (azure-native:resources:Resource)",
        *(f"    {line}" for line in findings[0].message.splitlines()),
    ]


def test_a_disabled_rule_is_not_run():
    subjects = [generic_pool(sessionNetworkConfiguration={"status": "EgressEnabled"}), grant()]
    disabled = {**check.read_pack_config(None), rules.EGRESS_ID: ("disabled", {})}
    assert [f.rule for f in check.evaluate(subjects, "staging", disabled)] == []
    assert [f.rule for f in check.evaluate(subjects, "staging", check.read_pack_config(None))] == [rules.EGRESS_ID]


def test_the_engines_unknown_values_reach_the_rules_as_unknown():
    proxied = unknown_checking_proxy({"scope": UNKNOWN_STRING_VALUE, "list": [UNKNOWN_STRING_VALUE, {"a": 1}]})
    assert plain(proxied) == {"scope": UNKNOWN, "list": [UNKNOWN, {"a": 1}]}


def test_an_unknown_stack_is_a_usage_error(capsys):
    assert check.main(["check", "--stack", "nosuchstack"], out=io.StringIO()) == 2
    assert "--stack='nosuchstack' is not a committed stack: one of dev, prod" in capsys.readouterr().err


def test_a_missing_stack_flag_is_a_usage_error():
    with pytest.raises(SystemExit) as exited:
        check.main(["check"], out=io.StringIO())
    assert exited.value.code == 2


def test_a_stack_config_the_program_refuses_exits_2_with_its_message(monkeypatch, capsys):
    def refuse(stack: str) -> list:
        raise check.ProgramError("dynamic-sessions:maxSessions=0 is not allowed: 1..600")

    monkeypatch.setattr(check, "registrations", refuse)
    assert check.main(["check", "--stack", "dev"], out=io.StringIO()) == 2
    assert "maxSessions=0 is not allowed" in capsys.readouterr().err


def test_check_without_pulumi_policy_is_a_usage_error_naming_the_install(monkeypatch, capsys):
    # A deploy-only install (requirements.txt alone) has no pulumi-policy: one line, exit 2, no traceback.
    monkeypatch.setitem(sys.modules, "pulumi_policy", None)
    monkeypatch.delitem(sys.modules, "policy.check")
    monkeypatch.delitem(sys.modules, "policy.__main__", raising=False)
    monkeypatch.setattr(sys, "argv", ["policy", "check", "--stack", "dev"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("policy", run_name="__main__")
    assert exited.value.code == 2
    said = capsys.readouterr().err
    assert "needs pulumi-policy" in said
    assert f"-m pip install -r {Path(check.__file__).parent / 'requirements.txt'}" in said
