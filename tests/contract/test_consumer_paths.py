"""The ways another app consumes the pool, each against the pool stack's real exports (its program run under
the mock runtime): the consumer-side grant, the example consumer stack, the ESC environment."""

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components.executor_grant import SessionExecutorGrant
from components.roles import SESSION_EXECUTOR, role_assignment_name
from components.session_pool import SessionPool
from components.settings import SettingsError
from tests import generated_sdk_stand_in
from tests.pulumi_harness import (
    PROJECT,
    ROOT,
    SUBSCRIPTION,
    AzureMocks,
    pool_stack_outputs,
    run_program,
    run_pulumi_program,
    stack_config,
)

CONSUMER = ROOT / "examples" / "consumer-app"
ESC_ENVIRONMENT = ROOT / "examples" / "esc" / "pool-endpoint.yaml"
ASSIGNMENT = "azure-native:authorization:RoleAssignment"
POOL = "azure-native:resources:Resource"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
APP_PRINCIPAL = "3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
APP_CLIENT = "9e8d7c6b-5a49-4837-a261-5f4e3d2c1b0a"
POOL_STACK = "organization/dynamic-sessions/prod"


class ConsumerMocks(AzureMocks):
    """ARM for the app's resources, and the state backend answering a StackReference with given outputs."""

    def __init__(self, pool_outputs: dict[str, Any]) -> None:
        super().__init__()
        self.pool_outputs = pool_outputs

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        if args.typ == STACK_REFERENCE:
            self.resources.append(args)
            name = args.inputs["name"]
            return name, {"name": name, "outputs": self.pool_outputs, "secretOutputNames": []}
        if args.typ == IDENTITY:
            self.resources.append(args)
            group = args.inputs["resourceGroupName"]
            state = {**args.inputs, "principalId": APP_PRINCIPAL, "clientId": APP_CLIENT, "tenantId": "tenant-id"}
            path = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}"
            return f"{path}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{args.name}", state
        return super().new_resource(args)


def run_consumer(pool_outputs: dict[str, Any]) -> tuple[ConsumerMocks, dict[str, Any], dict[str, Any]]:
    config = {"consumer-app:poolStack": POOL_STACK}
    mocks = ConsumerMocks(pool_outputs)
    generated_sdk_stand_in.install()  # the SDK `pulumi package add` generates, which needs the Pulumi CLI
    result = run_pulumi_program(CONSUMER / "__main__.py", "consumer-app", config, stack="dev", mocks=mocks)
    return mocks, result[1], result[2]


@pulumi.runtime.test
def test_consumer_stack_grants_its_identity_on_the_pool_it_reads():
    pool = pool_stack_outputs("prod")
    mocks, exports, program = run_consumer(pool)
    names = sorted(exports)

    def check(values):
        out = dict(zip(names, values, strict=True))
        (reference,) = mocks.of_type(STACK_REFERENCE)
        assert reference.inputs["name"] == POOL_STACK
        assert out["POOL_MANAGEMENT_ENDPOINT"] == pool["poolManagementEndpoint"]
        assert out["AZURE_CLIENT_ID"] == APP_CLIENT
        (identity,) = mocks.of_type(IDENTITY)
        assert identity.inputs["location"] == pool["location"]
        (grant,) = mocks.of_type(ASSIGNMENT)
        assert grant.inputs["scope"] == pool["poolId"]
        assert grant.inputs["principalId"] == APP_PRINCIPAL
        assert grant.inputs["principalType"] == "ServicePrincipal"
        assert grant.inputs["roleDefinitionId"] == pool["sessionExecutorRoleDefinitionId"]
        assert out["roleAssignmentId"].startswith(pool["poolId"] + "/providers/Microsoft.Authorization/")

    return pulumi.Output.all(*(exports[n] for n in names), program["grant"].role_assignment_id).apply(
        lambda values: check(values[:-1])
    )


# Run in an interpreter of their own: a failed update leaves Pulumi's pending output coroutines behind, and their
# warnings would otherwise surface in whichever test runs next. One interpreter runs the three, one after another
# (each from a fresh copy of the pool's outputs), and prints what each raised: each deploy costs it ~0.1 s of
# CPU, where an interpreter of its own costs ~0.7 s (Pulumi's and azure-native's imports).
MISSING = ["poolManagementEndpoint", "poolId", "location"]
FAILED_DEPLOYS = """
import json, sys
import pulumi
from tests.pulumi_harness import pool_stack_outputs
from tests.contract.test_consumer_paths import run_consumer

for missing in sys.argv[1:]:
    pool = {k: v for k, v in pool_stack_outputs("prod").items() if k != missing}

    @pulumi.runtime.test
    def deploy():
        _, exports, program = run_consumer(pool)
        return pulumi.Output.all(*exports.values(), program["grant"].role_assignment_id)

    try:
        deploy()
    except KeyError as error:
        print(json.dumps({missing: {"KeyError": list(error.args)}}))
    else:
        print(json.dumps({missing: "deployed"}))
"""


@pytest.fixture(scope="module")
def failed_deploys() -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", FAILED_DEPLOYS, *MISSING], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return {name: said for line in done.stdout.splitlines() for name, said in json.loads(line).items()}


@pytest.mark.parametrize("missing", MISSING)
def test_consumer_fails_by_name_when_the_pool_stack_lacks_an_output(failed_deploys, missing):
    assert failed_deploys[missing] == {"KeyError": [missing]}


def _pool_side_names(executor: str) -> pulumi.Output:
    entries = f'[{{"principalId": "{executor}", "principalType": "ServicePrincipal"}}]'
    config = {**stack_config("prod"), f"{PROJECT}:executors": entries}
    mocks, _, program = run_program(config, stack="prod")
    ids = [a.id for a in program["pool"].role_assignments]
    return pulumi.Output.all(*ids).apply(
        lambda _: {a.inputs["principalId"]: a.inputs["roleAssignmentName"] for a in mocks.of_type(ASSIGNMENT)}
    )


def test_a_grant_declared_on_both_sides_is_one_arm_resource_so_one_side_only_may_own_it():
    # Same name, same scope: the second stack's create would meet "cannot create already existing resource".
    pool = pool_stack_outputs("prod")
    names: dict[str, str] = {}

    @pulumi.runtime.test
    def pool_side():
        return _pool_side_names(APP_PRINCIPAL).apply(names.update)

    @pulumi.runtime.test
    def app_side():
        mocks, _, program = run_consumer(pool)
        return program["grant"].role_assignment_id.apply(
            lambda _: names.update(app=mocks.of_type(ASSIGNMENT)[0].inputs["roleAssignmentName"])
        )

    pool_side()
    app_side()
    assert names[APP_PRINCIPAL] == names["app"] == role_assignment_name(pool["poolId"], APP_PRINCIPAL, SESSION_EXECUTOR)
    assert len(set(names.values())) == 2  # the deployer's grant is another assignment


@pulumi.runtime.test
def test_grant_component_exports_the_role_definition_and_sends_the_type_given():
    pulumi.runtime.set_mocks(AzureMocks(), project="app", stack="dev", preview=False)
    pool_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.App/sessionPools/pool"
    grant = SessionExecutorGrant("team", {"pool_id": pool_id, "principal_id": APP_PRINCIPAL, "principal_type": "Group"})

    def check(values):
        definition, name = values
        assert definition == (
            f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{SESSION_EXECUTOR}"
        )
        assert name == role_assignment_name(pool_id, APP_PRINCIPAL, SESSION_EXECUTOR)

    return pulumi.Output.all(grant.role_definition_id, grant.role_assignment_name).apply(check)


def test_grant_component_refuses_an_unknown_principal_type_before_any_resource():
    mocks = AzureMocks()
    pulumi.runtime.set_mocks(mocks, project="app", stack="dev", preview=False)
    with pytest.raises(ValueError, match="principalType='App' is not allowed: one of User, Group, ServicePrincipal"):
        SessionExecutorGrant(
            "x", {"pool_id": "/subscriptions/s/x", "principal_id": APP_PRINCIPAL, "principal_type": "App"}
        )
    assert mocks.of_type(ASSIGNMENT) == []


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [ref for value in node.values() for ref in _references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _references(value)]
    return re.findall(r"\$\{([^}]+)\}", node) if isinstance(node, str) else []


def test_esc_environment_reads_only_outputs_the_pool_stack_exports():
    environment = yaml.safe_load(ESC_ENVIRONMENT.read_text())["values"]
    [(alias, opened)] = [
        (k, v) for k, v in environment.items() if isinstance(v, dict) and "fn::open::pulumi-stacks" in v
    ]
    stacks = opened["fn::open::pulumi-stacks"]["stacks"]
    assert set(stacks) == {"pool"}
    project, stack = stacks["pool"]["stack"].split("/")
    assert project == PROJECT and (ROOT / f"Pulumi.{stack}.yaml").exists()

    exported = set(pool_stack_outputs(stack))
    references = _references({k: v for k, v in environment.items() if k != alias})
    assert references, "the environment exposes nothing"
    for reference in references:
        first, name, output = reference.split(".")
        assert (first, name) == (alias, "pool")
        assert output in exported, f"{reference}: the pool stack exports no {output}"
    assert (
        environment["environmentVariables"]["POOL_MANAGEMENT_ENDPOINT"] == f"${{{alias}.pool.poolManagementEndpoint}}"
    )
    assert environment["pulumiConfig"]["poolManagementEndpoint"] == f"${{{alias}.pool.poolManagementEndpoint}}"


def test_consumer_reads_only_outputs_the_pool_stack_exports():
    source = Path(CONSUMER / "__main__.py").read_text()
    read = set(re.findall(r'require_output\("([^"]+)"\)', source))
    assert read == {"poolManagementEndpoint", "poolId", "location"}
    assert read <= set(pool_stack_outputs("prod"))


DIRECT: dict[str, Any] = {"location": "northcentralus", "pool_name": "apppool"}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"max_sessions": 601}, "maxSessions=601 is out of range: 1..600"),
        ({"max_sessions": 5, "ready_sessions": 9}, "readySessions=9 is out of range: 0..5 (at most maxSessions=5)"),
        ({"cooldown_seconds": 30}, "cooldownSeconds=30 is out of range: 300..3600"),
        ({"pool_name": "App-Pool"}, "poolName=App-Pool is not allowed"),
        ({"container_type": "Bash"}, "containerType=Bash is not allowed: one of NodeLTS, PythonLTS, Shell"),
        ({"location": "North Central US"}, "location=North Central US is not allowed"),
        ({"deployer_principal_type": "Group"}, "deployerPrincipalType=Group is not allowed"),
        (
            {"executors": [{"principal_id": "not-a-guid", "principal_type": "ServicePrincipal"}]},
            "executors[0].principalId=not-a-guid is not allowed",
        ),
        ({"tags": {"a/b": "c"}}, "tags.a/b=a/b is not allowed"),
    ],
)
def test_a_pool_given_bad_inputs_directly_refuses_them_by_name_before_any_resource(inputs, message):
    # As a program in another language would declare it, without stack config in between.
    mocks = AzureMocks()
    pulumi.runtime.set_mocks(mocks, project="app", stack="dev", preview=False)
    with pytest.raises(SettingsError) as raised:
        SessionPool("pool", {**DIRECT, **inputs})  # type: ignore[typeddict-item]
    assert message in str(raised.value)
    assert mocks.resources == []


@pulumi.runtime.test
def test_a_pool_input_known_only_at_deploy_time_is_left_to_azure():
    mocks = AzureMocks()
    pulumi.runtime.set_mocks(mocks, project="app", stack="dev", preview=False)
    inputs = {**DIRECT, "max_sessions": pulumi.Output.from_input(20), "ready_sessions": 2}
    pool = SessionPool("pool", inputs)  # type: ignore[arg-type]

    def check(name: str) -> None:
        [sent] = mocks.of_type(POOL)
        assert name == "apppool" and sent.inputs["properties"]["scaleConfiguration"]["maxConcurrentSessions"] == 20

    return pool.pool_name.apply(check)
