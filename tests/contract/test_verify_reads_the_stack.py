"""`smoke --verify` against what the program really exports and sends, for every committed stack.

The program runs under the mock runtime; its exports are what `pulumi stack output --json` would show, and
ARM's answer is built from the very body and grants the program declared. If Azure keeps what was sent,
--verify finds no difference and no unknown value; if Azure changed one property, it names that one.
"""

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest

from dynamic_sessions.client.arm import PoolState, RoleAssignment
from dynamic_sessions.smoke.compare import Comparison, compare_grants, compare_pool
from dynamic_sessions.smoke.declared import Declaration, from_outputs
from tests.pulumi_harness import POOL_TYPE, pool_response, run_program, stack_config

STACKS = sorted(path.stem.split(".", 1)[1] for path in Path(__file__).parents[2].glob("Pulumi.*.yaml"))
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"


@pytest.fixture(autouse=True)
def own_event_loop() -> Iterator[None]:
    """Each program run on an event loop of its own: a test process may have run other Pulumi programs, or
    `asyncio.run`, before this file, and their leftover tasks must not wake on this one's loop."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


def deployed(stack: str, check) -> pulumi.Output:
    """Runs the stack's program; calls `check(declaration, held_pool_body, held_assignments)` once resolved."""
    mocks, exports, program = run_program(stack_config(stack), stack=stack)
    names = sorted(exports)
    # The grants' own ids too: each is registered (and recorded by the mocks) only once its inputs resolve.
    registered = [grant.id for grant in program["pool"].role_assignments]

    def resolved(values: list[Any]) -> None:
        outputs = dict(zip(names, values[: len(names)], strict=True))
        (pool,) = mocks.of_type(POOL_TYPE)
        _, body = pool_response(pool.inputs, pool.inputs["location"])
        assignments = [
            RoleAssignment(
                id=f"{a.inputs['scope']}/providers/Microsoft.Authorization/roleAssignments/{a.name}",
                principal_id=a.inputs["principalId"],
                principal_type=a.inputs["principalType"],
                role_definition_id=a.inputs["roleDefinitionId"],
                scope=a.inputs["scope"],
            )
            for a in mocks.of_type(ROLE_ASSIGNMENT)
        ]
        check(from_outputs(outputs, f"stack {stack}"), body, assignments)

    return pulumi.Output.all(*(exports[n] for n in names), *registered).apply(resolved)


def compared(declared: Declaration, body: dict[str, Any], assignments: list[RoleAssignment]) -> Comparison:
    result = Comparison()
    compare_pool(declared, PoolState.from_body(body), result)
    compare_grants(declared, assignments, result)
    return result


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_verify_knows_every_value_a_committed_stack_declares_and_finds_azure_equal(stack):
    def check(declared: Declaration, body: dict[str, Any], assignments: list[RoleAssignment]) -> None:
        assert declared.unknown == []
        assert assignments, "the stack declares grants (the deployer's at least)"
        result = compared(declared, body, assignments)
        assert result.differences == []
        assert result.other_grants == []
        for name in ("container type", "egress", "cooldown", "max sessions", "endpoint", "location"):
            assert name in result.compared
        assert sum(n.startswith("grant ") for n in result.compared) == len(assignments)

    return deployed(stack, check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_azure_turning_egress_around_is_the_one_difference_named(stack):
    def check(declared: Declaration, body: dict[str, Any], assignments: list[RoleAssignment]) -> None:
        network = body["properties"]["sessionNetworkConfiguration"]
        sent = network["status"]
        network["status"] = "EgressDisabled" if sent == "EgressEnabled" else "EgressEnabled"
        (difference,) = compared(declared, body, assignments).differences
        declared_word = "on" if sent == "EgressEnabled" else "off"
        assert difference.message == f"egress: declared {declared_word}, Azure has {network['status']}"

    return deployed(stack, check)


@pytest.mark.parametrize("stack", STACKS)
@pulumi.runtime.test
def test_a_grant_azure_does_not_hold_is_named(stack):
    def check(declared: Declaration, body: dict[str, Any], assignments: list[RoleAssignment]) -> None:
        missing, *kept = assignments
        (difference,) = compared(declared, body, kept).differences
        assert difference.property.startswith(f"grant {missing.principal_id} ")
        assert difference.message.endswith("declared, Azure has no such assignment on the pool")

    return deployed(stack, check)
