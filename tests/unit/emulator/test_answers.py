"""A kernel's answer read without trusting it (dynamic_sessions/emulator/sessions/answers.py), as data."""

import json

import pytest

from dynamic_sessions.emulator.sessions.answers import (
    ANSWER_SLACK_BYTES,
    ANSWER_SLACK_TOKENS,
    BYTES_PER_CHAR,
    RESULT_LIMIT,
    SMALL_ANSWER_BYTES,
    TOKENS_PER_RESULT_CHAR,
    ForgedAnswer,
    answer_bytes,
    answer_tokens,
    parse_answer,
)


def _line(**fields: object) -> bytes:
    answer = {"ok": True, "stdout": "", "stderr": "", "result": "", "ms": 1, "seq": 1, **fields}
    return json.dumps(answer).encode()


def test_an_answers_further_fields_pass_through_each_cut_to_the_limit():
    bundle = {"text/html": "<b>x</b>", "text/plain": "x"}
    parsed = parse_answer(_line(mime=bundle, image={"data": "i" * 5000}, stdout="o" * 5000), 100, 100)
    assert parsed.extra["mime"] == bundle
    assert isinstance(parsed.extra["image"], str) and parsed.extra["image"].endswith("; the limit is 100]")
    assert parsed.stdout.startswith("o" * 100) and len(parsed.stdout) < 300


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"[]",
        b'{"ok": true}',
        _line()[:-1],
        _line() + b" trailing",
        _line().replace(b'"seq": 1', b'"seq": 1, "seq": 2'),
        _line().replace(b'"ok": true', b'"ok": "yes"'),
        _line().replace(b'"ms": 1', b'"ms": NaN'),
        _line().replace(b'"ms": 1', b'"ms": 1e999'),
        _line(result=[[]] * 3000),  # 9,000 tokens, past 4,096 + 2 per character of the result limit
        _line(stdout="x" * 80_000),  # past 64 KiB + 12 bytes per character of both limits
    ],
)
def test_anything_but_an_answer_within_its_bounds_is_refused(line):
    with pytest.raises(ForgedAnswer):
        parse_answer(line, 100, 100)


def test_a_small_answer_is_read_whole():
    parsed = parse_answer(_line(seq=7, ok=False, stdout="out\n", stderr="err\n", result={"k": [1, 2]}, ms=12.5), 100)
    assert (parsed.seq, parsed.ok, parsed.stdout, parsed.stderr, parsed.result, parsed.ms) == (
        7,
        False,
        "out\n",
        "err\n",
        {"k": [1, 2]},
        12.5,
    )
    assert parsed.extra == {}


def test_a_large_answer_is_walked_field_by_field_to_the_same_values():
    stdout = "s" * (2 * SMALL_ANSWER_BYTES)
    line = _line(stdout=stdout, result={"nested": [1, "two", None, True]})
    assert len(line) > SMALL_ANSWER_BYTES
    parsed = parse_answer(line, len(stdout), 1000)
    assert parsed.stdout == stdout and parsed.result == {"nested": [1, "two", None, True]}


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_each_output_stream_is_cut_to_the_requests_limit_and_says_so(stream):
    parsed = parse_answer(_line(**{stream: "z" * 500}), 10)
    text = getattr(parsed, stream)
    assert text.startswith("z" * 10) and "[output truncated:" in text and not text.startswith("z" * 11)


def test_the_result_is_cut_to_the_result_limit_not_the_output_limit():
    parsed = parse_answer(_line(result="r" * 500, stdout="o" * 50), 100, 200)
    assert parsed.stdout == "o" * 50
    assert (
        isinstance(parsed.result, str) and parsed.result.startswith("r" * 200) and "[result truncated:" in parsed.result
    )


def test_lone_surrogates_in_an_answer_are_kept_as_they_came():
    line = b'{"ok": true, "stdout": "a\\ud800b", "stderr": "", "result": "\\udfff", "ms": 1, "seq": 1}'
    parsed = parse_answer(line, 100)
    assert parsed.stdout == "a\ud800b" and parsed.result == "\udfff"


def test_an_answers_room_on_the_channel_grows_with_each_limit():
    assert answer_bytes(100, 200) == ANSWER_SLACK_BYTES + BYTES_PER_CHAR * 2 * 300
    assert answer_bytes(100) == answer_bytes(100, RESULT_LIMIT)
    assert answer_bytes(101, 200) > answer_bytes(100, 200) and answer_bytes(100, 201) > answer_bytes(100, 200)


def test_an_answers_tokens_grow_with_the_result_limit_only():
    assert answer_tokens(1000) == ANSWER_SLACK_TOKENS + TOKENS_PER_RESULT_CHAR * 1000
    assert answer_tokens() == answer_tokens(RESULT_LIMIT)
