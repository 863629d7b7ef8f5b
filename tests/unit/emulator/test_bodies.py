"""Request bodies read as the emulator reads them (dynamic_sessions/emulator/api/bodies.py), from a Starlette
request fed by the test: no server, no socket."""

import asyncio
import json
from collections.abc import Iterable

import pytest
from starlette.requests import Request

from dynamic_sessions.emulator.api import bodies
from dynamic_sessions.emulator.api.contract import BadRequest


def _request(chunks: Iterable[bytes], headers: dict[str, str] | None = None) -> Request:
    pending = list(chunks)

    async def receive() -> dict:
        chunk = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    raw = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    return Request({"type": "http", "method": "POST", "headers": raw, "query_string": b""}, receive)


def _json(chunks: Iterable[bytes], headers: dict[str, str] | None = None):
    return asyncio.run(bodies.json_body(_request(chunks, headers)))


def test_a_body_in_chunks_is_read_whole():
    assert _json([b'{"code": ', b'"1 + 1"', b"}"]) == {"code": "1 + 1"}


def test_a_stalled_body_gets_408(monkeypatch):
    monkeypatch.setattr(bodies, "BODY_IDLE_TIMEOUT_S", 0.2)
    first = True

    async def receive() -> dict:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b'{"code": ', "more_body": True}
        await asyncio.sleep(3600)  # the client stopped sending
        raise AssertionError("unreachable")

    request = Request({"type": "http", "method": "POST", "headers": [], "query_string": b""}, receive)
    with pytest.raises(BadRequest) as raised:
        asyncio.run(bodies.json_body(request))
    assert raised.value.status == 408 and raised.value.code == "RequestTimeout"


def test_a_declared_length_over_the_cap_gets_413_before_any_byte_is_read():
    read: list[bool] = []

    async def receive() -> dict:
        read.append(True)
        return {"type": "http.request", "body": b"{}", "more_body": False}

    headers = [(b"content-length", str(bodies.MAX_JSON_BYTES + 1).encode())]
    request = Request({"type": "http", "method": "POST", "headers": headers, "query_string": b""}, receive)
    with pytest.raises(BadRequest) as raised:
        asyncio.run(bodies.json_body(request))
    assert raised.value.status == 413 and "4 MB" in raised.value.message and read == []


def test_a_body_sent_past_the_cap_without_a_length_gets_413():
    piece = b" " * (1024 * 1024)
    with pytest.raises(BadRequest) as raised:
        _json([piece] * 5 + [b"{}"])
    assert raised.value.status == 413 and raised.value.code == "RequestEntityTooLarge"


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b"1" * 5000,
        b'{"timeoutInSeconds": NaN}',
        b'{"timeoutInSeconds": Infinity}',
        b'{"timeoutInSeconds": -Infinity}',
        b"\xff\xfe{",
        b'{"code": ',
    ],
)
def test_anything_but_json_gets_400_naming_the_body(raw):
    with pytest.raises(BadRequest) as raised:
        _json([raw])
    assert raised.value.status == 400 and raised.value.code == "InvalidRequest"
    assert "request body" in raised.value.message


def test_numbers_past_a_double_are_read_as_json_reads_them():
    assert _json([json.dumps({"n": 1e308}).encode()]) == {"n": 1e308}


@pytest.mark.parametrize(
    ("content_type", "first", "boundary"),
    [
        ("multipart/form-data; boundary=abc", b"--abc\r\n", b"abc"),
        ("application/json", b"--from-the-body\r\nContent-Disposition: form-data", b"from-the-body"),
        (None, b"--xyz\r\n", b"xyz"),
    ],
)
def test_an_uploads_boundary_is_the_declared_one_else_the_one_its_body_opens_with(content_type, first, boundary):
    assert bodies._boundary(content_type, first) == boundary


def test_an_upload_with_no_boundary_anywhere_gets_400():
    with pytest.raises(BadRequest, match="multipart/form-data body with a boundary"):
        bodies._boundary("application/json", b'{"not": "multipart"}')
