"""The count of JSON values that bounds the parser's work on a request body: exact enough that no legitimate body
(long code, escapes, punctuation inside strings) is refused, and that no body of many values slips through."""

import json

import pytest

from dynamic_sessions.emulator.api.bodies import MAX_JSON_VALUES, json_values

MB4 = 4 * 1024 * 1024


def _many(unit: bytes) -> bytes:
    return b"[" + b",".join([unit] * (MB4 // (len(unit) + 1))) + b"]"


@pytest.mark.parametrize("unit", [b"[]", b"{}", b"0", b'""', b'"\\\\"', b'{"a":[]}', b'"\\"",[]'])
def test_a_body_of_many_small_values_is_counted_above_the_limit(unit):
    assert json_values(_many(unit)) > MAX_JSON_VALUES


@pytest.mark.parametrize(
    "body",
    [
        {"code": "x = [[1, 2], [3, 4], {'a': \"b\"}]\n" * 100_000, "codeInputType": "Inline"},
        {"code": 'print("\\\\", "[", ",", "\\"")\n' * 100_000},
        {"execCommandAndArgs": ["echo", *['a,[{\\"' for _ in range(MAX_JSON_VALUES - 10)]]},
        [{"jsonrpc": "2.0", "id": n, "params": {"arguments": {"c": "[{," * 80_000}}} for n in range(16)],
    ],
)
def test_long_code_and_punctuation_inside_strings_are_not_counted(body):
    raw = json.dumps(body).encode()
    assert len(raw) < MB4
    assert json_values(raw) <= MAX_JSON_VALUES
