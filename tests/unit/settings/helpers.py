"""Calls of the settings' checks, for one-line cases: config text in, problems or settings out."""

from typing import Any

import pytest

from components.checks import check_inputs, parse_settings
from components.settings import LOCATION_KEY, Settings, SettingsError

PROJECT = "dynamic-sessions"
GUID = "8f3c2a51-6b1e-4d9a-9c7e-2a4b5d6e7f80"
USER_IDENTITY = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/ops"
    "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pool"
)


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
