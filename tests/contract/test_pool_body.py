"""The pool's body, as sent for every committed stack and for every setting, against the published spec of
the API version it is sent at; and the answer the outputs are read from, against the same spec."""

import json

import pulumi
import pytest

from components import pool_body
from tests.pulumi_harness import (
    POOL_TYPE,
    PROJECT,
    ROOT,
    SUBSCRIPTION,
    arm_request_body,
    pool_response,
    run_program,
    stack_config,
)
from tests.spec_check import SESSION_POOLS, listed_path, schema_errors, unlisted

COMMITTED_STACKS = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))
USER_IDENTITY = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/ops/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pool"
)
EVERYTHING_ON = {
    f"{PROJECT}:containerType": "Shell",
    f"{PROJECT}:mcpServer": "true",
    f"{PROJECT}:readySessions": "2",
    f"{PROJECT}:identity": json.dumps(["system", USER_IDENTITY]),
    f"{PROJECT}:identityLifecycle": "Main",
    f"{PROJECT}:tags": json.dumps({"team": "agents"}),
}
CASES = {
    **{stack: stack_config(stack) for stack in COMMITTED_STACKS},
    "every-setting": {**stack_config("dev"), **EVERYTHING_ON},
}


def test_the_vendored_spec_is_the_version_the_pool_is_declared_at():
    assert json.loads(SESSION_POOLS.read_text())["info"]["version"] == pool_body.API_VERSION == "2026-03-02-preview"


def _sent(config: dict[str, str], check) -> pulumi.Output:
    mocks, exports, _ = run_program(config)
    return exports["poolId"].apply(lambda _: check(mocks.of_type(POOL_TYPE)[0].inputs))


@pytest.mark.parametrize("case", sorted(CASES))
@pulumi.runtime.test
def test_every_property_and_value_sent_is_in_the_spec_of_the_version_sent(case):
    def check(inputs):
        assert inputs["apiVersion"] == pool_body.API_VERSION
        body = arm_request_body(inputs)
        assert schema_errors(body) == []
        assert unlisted(body, request=True) == []

    return _sent(CASES[case], check)


@pytest.mark.parametrize("case", sorted(CASES))
@pulumi.runtime.test
def test_the_answer_the_outputs_come_from_has_that_versions_shape(case):
    def check(inputs):
        _, answer = pool_response(inputs, inputs["location"])
        assert schema_errors(answer) == []
        assert unlisted(answer, request=False) == []

    return _sent(CASES[case], check)


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


def test_an_on_container_exit_lifecycle_is_written_as_the_spec_lists_it():
    properties = pool_body.pool_properties(
        container_type="CustomContainer",
        max_sessions=5,
        ready_sessions=None,
        cooldown_seconds=300,
        egress_enabled=False,
        lifecycle_type="OnContainerExit",
        max_alive_seconds=86400,
    )
    lifecycle = properties["dynamicPoolConfiguration"]["lifecycleConfiguration"]
    assert lifecycle == {"lifecycleType": "OnContainerExit", "maxAlivePeriodInSeconds": 86400}
    body = {
        "location": "westus2",
        "properties": {**properties, "sessionNetworkConfiguration": {"status": "EgressDisabled"}},
    }
    assert unlisted(body, request=True) == [] and schema_errors(body) == []


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
