"""`python -m policy check --stack NAME`: the pack's policies over what the program registers for a committed
stack, under the mock runtime, so the rules can be seen to hold without Pulumi Cloud, the CLI or Azure.

Exit 0 when no policy reports a violation, 1 after listing each one, 2 on bad usage (an unknown stack, an
unreadable or wrong policy config file, a stack config the program refuses).
"""

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.pack import policies
from policy.rules import RULES, Subject
from policy.stack_run import ProgramError, committed_stacks, registrations

LEVELS = ("advisory", "mandatory", "disabled")
ALL = "all"


class UsageError(Exception):
    """Bad input from the user: the message names the flag or key, the value and what is allowed."""


@dataclass(frozen=True)
class Finding:
    rule: str
    level: str
    resource: str
    type: str
    message: str

    def line(self) -> str:
        name = self.resource.rsplit("::", 1)[-1]  # the URN's last part: the resource's logical name
        message = "\n".join(f"    {line}" for line in self.message.splitlines())
        return f"{self.level} {self.rule}\n    {name} ({self.type})\n{message}"


def read_pack_config(path: Path | None) -> dict[str, tuple[str, dict[str, Any]]]:
    """Per rule: (enforcement level, config), from a file shaped as `pulumi preview --policy-pack-config` reads:
    `{"all": "<level>", "<rule id>": "<level>" | {"enforcementLevel": "<level>", "<key>": <value>}}`."""
    chosen: dict[str, tuple[str, dict[str, Any]]] = {rule.id: (rule.enforcement, {}) for rule in RULES}
    if path is None:
        return chosen
    try:
        given = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise UsageError(f"--policy-pack-config={path}: cannot read it as JSON ({error})") from None
    if not isinstance(given, dict):
        raise UsageError(f"--policy-pack-config={path}: a JSON object of rule ids is allowed")

    def level(value: Any, where: str) -> str:
        if value not in LEVELS:
            raise UsageError(f"{where}={value!r} is not allowed: one of {', '.join(LEVELS)}")
        return str(value)

    if ALL in given:
        everywhere = level(given[ALL], ALL)
        chosen = {rule: (everywhere, config) for rule, (_, config) in chosen.items()}
    keys = {rule.id: set(rule.config) for rule in RULES}
    for rule_id, value in given.items():
        if rule_id == ALL:
            continue
        if rule_id not in chosen:
            raise UsageError(f"--policy-pack-config: {rule_id!r} is not a rule of the pack: one of {', '.join(keys)}")
        if not isinstance(value, dict):
            chosen[rule_id] = (level(value, rule_id), {})
            continue
        config = {key: item for key, item in value.items() if key != "enforcementLevel"}
        unknown = sorted(set(config) - keys[rule_id])
        if unknown:
            allowed = ", ".join(["enforcementLevel", *sorted(keys[rule_id])])
            raise UsageError(f"--policy-pack-config: {rule_id}.{unknown[0]} is not a setting: one of {allowed}")
        kept = chosen[rule_id][0]
        chosen[rule_id] = (level(value.get("enforcementLevel", kept), f"{rule_id}.enforcementLevel"), config)
    return chosen


def _options(subject: Subject) -> PolicyResourceOptions:
    return PolicyResourceOptions(subject.protect, [], False, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def evaluate(subjects: Sequence[Subject], stack: str, pack_config: Mapping[str, tuple[str, dict[str, Any]]]):
    """Runs each policy of the pack, as the engine does, over the stack's resources; returns what they report."""
    by_urn = {s.urn: PolicyResource(s.type, s.props, s.urn, s.name, _options(s), None, None, [], {}) for s in subjects}
    for subject in subjects:
        by_urn[subject.urn].property_dependencies = {
            key: [by_urn[urn] for urn in urns if urn in by_urn] for key, urns in subject.property_dependencies.items()
        }
    findings: list[Finding] = []
    for policy in policies(stack=lambda: stack):
        level, config = pack_config[policy.name]
        if level == "disabled":
            continue

        def reporter(subject: Subject | None, name: str = policy.name, level: str = level) -> Callable[..., None]:
            def report(message: str, urn: str | None = None) -> None:
                found = subject or next(s for s in subjects if s.urn == urn)
                findings.append(Finding(name, level, found.urn or found.name, found.type, message))

            return report

        if isinstance(policy, ResourceValidationPolicy):
            for s in subjects:
                args = ResourceValidationArgs(s.type, s.props, s.urn, s.name, _options(s), None, config)
                policy.validate(args, reporter(s))
        elif isinstance(policy, StackValidationPolicy):
            policy.validate(StackValidationArgs(list(by_urn.values()), config), reporter(None))
    return findings


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m policy",
        description="Run the session-pool policy pack over a committed stack, without Pulumi Cloud or the CLI.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="run the pack over what the program registers for a stack")
    check.add_argument("--stack", required=True, help="a committed stack: one with a Pulumi.<stack>.yaml")
    check.add_argument(
        "--policy-pack-config",
        type=Path,
        help="a JSON file of enforcement levels and settings per rule, as `pulumi preview --policy-pack-config` takes",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        stacks = committed_stacks()
        if args.stack not in stacks:
            raise UsageError(f"--stack={args.stack!r} is not a committed stack: one of {', '.join(stacks)}")
        pack_config = read_pack_config(args.policy_pack_config)
        subjects = registrations(args.stack)
    except (UsageError, ProgramError) as error:
        print(f"python -m policy check: {error}", file=sys.stderr)
        return 2
    findings = evaluate(subjects, args.stack, pack_config)
    for finding in findings:
        print(finding.line(), file=out)
    summary = f"{len(findings)} violation(s)" if findings else "no violations"
    print(f"stack {args.stack}: {len(subjects)} resources, {len(RULES)} rules, {summary}", file=out)
    return 1 if findings else 0
