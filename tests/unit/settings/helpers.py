"""Calls of the settings' checks, for one-line cases: config text in, problems or settings out."""

import json
from typing import Any

import pytest

from components.checks import check_inputs, parse_settings
from components.settings import LOCATION_KEY, Settings, SettingsError
from tests.pulumi_harness import ROOT, SUBSCRIPTION, stack_config

PROJECT = "dynamic-sessions"
GUID = "8f3c2a51-6b1e-4d9a-9c7e-2a4b5d6e7f80"
USER_IDENTITY = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/ops"
    "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pool"
)
COMMITTED_STACKS = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))
ARM_USER_IDENTITY = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/ops/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pool"
)
EVERYTHING_ON = {
    f"{PROJECT}:containerType": "Shell",
    f"{PROJECT}:mcpServer": "true",
    f"{PROJECT}:readySessions": "2",
    f"{PROJECT}:identity": json.dumps(["system", ARM_USER_IDENTITY]),
    f"{PROJECT}:identityLifecycle": "Main",
    f"{PROJECT}:tags": json.dumps({"team": "agents"}),
}
BODY_CASES = {
    **{stack: stack_config(stack) for stack in COMMITTED_STACKS},
    "every-setting": {**stack_config("dev"), **EVERYTHING_ON},
}
"""The config of each committed stack, and one with every setting that shapes the pool's body on."""


def config(overrides: dict[str, str | None]) -> dict[str, str | None]:
    """The dev stack's location and these settings, as the CLI hands them over (None: not set)."""
    return {LOCATION_KEY: "northcentralus", **overrides}


def parsed(overrides: dict[str, str | None], stack: str = "dev") -> Settings:
    return parse_settings(config(overrides), PROJECT, stack)


def config_problems(overrides: dict[str, str | None], keys: tuple[str, ...] = ()) -> list[str]:
    """Every problem parse_settings names for these settings (and these config keys); it must name one."""
    with pytest.raises(SettingsError) as raised:
        parse_settings(config(overrides), PROJECT, "dev", keys)
    return raised.value.problems


def input_problems(inputs: dict[str, Any]) -> list[str]:
    """Every problem check_inputs names for a SessionPool given these inputs; it must name one."""
    with pytest.raises(SettingsError) as raised:
        check_inputs({"location": "northcentralus", "pool_name": "apppool", **inputs})
    return raised.value.problems
