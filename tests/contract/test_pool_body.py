"""The pool's body, as the program sends it for every committed stack and for every setting, against the
published spec of the API version it is sent at; and the answer the outputs are read from, against the same
spec. The body as data, and the spec checker itself, are tested in tests/unit/settings/test_pool_body.py."""

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
from tests.spec_check import schema_errors, unlisted

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


def _sent(config: dict[str, str], check) -> pulumi.Output:
    mocks, exports, _ = run_program(config)
    return exports["poolId"].apply(lambda _: check(mocks.of_type(POOL_TYPE)[0].inputs))


@pytest.mark.parametrize("case", sorted(CASES))
@pulumi.runtime.test
def test_the_body_sent_and_the_answer_read_back_have_the_shape_of_the_version_sent(case):
    def check(inputs):
        assert inputs["apiVersion"] == pool_body.API_VERSION
        body = arm_request_body(inputs)
        assert schema_errors(body) == []
        assert unlisted(body, request=True) == []
        _, answer = pool_response(inputs, inputs["location"])
        assert schema_errors(answer) == []
        assert unlisted(answer, request=False) == []

    return _sent(CASES[case], check)
