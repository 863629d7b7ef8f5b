"""The pool's body, as the program sends it for every committed stack and for every setting, against the
published spec of the API version it is sent at; and the answer the outputs are read from, against the same
spec. The body as data, and the spec checker itself, are tested in tests/unit/settings/test_pool_body.py."""

import pulumi
import pytest

from components import pool_body
from tests.pulumi_harness import (
    POOL_TYPE,
    arm_request_body,
    pool_response,
    run_program,
)
from tests.spec_check import schema_errors, unlisted
from tests.unit.settings.helpers import BODY_CASES


def _sent(config: dict[str, str], check) -> pulumi.Output:
    mocks, exports, _ = run_program(config)
    return exports["poolId"].apply(lambda _: check(mocks.of_type(POOL_TYPE)[0].inputs))


@pytest.mark.parametrize("case", sorted(BODY_CASES))
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

    return _sent(BODY_CASES[case], check)
