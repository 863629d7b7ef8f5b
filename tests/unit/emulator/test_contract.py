"""The data plane's request contract as the emulator parses it (dynamic_sessions/emulator/api/contract.py):
bodies, query parameters and headers as data, each refusal with its status, code and what is allowed."""

import base64

import pytest

from dynamic_sessions.emulator.api import contract
from dynamic_sessions.emulator.api.contract import BadRequest

EXECUTION = {"codeInputType": "Inline", "executionType": "Synchronous", "code": "1 + 1", "timeoutInSeconds": 5}


def _refused(call, *args, **kwargs) -> BadRequest:
    with pytest.raises(BadRequest) as raised:
        call(*args, **kwargs)
    return raised.value


def test_an_executions_body_gives_its_code_type_timeout_and_options():
    code, kind, timeout, options = contract.executions_request({**EXECUTION, "outputStreamsMaxLength": 10})
    assert (code, kind, timeout) == ("1 + 1", "Synchronous", 5)
    assert options.output_limit == 10 and not options.empty_kernel and not options.jupyter_format


def test_base64_code_is_decoded():
    encoded = base64.b64encode("'é'".encode()).decode()
    code, *_ = contract.executions_request({**EXECUTION, "codeInputType": "InlineBase64", "code": encoded})
    assert code == "'é'"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "This api-version expects"),
        ({"properties": EXECUTION}, "This api-version expects"),
        ({"code": "1"}, "Missing required field(s): codeInputType, executionType, timeoutInSeconds."),
        ({**EXECUTION, "codeInputType": "File"}, "codeInputType must be"),
        ({**EXECUTION, "executionType": "Later"}, "executionType must be"),
        ({**EXECUTION, "code": 5}, "code must be a string"),
        ({**EXECUTION, "codeInputType": "InlineBase64", "code": "%%%"}, "not valid base64"),
        ({**EXECUTION, "timeoutInSeconds": 0}, "timeoutInSeconds must be an integer in 1..220"),
        ({**EXECUTION, "timeoutInSeconds": 221}, "timeoutInSeconds must be an integer in 1..220"),
        ({**EXECUTION, "timeoutInSeconds": True}, "timeoutInSeconds must be an integer in 1..220"),
        ({**EXECUTION, "timeoutInSeconds": 5.5}, "timeoutInSeconds must be an integer in 1..220"),
        ({**EXECUTION, "outputStreamsMaxLength": 0}, "outputStreamsMaxLength is 0; it must be an integer in 1.."),
    ],
)
def test_a_bad_executions_body_gets_400_saying_what_is_allowed(body, message):
    refused = _refused(contract.executions_request, body)
    assert (refused.status, refused.code) == (400, "InvalidRequest")
    assert message in refused.message


def test_every_problem_with_the_optional_fields_is_named_at_once():
    body = {
        **EXECUTION,
        "outputStreamsMaxLength": "9",
        "useEmptyKernel": "yes",
        "returnJupyterFormatExecutionResult": 1,
    }
    message = _refused(contract.executions_request, body).message
    for name in ("outputStreamsMaxLength", "useEmptyKernel", "returnJupyterFormatExecutionResult"):
        assert name in message


def test_the_output_limit_is_held_to_the_emulators_most():
    assert "in 1..50" in _refused(contract.executions_request, {**EXECUTION, "outputStreamsMaxLength": 51}, 50).message


def test_a_legacy_body_gives_its_code_and_the_default_timeout():
    code, timeout, _ = contract.legacy_request(
        {"properties": {"codeInputType": "inline", "executionType": "synchronous", "code": "2"}}
    )
    assert (code, timeout) == ("2", contract.DEFAULT_LEGACY_TIMEOUT_S)


@pytest.mark.parametrize(
    "properties",
    [
        None,
        {"codeInputType": "file", "executionType": "synchronous", "code": "1"},
        {"codeInputType": "inline", "executionType": "asynchronous", "code": "1"},
        {"codeInputType": "inline", "executionType": "synchronous", "code": 1},
    ],
)
def test_a_bad_legacy_body_gets_400(properties):
    assert _refused(contract.legacy_request, {"properties": properties}).status == 400


def test_an_api_version_is_required_known_and_served_by_the_route():
    assert (
        contract.api_version({"api-version": "2025-10-02-preview"}, contract.SESSION_VERSIONS, "x")
        == "2025-10-02-preview"
    )
    assert _refused(contract.api_version, {}, contract.ALL_VERSIONS, "x").code == "MissingApiVersionParameter"
    unknown = _refused(contract.api_version, {"api-version": "2020-01-01"}, contract.ALL_VERSIONS, "x")
    assert unknown.code == "UnsupportedApiVersion" and all(v in unknown.message for v in contract.ALL_VERSIONS)
    elsewhere = _refused(
        contract.api_version, {"api-version": contract.LEGACY_VERSIONS[0]}, contract.SESSION_VERSIONS, "/session"
    )
    assert (elsewhere.status, elsewhere.code) == (404, "NotFound") and "/session does not exist" in elsewhere.message


@pytest.mark.parametrize("value", ["abc", "a" * 129, "with space", "abcd\n", "é" * 5])
def test_an_identifier_outside_the_allowed_characters_or_lengths_gets_400(value):
    assert _refused(contract.identifier, {"identifier": value}).code == "InvalidIdentifier"


def test_an_identifier_is_required_and_punctuation_is_allowed():
    assert _refused(contract.identifier, {}).code == "MissingIdentifier"
    assert contract.identifier({"identifier": "user-42_{x}|a.b@c"}) == "user-42_{x}|a.b@c"


def test_an_operation_id_is_optional_and_held_to_128_printable_characters():
    assert contract.operation_id(None) is None and contract.operation_id("") is None
    assert contract.operation_id("0f8fad5b-d9cb-469f-a165-70867728950e") == "0f8fad5b-d9cb-469f-a165-70867728950e"
    for bad in ("a" * 129, "with space", "tab\t"):
        refused = _refused(contract.operation_id, bad)
        assert refused.status == 400 and "1 to 128 printable ASCII" in refused.message


def test_an_error_response_carries_the_code_in_body_and_header():
    response = contract.error_response(429, "TooManyRequests", "slow down", {"Retry-After": "1"})
    assert response.status_code == 429
    assert response.headers["x-ms-error-code"] == "TooManyRequests" and response.headers["retry-after"] == "1"
    assert response.body == b'{"error":{"code":"TooManyRequests","message":"slow down"}}'
