"""The rules as pulumi-policy policies: what the engine loads from `PulumiPolicy.yaml`'s directory.

Each rule becomes a ResourceValidationPolicy or a StackValidationPolicy with its id, description, enforcement
level and config schema. The engine sends each policy's config with the schema's defaults filled in; a key it
leaves out takes the rule's default here too, so `python -m policy check` and the engine decide alike.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from policy.resources import UNKNOWN
from policy.rules import ADVISORY, MANDATORY, RULES, Rule, Subject

PACK_NAME = "dynamic-sessions-pools"
PACK_DESCRIPTION = "Azure Container Apps session pools and their grants, whoever declares them."
LEVELS = {MANDATORY: EnforcementLevel.MANDATORY, ADVISORY: EnforcementLevel.ADVISORY}


def plain(value: Any) -> Any:
    """The engine's inputs as plain dicts and lists, each value a preview cannot know yet as UNKNOWN (the policy
    SDK's proxy raises on reading one)."""
    if isinstance(value, Mapping):
        result = {}
        for key in value:
            try:
                result[key] = plain(value[key])
            except UnknownValueError:
                result[key] = UNKNOWN
        return result
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def current_stack() -> str:
    """The stack the engine analyzes (it starts the pack with PULUMI_STACK set)."""
    return pulumi.get_stack()


def _described(rule: Rule) -> dict[str, Any]:
    """What the engine shows and configures of a rule, whichever kind of policy runs it."""
    return {
        "name": rule.id,
        "description": rule.description,
        "enforcement_level": LEVELS[rule.enforcement],
        "config_schema": PolicyConfigSchema(properties={key: dict(spec) for key, spec in rule.config.items()}),
    }


def resource_policy(rule: Rule, stack: Callable[[], str] = current_stack) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        subject = Subject(args.resource_type, args.name, plain(args.props), urn=args.urn, protect=args.opts.protect)
        for violation in rule.check(subject, rule.settings(args.get_config()), stack()):
            report_violation(violation.message(), None)

    return ResourceValidationPolicy(
        validate=validate,
        **_described(rule),
    )


def stack_policy(rule: Rule, stack: Callable[[], str] = current_stack) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        subjects = [
            Subject(
                r.resource_type,
                r.name,
                plain(r.props),
                urn=r.urn,
                protect=bool(r.opts.protect),
                property_dependencies={key: [d.urn for d in deps] for key, deps in r.property_dependencies.items()},
            )
            for r in args.resources
        ]
        for subject, violation in rule.check(subjects, rule.settings(args.get_config()), stack()):
            report_violation(violation.message(), subject.urn or None)

    return StackValidationPolicy(
        validate=validate,
        **_described(rule),
    )


def policies(stack: Callable[[], str] = current_stack) -> list[Policy]:
    """One policy per rule, in the pack's order."""
    return [stack_policy(rule, stack) if rule.stack else resource_policy(rule, stack) for rule in RULES]
