"""The Pulumi program under the mock runtime, with the committed stack files and with bad settings."""

import json
import re
import uuid

import pulumi
import pytest

from components.checks import default_pool_name
from components.roles import SESSION_EXECUTOR, SESSION_POOLS_CONTRIBUTOR
from tests.pulumi_harness import (
    DEPLOYER,
    POOL_TYPE,
    PROJECT,
    ROOT,
    SERVICE_PRINCIPAL_CLAIMS,
    SUBSCRIPTION,
    AzureMocks,
    run_program,
    stack_config,
)

POOL = POOL_TYPE
ASSIGNMENT = "azure-native:authorization:RoleAssignment"
GROUP = "azure-native:resources:ResourceGroup"
DOCUMENTED_OUTPUTS = {
    "poolManagementEndpoint",
    "poolName",
    "poolId",
    "resourceGroupName",
    "location",
    "tokenScope",
    "containerType",
    "sessionExecutorRoleDefinitionId",
    "maxSessions",
    "cooldownSeconds",
    "egressEnabled",
    "grants",
    "poolApiVersion",
    "lifecycleType",
}
"""Exported by every stack; `readySessions`, `mcpServerEndpoint` and `poolIdentityPrincipalId` only when the
setting they follow is set."""
CONDITIONAL_OUTPUTS = {"readySessions", "mcpServerEndpoint", "poolIdentityPrincipalId"}
COMMITTED_STACKS = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))

# The tutorial's pool properties (API 2025-01-01 and later), as ARM's `properties` of the generic resource.
TUTORIAL_POOL = {
    "containerType": "NodeLTS",
    "poolManagementType": "Dynamic",
    "scaleConfiguration": {"maxConcurrentSessions": 5},
    "dynamicPoolConfiguration": {"lifecycleConfiguration": {"lifecycleType": "Timed", "cooldownPeriodInSeconds": 300}},
    "sessionNetworkConfiguration": {"status": "EgressEnabled"},
}


def executor_entries(*ids: str, kind: str = "ServicePrincipal") -> str:
    return json.dumps([{"principalId": i, "principalType": kind} for i in ids])


@pulumi.runtime.test
def test_dev_stack_sends_the_tutorials_pool_body():
    mocks, exports, _ = run_program(stack_config("dev"))

    def check(_):
        (pool,) = mocks.of_type(POOL)
        wire = {k: pool.inputs["properties"][k] for k in TUTORIAL_POOL}
        assert wire == TUTORIAL_POOL
        assert pool.inputs["location"] == "northcentralus"
        assert pool.inputs["resourceName"] == "dynamicsessionsdev"
        assert (pool.inputs["resourceProviderNamespace"], pool.inputs["resourceType"]) == (
            "Microsoft.App",
            "sessionPools",
        )
        assert pool.inputs["parentResourcePath"] == ""
        assert pool.inputs["apiVersion"] == "2026-03-02-preview"
        assert "environmentId" not in pool.inputs["properties"]
        assert len(mocks.of_type(GROUP)) == 1

    return exports["poolId"].apply(check)


@pulumi.runtime.test
def test_deployer_grant_is_the_session_executor_at_the_pool_scope():
    mocks, exports, program = run_program(stack_config("dev"))
    (assignment,) = program["pool"].role_assignments

    def check(args):
        pool_id, _ = args
        (grant,) = mocks.of_type(ASSIGNMENT)
        assert grant.inputs["scope"] == pool_id
        assert pool_id.endswith("/providers/Microsoft.App/sessionPools/dynamicsessionsdev")
        assert grant.inputs["roleDefinitionId"] == (
            f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{SESSION_EXECUTOR}"
        )
        assert SESSION_EXECUTOR == "0fb8eba5-a2bb-4abe-b1c1-49dfad359bb0"
        assert grant.inputs["principalId"] == DEPLOYER
        assert grant.inputs["principalType"] == "User"
        assert str(uuid.UUID(grant.inputs["roleAssignmentName"])) == grant.inputs["roleAssignmentName"]

    return pulumi.Output.all(exports["poolId"], assignment.id).apply(check)


def _assignment_names(config: dict[str, str]) -> pulumi.Output:
    mocks, _, program = run_program(config)
    ids = [a.id for a in program["pool"].role_assignments]
    return pulumi.Output.all(*ids).apply(
        lambda _: {a.inputs["principalId"]: a.inputs["roleAssignmentName"] for a in mocks.of_type(ASSIGNMENT)}
    )


@pulumi.runtime.test
def test_assignment_names_are_stable_across_runs_and_differ_per_principal():
    app_id = "8f3c2a51-6b1e-4d9a-9c7e-2a4b5d6e7f80"
    config = {**stack_config("dev"), f"{PROJECT}:executors": executor_entries(app_id)}
    first = _assignment_names(config)
    second = _assignment_names(config)

    def check(names):
        a, b = names
        assert a == b
        assert set(a) == {DEPLOYER, app_id}
        assert a[DEPLOYER] != a[app_id]

    return pulumi.Output.all(first, second).apply(check)


@pulumi.runtime.test
def test_each_executor_gets_its_own_grant_with_its_type():
    people = "0b9a8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d"
    app_id = "8F3C2A51-6B1E-4D9A-9C7E-2A4B5D6E7F80"
    entries = json.dumps(
        [
            {"principalId": app_id, "principalType": "ServicePrincipal"},
            {"principalId": people, "principalType": "Group"},
        ]
    )
    config = {**stack_config("dev"), f"{PROJECT}:executors": entries, f"{PROJECT}:grantDeployer": "false"}
    mocks, _, program = run_program(config)
    ids = [a.id for a in program["pool"].role_assignments]

    def check(_):
        grants = {a.inputs["principalId"]: a.inputs["principalType"] for a in mocks.of_type(ASSIGNMENT)}
        assert grants == {app_id.lower(): "ServicePrincipal", people: "Group"}
        assert {a.name for a in mocks.of_type(ASSIGNMENT)} == {
            f"dev-executor-{app_id.lower()}",
            f"dev-executor-{people}",
        }

    return pulumi.Output.all(*ids).apply(check)


@pulumi.runtime.test
def test_service_principal_deployer_type_is_sent():
    config = {**stack_config("dev"), f"{PROJECT}:deployerPrincipalType": "ServicePrincipal"}
    mocks, _, program = run_program(config, mocks=AzureMocks(SERVICE_PRINCIPAL_CLAIMS))
    (assignment,) = program["pool"].role_assignments
    return assignment.id.apply(lambda _: _check_one_type(mocks, "ServicePrincipal"))


def _check_one_type(mocks, expected: str) -> None:
    (grant,) = mocks.of_type(ASSIGNMENT)
    assert grant.inputs["principalType"] == expected


@pytest.mark.parametrize("stack", COMMITTED_STACKS)
@pulumi.runtime.test
def test_every_committed_stack_exports_every_documented_output(stack):
    config = stack_config(stack)
    mocks, exports, program = run_program(config, stack=stack)
    assert DOCUMENTED_OUTPUTS <= set(exports) <= DOCUMENTED_OUTPUTS | CONDITIONAL_OUTPUTS
    names = sorted(exports)

    def check(values):
        out = dict(zip(names, values, strict=True))
        (pool,) = mocks.of_type(POOL)
        sent = pool.inputs["properties"]
        assert out["poolManagementEndpoint"].startswith("https://")
        assert not out["poolManagementEndpoint"].endswith("/")
        assert out["poolManagementEndpoint"].endswith(f"/sessionPools/{out['poolName']}")
        assert out["poolName"] == pool.inputs["resourceName"] == default_pool_name(PROJECT, stack)
        assert out["location"] == pool.inputs["location"]
        assert out["resourceGroupName"] == pool.inputs["resourceGroupName"]
        assert out["tokenScope"] == "https://dynamicsessions.io/.default"
        assert out["containerType"] == sent["containerType"] == config[f"{PROJECT}:containerType"]
        assert out["sessionExecutorRoleDefinitionId"] == (
            f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{SESSION_EXECUTOR}"
        )
        assert out["poolApiVersion"] == pool.inputs["apiVersion"] == "2026-03-02-preview"
        scale = sent["scaleConfiguration"]
        assert out["maxSessions"] == scale["maxConcurrentSessions"] == int(config[f"{PROJECT}:maxSessions"])
        assert out.get("readySessions") == scale.get("readySessionInstances")
        assert ("readySessions" in out) == (f"{PROJECT}:readySessions" in config)
        lifecycle = sent["dynamicPoolConfiguration"]["lifecycleConfiguration"]
        assert out["cooldownSeconds"] == lifecycle["cooldownPeriodInSeconds"]
        assert out["lifecycleType"] == lifecycle["lifecycleType"] == "Timed"
        assert out["egressEnabled"] is (sent["sessionNetworkConfiguration"]["status"] == "EgressEnabled")
        assert isinstance(out["maxSessions"], int) and isinstance(out["cooldownSeconds"], int)
        grants = {
            (g.inputs["principalId"], g.inputs["principalType"], g.inputs["roleDefinitionId"])
            for g in mocks.of_type(ASSIGNMENT)
        }
        assert {(g["principalId"], g["principalType"], g["roleDefinitionId"]) for g in out["grants"]} == grants
        assert (DEPLOYER, "User", out["sessionExecutorRoleDefinitionId"]) in grants

    assignments = [a.id for a in program["pool"].role_assignments]
    return pulumi.Output.all(*(exports[n] for n in names), *assignments).apply(lambda v: check(v[: len(names)]))


@pulumi.runtime.test
def test_prod_stack_has_a_larger_warm_pool_without_egress_and_tags():
    mocks, exports, program = run_program(stack_config("prod"), stack="prod")
    (assignment,) = program["pool"].role_assignments

    def check(_):
        (pool,) = mocks.of_type(POOL)
        sent = pool.inputs["properties"]
        assert sent["scaleConfiguration"] == {"maxConcurrentSessions": 50, "readySessionInstances": 5}
        assert sent["sessionNetworkConfiguration"] == {"status": "EgressDisabled"}
        assert pool.inputs["tags"]["environment"] == "prod"
        (group,) = mocks.of_type(GROUP)
        assert group.inputs["tags"] == pool.inputs["tags"]
        (grant,) = mocks.of_type(ASSIGNMENT)
        # Derived from the identity deploying (a user here), not hard-coded in the stack file.
        assert grant.inputs["principalType"] == "User"

    return pulumi.Output.all(exports["poolId"], assignment.id).apply(check)


@pulumi.runtime.test
def test_defaults_alone_give_a_closed_small_pool():
    mocks, exports, _ = run_program({"azure-native:location": "westeurope"}, stack="scratch")

    def check(_):
        (pool,) = mocks.of_type(POOL)
        sent = pool.inputs["properties"]
        assert sent["sessionNetworkConfiguration"] == {"status": "EgressDisabled"}
        assert sent["scaleConfiguration"] == {"maxConcurrentSessions": 5}
        assert sent["containerType"] == "NodeLTS"
        assert "mcpServerSettings" not in sent
        assert "identity" not in pool.inputs and "managedIdentitySettings" not in sent
        assert mocks.of_type("azure-native:authorization:ManagementLockByScope") == []
        assert not any(options["protect"] for options in mocks.options.values())

    return exports["poolId"].apply(check)


def test_bad_settings_are_refused_together_by_name_before_any_resource():
    # Each rule and its message: tests/unit/settings. Here: the program hands the stack's config to them.
    config = {**stack_config("dev"), f"{PROJECT}:maxSessions": "0", f"{PROJECT}:cooldownSeconds": "10"}
    mocks = AzureMocks()
    with pytest.raises(pulumi.RunError) as raised:
        run_program(config, mocks=mocks)
    assert str(raised.value) == (
        "invalid stack configuration:\n  maxSessions=0 is out of range: 1..600\n"
        "  cooldownSeconds=10 is out of range: 300..3600"
    )
    assert mocks.resources == []


def test_a_typo_is_refused_instead_of_leaving_the_default():
    config = {k: v for k, v in stack_config("dev").items() if k != f"{PROJECT}:maxSessions"}
    config[f"{PROJECT}:maxsessions"] = "10"
    with pytest.raises(pulumi.RunError) as raised:
        run_program(config)
    message = str(raised.value)
    assert "maxSessions" in message.split("did you mean", 1)[1]
    assert "Known settings: containerType, maxSessions" in message


def test_keys_of_other_namespaces_are_left_alone():
    config = {**stack_config("dev"), "azure-native:subscriptionId": SUBSCRIPTION, "other-app:anything": "x"}
    _, exports, _ = run_program(config)
    assert "poolId" in exports


@pulumi.runtime.test
def test_grant_contributor_adds_the_broader_role_beside_each_executor_grant():
    app_id = "8f3c2a51-6b1e-4d9a-9c7e-2a4b5d6e7f80"
    config = {
        **stack_config("dev"),
        f"{PROJECT}:executors": executor_entries(app_id),
        f"{PROJECT}:grantContributor": "true",
    }
    mocks, _, program = run_program(config)
    ids = [a.id for a in program["pool"].role_assignments]

    def check(_):
        roles: dict[str, set[str]] = {}
        names = set()
        for grant in mocks.of_type(ASSIGNMENT):
            roles.setdefault(grant.inputs["principalId"], set()).add(grant.inputs["roleDefinitionId"].rsplit("/", 1)[1])
            names.add(grant.inputs["roleAssignmentName"])
        both = {SESSION_EXECUTOR, SESSION_POOLS_CONTRIBUTOR}
        assert roles == {DEPLOYER: both, app_id: both}
        assert len(names) == 4

    return pulumi.Output.all(*ids).apply(check)


@pulumi.runtime.test
def test_least_privilege_is_the_default():
    mocks, _, program = run_program(stack_config("prod"), stack="prod")
    ids = [a.id for a in program["pool"].role_assignments]

    def check(_):
        assert {g.inputs["roleDefinitionId"].rsplit("/", 1)[1] for g in mocks.of_type(ASSIGNMENT)} == {SESSION_EXECUTOR}

    return pulumi.Output.all(*ids).apply(check)


def _docs_table_keys(heading: str) -> set[str]:
    pages = [ROOT / "docs" / "deploy.md", *sorted((ROOT / "docs" / "reference").glob("*.md"))]
    section = "\n".join(page.read_text() for page in pages).split(heading, 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([\w:-]+)`", row.split("|")[1])}


def test_docs_outputs_table_lists_exactly_the_exports():
    assert _docs_table_keys("## Outputs\n") == DOCUMENTED_OUTPUTS | CONDITIONAL_OUTPUTS
