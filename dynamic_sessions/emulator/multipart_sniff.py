"""Uploads whose multipart body arrives under another Content-Type.

Semantic Kernel's sessions plugin sets `Content-Type: application/json` on its shared httpx client
for executions; httpx then keeps that header on the plugin's later multipart uploads, so their body
is multipart/form-data while the header says JSON and names no boundary. A multipart body states its
boundary on its first line, so the upload is read as what it is rather than refused.
"""

import re

from starlette.requests import Request
from starlette.types import Message

# RFC 2046: a boundary is 1..70 characters; the body opens with "--boundary" and CRLF.
_OPENING = re.compile(rb"--([0-9A-Za-z'()+_,./:=?-]{1,70})\r\n")


async def as_multipart(request: Request) -> Request:
    """The request itself if it declares multipart/form-data, else one that does when its body is multipart."""
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return request
    body = await request.body()
    opening = _OPENING.match(body)
    if opening is None:
        return request
    content_type = f"multipart/form-data; boundary={opening.group(1).decode()}".encode()
    headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"] + [(b"content-type", content_type)]
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request({**request.scope, "headers": headers}, replay)
