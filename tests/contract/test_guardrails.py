"""Production guardrails and the pool's further settings, under the mock runtime: what the engine is asked
to declare (resources, inputs, protect and alias options, lock scope and level, identity in the body)."""

import json

import pulumi
import pytest

from components.session_pool import SessionPool
from components.settings import SettingsError
from tests.pulumi_harness import (
    POOL_IDENTITY,
    POOL_TYPE,
    PROJECT,
    SUBSCRIPTION,
    AzureMocks,
    run_program,
    stack_config,
    use_mocks,
)

GROUP = "azure-native:resources:ResourceGroup"
LOCK = "azure-native:authorization:ManagementLockByScope"
ASSIGNMENT = "azure-native:authorization:RoleAssignment"
USER_IDENTITY = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/ops/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pool"
)


def deploy(overrides: dict[str, str], stack: str = "dev", base: str = "dev"):
    """Runs the program with a committed stack's config and these settings; returns (mocks, exports, ready),
    `ready` an Output resolved once every resource the checks read is registered."""
    config = {**stack_config(base), **{f"{PROJECT}:{k}": v for k, v in overrides.items()}}
    mocks = AzureMocks()
    _, exports, program = run_program(config, stack=stack, mocks=mocks)
    pool = program["pool"]
    waits = [pool.pool_id, *(a.id for a in pool.role_assignments), *([pool.lock.id] if pool.lock else [])]
    names = sorted(exports)
    ready = pulumi.Output.all(*waits, *(exports[n] for n in names)).apply(
        lambda values: dict(zip(names, values[len(waits) :], strict=True))
    )
    return mocks, ready


@pulumi.runtime.test
def test_protect_reaches_the_group_the_pool_the_grants_and_the_lock():
    mocks, ready = deploy({"protect": "true", "lock": "CanNotDelete"})

    def check(_):
        protected = {name for name, options in mocks.options.items() if options["protect"]}
        assert protected == {"dev-rg", "dev-pool", "dev-executor-deployer", "dev-lock"}

    return ready.apply(check)


@pulumi.runtime.test
def test_nothing_is_protected_or_locked_by_default():
    mocks, ready = deploy({})

    def check(_):
        assert not any(options["protect"] for options in mocks.options.values())
        assert mocks.of_type(LOCK) == []

    return ready.apply(check)


@pulumi.runtime.test
def test_the_committed_prod_stack_is_protected_and_locked():
    mocks, ready = deploy({}, stack="prod", base="prod")

    def check(_):
        assert mocks.options["prod-pool"]["protect"] and mocks.options["prod-rg"]["protect"]
        (lock,) = mocks.of_type(LOCK)
        assert lock.inputs["level"] == "CanNotDelete"
        assert mocks.options["prod-lock"]["protect"]

    return ready.apply(check)


@pytest.mark.parametrize("level", ["CanNotDelete", "ReadOnly"])
@pulumi.runtime.test
def test_a_lock_sits_on_the_pool_after_its_grants(level):
    mocks, ready = deploy({"lock": level})

    def check(out):
        (lock,) = mocks.of_type(LOCK)
        assert lock.inputs["scope"] == out["poolId"]
        assert lock.inputs["level"] == level
        assert lock.inputs["lockName"] == "dynamicsessionsdev-lock"
        grant_urns = [u for u in mocks.options["dev-lock"]["dependencies"] if "RoleAssignment" in u]
        assert len(grant_urns) == len(mocks.of_type(ASSIGNMENT)) == 1

    return ready.apply(check)


@pulumi.runtime.test
def test_the_pool_keeps_its_old_type_as_an_alias_and_a_new_container_type_replaces_it():
    mocks, ready = deploy({})

    def check(_):
        aliases = mocks.options["dev-pool"]["aliases"]
        assert [a for a in aliases if '"azure-native:app:ContainerAppsSessionPool"' in a]
        assert mocks.options["dev-pool"]["deleteBeforeReplace"]
        replaced = set(mocks.options["dev-pool"]["replaceOnChanges"])
        assert replaced == {"location", "properties.containerType", "properties.poolManagementType"}

    return ready.apply(check)


@pulumi.runtime.test
def test_an_explicit_group_name_is_the_created_groups_name():
    mocks, ready = deploy({"resourceGroupName": "rg-sessions-dev"})

    def check(out):
        (group,) = mocks.of_type(GROUP)
        assert group.inputs["resourceGroupName"] == "rg-sessions-dev"
        assert mocks.of_type(POOL_TYPE)[0].inputs["resourceGroupName"] == out["resourceGroupName"] == "rg-sessions-dev"

    return ready.apply(check)


@pulumi.runtime.test
def test_an_existing_group_is_used_and_never_declared():
    mocks, ready = deploy({"existingResourceGroup": "platform-shared", "protect": "true"})

    def check(out):
        assert mocks.of_type(GROUP) == []
        assert mocks.of_type(POOL_TYPE)[0].inputs["resourceGroupName"] == out["resourceGroupName"] == "platform-shared"
        assert "dev-rg" not in mocks.options

    return ready.apply(check)


@pulumi.runtime.test
def test_default_tags_are_merged_under_the_given_ones():
    mocks, ready = deploy({"tags": json.dumps({"costCenter": "platform", "managedBy": "platform-team"})})

    def check(_):
        expected = {"managedBy": "platform-team", "stack": "dev", "project": PROJECT, "costCenter": "platform"}
        assert mocks.of_type(POOL_TYPE)[0].inputs["tags"] == expected
        assert mocks.of_type(GROUP)[0].inputs["tags"] == expected

    return ready.apply(check)


@pulumi.runtime.test
def test_without_tags_the_defaults_say_who_manages_the_resources():
    mocks, ready = deploy({})
    expected = {"managedBy": "pulumi", "stack": "dev", "project": PROJECT}
    return ready.apply(lambda _: _assert_equal(mocks.of_type(POOL_TYPE)[0].inputs["tags"], expected))


def _assert_equal(actual, expected) -> None:
    assert actual == expected


@pulumi.runtime.test
def test_a_system_identity_is_in_the_body_and_its_principal_is_exported():
    mocks, ready = deploy({"identity": json.dumps(["system"]), "identityLifecycle": "Main"})

    def check(out):
        inputs = mocks.of_type(POOL_TYPE)[0].inputs
        assert inputs["identity"] == {"type": "SystemAssigned"}
        assert inputs["properties"]["managedIdentitySettings"] == [{"identity": "system", "lifecycle": "Main"}]
        assert out["poolIdentityPrincipalId"] == POOL_IDENTITY

    return ready.apply(check)


@pulumi.runtime.test
def test_user_assigned_identities_are_listed_and_no_principal_is_exported():
    mocks, ready = deploy({"identity": json.dumps([USER_IDENTITY])})

    def check(out):
        inputs = mocks.of_type(POOL_TYPE)[0].inputs
        assert inputs["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [USER_IDENTITY]}
        assert inputs["properties"]["managedIdentitySettings"] == [{"identity": USER_IDENTITY, "lifecycle": "None"}]
        assert "poolIdentityPrincipalId" not in out

    return ready.apply(check)


@pulumi.runtime.test
def test_a_shell_pool_with_the_mcp_server_exports_its_endpoint():
    mocks, ready = deploy({"containerType": "Shell", "mcpServer": "true"})

    def check(out):
        sent = mocks.of_type(POOL_TYPE)[0].inputs["properties"]
        assert sent["containerType"] == out["containerType"] == "Shell"
        assert sent["mcpServerSettings"] == {"isMcpServerEnabled": True}
        assert out["mcpServerEndpoint"] == out["poolManagementEndpoint"] + "/mcp"
        assert not any("key" in name.lower() for name in out)

    return ready.apply(check)


@pulumi.runtime.test
def test_without_the_mcp_server_there_is_no_endpoint_output():
    mocks, ready = deploy({})

    def check(out):
        assert "mcpServerSettings" not in mocks.of_type(POOL_TYPE)[0].inputs["properties"]
        assert "mcpServerEndpoint" not in out

    return ready.apply(check)


def test_the_component_given_bad_inputs_directly_refuses_them_before_any_resource():
    # Each rule for typed inputs: tests/unit/settings/test_input_rules.py. Here: the component runs them first.
    mocks = AzureMocks()
    use_mocks(mocks, "app", "dev")
    with pytest.raises(SettingsError) as raised:
        SessionPool("pool", {"location": "northcentralus", "pool_name": "apppool", "lock": "Always", "identity": ["x"]})
    assert raised.value.problems == [
        "lock=Always is not allowed: one of none, CanNotDelete, ReadOnly",
        "identity[0]=x is not allowed: 'system', or a user-assigned identity's resource id "
        "(/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>)",
    ]
    assert mocks.resources == []
