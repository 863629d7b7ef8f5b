"""The upgrade check's plan, on recorded resources: what the engine pairs, what it replaces and why."""

import copy

import pytest

from ci.upgrade_check import Change, declared, plan, unreleased_notes

STACK_URN = "urn:pulumi:dev::dynamic-sessions::pulumi:pulumi:Stack$dynamic-sessions:index:SessionPool::dev"
PARENT = "dynamic-sessions:index:SessionPool"
GENERIC = "azure-native:resources:Resource"
TYPED = "azure-native:app:ContainerAppsSessionPool"
ASSIGNMENT = "azure-native:authorization:RoleAssignment"


def urn(type_: str, name: str, parent: str = PARENT) -> str:
    return f"urn:pulumi:dev::dynamic-sessions::{parent}${type_}::{name}"


def pool(name: str = "dev-pool", type_: str = GENERIC, aliases: list[str] | None = None, **properties) -> dict:
    return {
        "urn": urn(type_, name),
        "type": type_,
        "name": name,
        "parent": STACK_URN,
        "inputs": {
            "apiVersion": "2026-03-02-preview",
            "resourceGroupName": "dev-rg0000",
            "resourceName": "dynamicsessionsdev",
            "location": "northcentralus",
            "properties": {
                "containerType": "NodeLTS",
                "scaleConfiguration": {"maxConcurrentSessions": 5},
                **properties,
            },
        },
        "aliases": aliases or [],
        "replaceOnChanges": ["location", "properties.containerType", "properties.poolManagementType"],
    }


def grant(principal: str = "0000-user") -> dict:
    return {
        "urn": urn(ASSIGNMENT, "dev-executor-deployer"),
        "type": ASSIGNMENT,
        "name": "dev-executor-deployer",
        "parent": STACK_URN,
        "inputs": {"scope": "/pool", "principalId": principal, "roleAssignmentName": "guid-1"},
        "aliases": [],
        "replaceOnChanges": [],
    }


def only(changes: list[Change]) -> Change:
    assert len(changes) == 1, changes
    return changes[0]


def test_the_same_program_changes_nothing():
    assert [c.change for c in plan([pool(), grant()], [pool(), grant()])] == ["unchanged", "unchanged"]


def test_an_update_that_is_only_an_update_names_its_inputs_and_replaces_nothing():
    new = pool(scaleConfiguration={"maxConcurrentSessions": 50})
    new["inputs"]["apiVersion"] = "2026-07-01-preview"
    change = only(plan([pool()], [new]))
    assert change.change == "updated"
    assert change.inputs == ["apiVersion", "properties.scaleConfiguration.maxConcurrentSessions"]
    assert change.why == []


def test_a_renamed_pool_is_replaced_because_its_logical_name_changed_without_an_alias():
    change = only(plan([pool()], [pool(name="dev-sessions")]))
    assert (change.change, change.name, change.old_urn) == ("replaced", "dev-sessions", urn(GENERIC, "dev-pool"))
    assert change.why == ["its logical name changed from dev-pool to dev-sessions without an alias"]


def test_a_renamed_pool_with_an_alias_to_its_old_name_is_the_same_pool():
    change = only(plan([pool()], [pool(name="dev-sessions", aliases=[urn(GENERIC, "dev-pool")])]))
    assert (change.change, change.old_urn) == ("unchanged", urn(GENERIC, "dev-pool"))


def test_a_type_change_keeps_the_pool_through_its_alias_and_replaces_it_once_the_alias_is_lost():
    typed = pool(type_=TYPED)
    kept = only(plan([typed], [pool(aliases=[urn(TYPED, "dev-pool")])]))
    assert (kept.change, kept.old_urn) == ("unchanged", urn(TYPED, "dev-pool"))
    lost = only(plan([typed], [pool()]))
    assert lost.change == "replaced"
    assert lost.why == [f"its type changed from {TYPED} to {GENERIC} without an alias"]


def test_a_parent_type_change_without_an_alias_replaces():
    moved = pool()
    moved["urn"] = urn(GENERIC, "dev-pool", parent="dynamic-sessions:index:Other")
    change = only(plan([pool()], [moved]))
    assert change.change == "replaced" and "its parent changed" in change.why[0]


def test_a_changed_container_type_replaces_the_pool_by_its_replace_on_changes():
    change = only(plan([pool()], [pool(containerType="PythonLTS")]))
    assert change.change == "replaced"
    assert change.why == ["properties.containerType changed: replaceOnChanges lists properties.containerType"]


def test_an_input_azure_cannot_update_replaces_without_replace_on_changes():
    change = only(plan([grant()], [grant(principal="0000-other")]))
    assert change.change == "replaced"
    assert change.why == ["principalId changed: Azure cannot update it in place"]
    renamed = copy.deepcopy(pool())
    renamed["inputs"]["resourceName"] = "otherpool"
    assert only(plan([pool()], [renamed])).why == ["resourceName changed: Azure cannot update it in place"]


def test_resources_only_on_one_side_are_created_or_deleted():
    changes = plan([pool(), grant()], [pool()])
    assert [(c.name, c.change) for c in changes] == [("dev-pool", "unchanged"), ("dev-executor-deployer", "deleted")]
    assert [c.change for c in plan([pool()], [pool(), grant()])] == ["unchanged", "created"]


CHANGELOG = """# Changelog

## [Unreleased]

### Upgrade notes
- `<stack>-pool` is replaced: the container type changed.
- `dev-executor-deployer` is deleted.

## [0.2.0] - 2026-11-30

- `<stack>-rg` replaced long ago.
"""


@pytest.mark.parametrize(
    ("name", "expected"),
    [("dev-pool", True), ("dev-executor-deployer", True), ("dev-rg", False), ("dev-lock", False)],
)
def test_a_replacement_or_deletion_is_declared_only_by_the_unreleased_section(name, expected):
    notes = unreleased_notes(CHANGELOG)
    assert "0.2.0" not in notes
    assert declared(Change(name, GENERIC, "replaced", urn(GENERIC, name)), "dev", notes) is expected


def test_no_unreleased_section_declares_nothing():
    assert unreleased_notes("# Changelog\n\n## [0.1.0] - 2026-01-01\n- `dev-pool`\n") == ""
