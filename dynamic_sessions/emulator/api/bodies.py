"""Request bodies, counted while they stream: nothing is buffered past its limit.

JSON bodies (code to run) are small on Azure's contract and are held in memory, so they get a
small cap, and at most `MAX_JSON_VALUES` values outside their strings: the parser runs on the event loop,
and 4 MB of empty arrays would hold it for 0.7 s (code, however long, is one string: cheap to parse).

Uploads stream through python-multipart's parser straight into the session's folder, so an upload
costs the emulator a chunk of memory, never its size; above 128 MB the request ends with 413 and the
partial file is removed.
"""

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any, NoReturn

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from dynamic_sessions.emulator.api.contract import BadRequest
from dynamic_sessions.emulator.sandbox.files import FileInfo, SessionFiles, Upload

MAX_JSON_BYTES = 4 * 1024 * 1024
# Values (strings, numbers, arrays, objects...) a JSON body may hold outside its strings: a batch of MCP messages
# or a command's arguments hold far fewer; parsing this many empty arrays takes about 30 ms.
MAX_JSON_VALUES = 65_536
MAX_UPLOAD_BYTES = 128 * 1024 * 1024
# Boundaries, part headers and small form fields around the file.
MAX_MULTIPART_OVERHEAD = 64 * 1024
# A client that stops sending in the middle of a body holds a request open; this long, no more.
BODY_IDLE_TIMEOUT_S = 30.0
# Nor may a body trickle in: after a grace period, it must keep up this average rate (a byte now and
# then does not hold a request open). 128 MB at this rate take about two hours.
BODY_GRACE_S = 10.0
MIN_BODY_BYTES_PER_S = 16 * 1024


def _too_large(what: str, limit: int) -> BadRequest:
    return BadRequest(413, "RequestEntityTooLarge", f"{what} is limited to {_size(limit)}.")


def _size(count: int) -> str:
    return f"{count // (1024 * 1024)} MB" if count >= 1024 * 1024 else f"{count} bytes"


async def _chunks(request: Request, limit: int, what: str) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive; 413 as soon as more than `limit` bytes are declared or sent."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(what, limit)
    received = 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        rate_deadline = started + BODY_GRACE_S + received / MIN_BODY_BYTES_PER_S
        try:
            async with asyncio.timeout_at(min(loop.time() + BODY_IDLE_TIMEOUT_S, rate_deadline)):
                message = await request.receive()
        except TimeoutError:
            raise BadRequest(
                408,
                "RequestTimeout",
                f"The body arrived too slowly: after {BODY_GRACE_S:g} s it must average "
                f"{MIN_BODY_BYTES_PER_S // 1024} KiB/s, with no pause of {BODY_IDLE_TIMEOUT_S:g} s.",
                {"Connection": "close"},
            ) from None
        if message["type"] != "http.request":
            raise BadRequest(400, "InvalidRequest", "The client went away before the body was complete.")
        body = message.get("body", b"")
        received += len(body)
        if received > limit:
            raise _too_large(what, limit)
        if body:
            yield body
        if not message.get("more_body", False):
            return


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON value")


def json_values(raw: bytes) -> int:
    """About the JSON values in `raw` outside its strings: a comma or an opening bracket each (a string is a value,
    a key or an element, so its cost comes with a comma too). Exact enough to bound the parser's work, and read in
    a few passes of C code: the first counts inside strings too, and is exact enough for nearly every body."""
    values = raw.count(b",") + raw.count(b"[") + raw.count(b"{")
    if values <= MAX_JSON_VALUES:
        return values
    # Escaped backslashes, then escaped quotes, go first: each quote left opens or closes a string.
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    if (strings := unescaped.count(b'"') // 2) > 2 * MAX_JSON_VALUES:
        return strings // 2  # a key and its value at most per comma
    outside = b"".join(unescaped.split(b'"')[0::2])
    return outside.count(b",") + outside.count(b"[") + outside.count(b"{")


async def json_body(request: Request) -> Any:
    """The parsed JSON body; 400 for anything that is not JSON or holds more than `MAX_JSON_VALUES` values, 413
    above `MAX_JSON_BYTES`."""
    raw = bytearray()
    async for chunk in _chunks(request, MAX_JSON_BYTES, "A JSON request body"):
        raw += chunk
    if (values := json_values(bytes(raw))) > MAX_JSON_VALUES:
        raise BadRequest(
            400,
            "InvalidRequest",
            f"The request body holds about {values:,} JSON values outside its strings; at most {MAX_JSON_VALUES:,} "
            "are accepted.",
        )
    try:
        return json.loads(raw, parse_constant=_no_constants)
    except RecursionError:
        raise BadRequest(400, "InvalidRequest", "The request body is JSON nested too deeply.") from None
    except ValueError as error:  # JSONDecodeError, bad UTF-8, NaN/Infinity, integers of thousands of digits
        raise BadRequest(400, "InvalidRequest", f"The request body is not valid JSON: {error}.") from None


class _Parts:
    """python-multipart's callbacks: the part named `file` goes to an `Upload`; other fields are skipped."""

    def __init__(self, files: SessionFiles):
        self.files = files
        self.upload: Upload | None = None
        self.done: Upload | None = None
        """The file part, once it has ended (its `finish` puts it in place)."""
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._writing = False
        self._other_bytes = 0

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    async def flush(self) -> None:
        for upload in (self.upload, self.done):
            if upload is not None:
                await upload.flush()

    def on_part_begin(self) -> None:
        self._disposition = b""
        self._writing = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        filename = options.get(b"filename")
        if options.get(b"name") != b"file" or not filename:
            return
        if self.upload is not None or self.done is not None:
            raise BadRequest(400, "InvalidRequest", "Send one file per upload request.")
        try:
            # Some clients name the file by its path in the session; it lands in /mnt/data either way.
            name = filename.decode("utf-8").removeprefix("/mnt/data/")
        except UnicodeDecodeError:
            raise BadRequest(400, "InvalidFileName", "A file name must be valid UTF-8.") from None
        self.upload = self.files.new_file(name)
        self._writing = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._writing and self.upload is not None:
            if self.upload.size + (end - start) > MAX_UPLOAD_BYTES:
                raise _too_large("An upload", MAX_UPLOAD_BYTES)
            self.upload.write(data[start:end])
            return
        self._other_bytes += end - start
        if self._other_bytes > MAX_MULTIPART_OVERHEAD:
            raise BadRequest(400, "InvalidRequest", "Form fields other than 'file' are limited to 64 KB.")

    def on_part_end(self) -> None:
        if self._writing and self.upload is not None:
            self._writing = False
            self.done, self.upload = self.upload, None


async def receive_upload(request: Request, files: SessionFiles) -> FileInfo:
    """Streams a multipart/form-data upload (field `file`) into the session's folder."""
    chunks = _chunks(request, MAX_UPLOAD_BYTES + MAX_MULTIPART_OVERHEAD, "An upload")
    first = await anext(chunks, b"")
    boundary = _boundary(request.headers.get("content-type"), first)
    parts = _Parts(files)
    try:
        parser = MultipartParser(boundary, parts.callbacks())
        parser.write(first)
        await parts.flush()
        async for chunk in chunks:
            parser.write(chunk)
            await parts.flush()
        parser.finalize()
        if parts.done is not None:
            stored, parts.done = parts.done, None
            return await stored.finish()
    except FormParserError as error:
        if "header size" in str(error):
            raise BadRequest(
                400, "InvalidFileName", "A part's headers are limited to 4 KB, and a file name to 255 bytes."
            ) from None
        raise BadRequest(400, "InvalidRequest", f"The multipart/form-data body is malformed: {error}") from None
    finally:
        for left in (parts.upload, parts.done):
            if left is not None:
                left.abort()
    raise BadRequest(400, "InvalidRequest", "Send the file as the multipart field 'file', with a file name.")


# RFC 2046: a boundary is 1..70 characters; a multipart body opens with "--boundary" and CRLF.
_OPENING = re.compile(rb"--([0-9A-Za-z'()+_,./:=?-]{1,70})\r\n")


def _boundary(content_type: str | None, first_chunk: bytes) -> bytes:
    """The declared boundary; else the one the body opens with.

    Semantic Kernel's sessions plugin keeps `Content-Type: application/json` on its shared httpx client,
    so its multipart uploads arrive under that header with no boundary: the body's first line names it.
    """
    kind, params = parse_options_header(content_type)
    declared = params.get(b"boundary")
    if kind == b"multipart/form-data" and declared:
        return declared
    opening = _OPENING.match(first_chunk)
    if opening is None:
        raise BadRequest(400, "InvalidRequest", "Expected a multipart/form-data body with a boundary.")
    return opening.group(1)
