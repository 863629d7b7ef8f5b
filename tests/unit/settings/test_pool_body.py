"""The pool's body as data: built from each committed stack's settings (and from every setting on) without a
program run, and checked against the published spec of the API version it is sent at."""

import json
from typing import Any

import pytest

from components import pool_body
from components.checks import parse_settings
from components.settings import SETTINGS, with_defaults
from tests.pulumi_harness import PROJECT
from tests.spec_check import SESSION_POOLS, listed_path, schema_errors, unlisted
from tests.unit.settings.helpers import ARM_USER_IDENTITY as USER_IDENTITY
from tests.unit.settings.helpers import BODY_CASES as CASES


def body_for(config: dict[str, str]) -> dict[str, Any]:
    """ARM's PUT body for a stack's config, as the component builds it from the stack's settings."""
    raw = {key.removeprefix(f"{PROJECT}:"): value for key, value in config.items()}
    given = with_defaults(parse_settings(raw, PROJECT, "dev").component_args())
    body: dict[str, Any] = {"location": given["location"], "properties": pool_body.properties_of(given)}
    kind = pool_body.identity_type(tuple(given["identity"]))
    if kind:
        users = pool_body.user_assigned(tuple(given["identity"]))
        body["identity"] = {"type": kind, **({"userAssignedIdentities": {u: {} for u in users}} if users else {})}
    return body


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_property_and_value_of_the_body_is_in_the_spec_of_the_version_sent(case):
    body = body_for(CASES[case])
    assert schema_errors(body) == []
    assert unlisted(body, request=True) == []


def _at(body: Any, path: str) -> Any:
    for part in path.split("."):
        many = part.endswith("[]")
        body = body[part.removesuffix("[]")]
        body = body[0] if many else body
    return body


def test_each_setting_lands_where_the_table_says():
    body = body_for(CASES["every-setting"])
    landed = {s.key: _at(body, s.lands) for s in SETTINGS if s.lands.startswith("properties.")}
    assert landed == {
        "containerType": "Shell",
        "maxSessions": 5,
        "cooldownSeconds": 300,
        "readySessions": 2,
        "egressEnabled": "EgressEnabled",
        "identityLifecycle": "Main",
        "lifecycleType": "Timed",
        "mcpServer": True,
    }


def test_the_vendored_spec_is_the_version_the_pool_is_declared_at():
    assert json.loads(SESSION_POOLS.read_text())["info"]["version"] == pool_body.API_VERSION == "2026-03-02-preview"


def test_each_output_is_read_from_a_property_the_spec_lists():
    assert listed_path("properties", "poolManagementEndpoint")
    assert listed_path("properties", "containerType")
    assert listed_path("properties", "mcpServerSettings", "mcpServerEndpoint")
    assert listed_path("identity", "principalId")
    assert listed_path("id") and listed_path("name") and listed_path("location")


def test_the_checker_refuses_what_the_spec_does_not_list():
    # The spelling Microsoft's MCP tutorials send at 2025-02-02-preview, and a runtime no version lists.
    body = {
        "location": "westus2",
        "properties": {"containerType": "NodeJS", "mcpServerSettings": {"isMCPServerEnabled": True}},
    }
    assert unlisted(body, request=True) == [
        "properties.mcpServerSettings.isMCPServerEnabled is not in the 2026-03-02-preview spec"
    ]
    assert any("containerType" in error and "NodeJS" in error for error in schema_errors(body))
    # A read-only property sent, and a property missing that the spec requires.
    assert unlisted({"location": "x", "properties": {"poolManagementEndpoint": "https://x"}}, request=True) == [
        "properties.poolManagementEndpoint is read-only"
    ]
    assert any("'location' is a required property" in error for error in schema_errors({"properties": {}}))
    assert not listed_path("properties", "mcpServerEndpoint")


@pytest.mark.parametrize(
    ("identities", "kind"),
    [
        (("system",), "SystemAssigned"),
        ((USER_IDENTITY,), "UserAssigned"),
        (("system", USER_IDENTITY), "SystemAssigned,UserAssigned"),
        ((), None),
    ],
)
def test_identity_types_are_the_spec_spellings(identities, kind):
    assert pool_body.identity_type(identities) == kind
    if kind:
        identity = {"type": kind}
        if USER_IDENTITY in identities:
            identity["userAssignedIdentities"] = {USER_IDENTITY: {}}
        assert schema_errors({"location": "x", "identity": identity}) == []
