"""Reading a kernel's answer without trusting it: session code can write anything to the channel.

An answer is one JSON object on one line: `ok`, `stdout`, `stderr`, `result`, `ms`, `seq`, and any
further fields a kernel adds (passed through). What bounds its cost to the emulator, before and
while it is parsed:

- its size: `answer_bytes(limit)` bytes at most, read in chunks (the line is never read past it);
- its shape: a line past `SMALL_ANSWER_BYTES` is walked field by field; a string value costs its
  own length, and before the first array or object is parsed, the JSON tokens from there to the
  end of the line are counted (one C pass per count) and held to `answer_tokens(limit)`, so no
  answer builds more than that many Python objects, however it nests (a shorter line is parsed at
  once: its few bytes cannot build many);
- its content: output streams are cut to the request's output limit, the result and every further
  field (the Jupyter outputs) to the result limit, here, on what was received, whatever the kernel did.
"""

import json
import math
import re
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

# Room per character of a field: 4 bytes of UTF-8, or 6 for a control character's JSON escape.
BYTES_PER_CHAR = 6
ANSWER_SLACK_BYTES = 64 * 1024
ANSWER_SLACK_TOKENS = 4096
TOKENS_PER_RESULT_CHAR = 2
# The kernels' own limit on a result's JSON, and on its Jupyter outputs' (a figure included): the emulator
# holds what it receives to the same, whatever the kernel did.
RESULT_LIMIT = 1024 * 1024
# A kernel's own truncation marker follows the kept characters; this much past the limit is its marker.
MARKER_CHARS = 200
# Answers up to this long are parsed by the C parser at once (a hello-world's is about 100 bytes).
SMALL_ANSWER_BYTES = 4096
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder(parse_constant=lambda name: name)


class ForgedAnswer(ValueError):
    """The line is no answer a kernel sends: too large, not JSON, or of another shape."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ForgedAnswer("a field is repeated")
    return found


# Kernels write no object with a repeated name: one that has it (a second `seq`, say) is forged.
_SMALL_DECODER = json.JSONDecoder(parse_constant=lambda name: name, object_pairs_hook=_unique)


def answer_bytes(limit: int, result_limit: int = RESULT_LIMIT) -> int:
    """The most bytes one answer may take on the channel: two output streams of `limit` characters, and a
    result and its Jupyter outputs of `result_limit` characters of JSON each."""
    return ANSWER_SLACK_BYTES + BYTES_PER_CHAR * 2 * (limit + result_limit)


def answer_tokens(result_limit: int = RESULT_LIMIT) -> int:
    """The most JSON tokens the answer may hold from its first container on (see `_tokens`). A result and
    its outputs of `result_limit` characters each hold at most about that many; the slack is room for the
    fields after them."""
    return ANSWER_SLACK_TOKENS + TOKENS_PER_RESULT_CHAR * result_limit


@dataclass(frozen=True)
class Answer:
    seq: int
    ok: bool
    stdout: str
    stderr: str
    result: Any
    ms: float
    extra: dict[str, Any] = field(default_factory=dict)
    """Fields past the known ones, each cut to the limit."""


def _tokens(text: str, start: int) -> int:
    """About the JSON values from `start` on: a string per two quotes, a value per comma, and a
    container's cost twice (its object, and the list or dict behind it)."""
    return (
        text.count('"', start) // 2
        + text.count(",", start)
        + text.count(":", start)
        + 2 * (text.count("[", start) + text.count("{", start))
    )


def _cut_text(text: str, limit: int, what: str) -> str:
    if len(text) <= limit + MARKER_CHARS:
        return text
    dropped = len(text) - limit
    return f"{text[:limit]}\n[{what} truncated: {dropped} more characters; the limit is {limit}]\n"


def _cut_value(text: str, found: tuple[Any, int, int], limit: int, what: str) -> Any:
    """A received value held to `limit`: a string by its characters, anything else by its JSON
    (`text[start:end]`, or the value's own JSON when `text` is empty)."""
    value, start, end = found
    if isinstance(value, str):
        return _cut_text(value, limit, what)
    if end - start <= limit + MARKER_CHARS:
        return value
    raw = text[start:end] if text else json.dumps(value, ensure_ascii=False)
    if len(raw) <= limit + MARKER_CHARS:
        return value
    dropped = len(raw) - limit
    return f"{raw[:limit]}\n[{what} truncated: {dropped} more characters of JSON; the limit is {limit}]"


def _small_fields(text: str) -> dict[str, tuple[Any, int, int]]:
    """The fields of a short answer, parsed at once: so few bytes build few objects, whatever their shape.
    A value's JSON length is taken only where it could pass the limit."""
    answer = _SMALL_DECODER.decode(text)
    if not isinstance(answer, dict):
        raise ForgedAnswer("not a JSON object")
    found: dict[str, tuple[Any, int, int]] = {}
    for key, value in answer.items():
        found[key] = (value, 0, 0 if isinstance(value, str | int | float | bool) or value is None else len(text))
    return found


def _fields(text: str, budget: int) -> dict[str, tuple[Any, int, int]]:
    """The top-level object's fields: each value, and where its JSON starts and ends in `text`."""
    end = len(text)
    pos = _WHITESPACE.match(text, 0).end()  # type: ignore[union-attr]
    if text[pos : pos + 1] != "{":
        raise ForgedAnswer("not a JSON object")
    pos = _WHITESPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
    found: dict[str, tuple[Any, int, int]] = {}
    checked = False
    while pos < end and text[pos] != "}":
        if text[pos] != '"':
            raise ForgedAnswer("a field name is not a string")
        key, pos = scanstring(text, pos + 1)
        pos = _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]
        if text[pos : pos + 1] != ":" or key in found:
            raise ForgedAnswer("a field is malformed or repeated")
        pos = _WHITESPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        opening = text[pos : pos + 1]
        if opening == '"':
            value, after = scanstring(text, pos + 1)
        else:
            # Everything from the first container on counts once against the budget: no later value escapes it.
            if opening in ("[", "{") and not checked:
                if _tokens(text, pos) > budget:
                    raise ForgedAnswer("the answer holds more JSON values than its limit allows")
                checked = True
            value, after = _DECODER.raw_decode(text, pos)
        found[key] = (value, pos, after)
        pos = _WHITESPACE.match(text, after).end()  # type: ignore[union-attr]
        if text[pos : pos + 1] == ",":
            pos = _WHITESPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        elif text[pos : pos + 1] != "}":
            raise ForgedAnswer("fields are not separated by commas")
    if pos >= end or _WHITESPACE.match(text, pos + 1).end() != end:  # type: ignore[union-attr]
        raise ForgedAnswer("the object does not end the line")
    return found


KNOWN = ("seq", "ok", "stdout", "stderr", "result", "ms")


def parse_answer(line: bytes, limit: int, result_limit: int = RESULT_LIMIT) -> Answer:
    """The answer on `line` (at most `answer_bytes(limit, result_limit)` long), its output streams held to
    `limit` characters, its result and further fields to `result_limit` characters of JSON; `ForgedAnswer`
    when it is not one."""
    if len(line) > answer_bytes(limit, result_limit):
        raise ForgedAnswer("the answer is larger than its limit")
    try:
        text = line.decode("utf-8", "surrogatepass")
        if len(line) <= SMALL_ANSWER_BYTES:
            found, text = _small_fields(text), ""
        else:
            found = _fields(text, answer_tokens(result_limit))
    except (ValueError, RecursionError, IndexError) as error:
        raise ForgedAnswer(str(error)) from None
    seq, ok, stdout, stderr, ms = (found.get(k, (None, 0, 0))[0] for k in ("seq", "ok", "stdout", "stderr", "ms"))
    if not (isinstance(seq, int) and isinstance(ok, bool) and isinstance(stdout, str) and isinstance(stderr, str)):
        raise ForgedAnswer("a known field is missing or of the wrong type")
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not math.isfinite(ms) or "result" not in found:
        raise ForgedAnswer("a known field is missing or of the wrong type")
    extra = {k: _cut_value(text, v, result_limit, k) for k, v in found.items() if k not in KNOWN}
    return Answer(
        seq=seq,
        ok=ok,
        stdout=_cut_text(stdout, limit, "output"),
        stderr=_cut_text(stderr, limit, "output"),
        result=_cut_value(text, found["result"], result_limit, "result"),
        ms=float(ms),
        extra=extra,
    )
