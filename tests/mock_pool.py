"""A pool answered in memory through `httpx.MockTransport`: the same scripts as `tests.fault_server` (each request
takes the next reply; the last repeats), no socket. Runs any client operation with the sync or the async client,
so each test is written once for both."""

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx

from dynamic_sessions.client.client import AsyncSessionsClient, SessionsClient
from tests.fakes import FixedToken
from tests.fault_server import Recorded, Reply

URL = "https://pool.example.com"
Scripted = Reply | Exception | Callable[[httpx.Request], httpx.Response]


def response(reply: Reply) -> httpx.Response:
    body = reply.body
    headers = dict(reply.headers)
    if isinstance(body, dict | list):
        content = json.dumps(body).encode()
        headers.setdefault("content-type", "application/json")
    elif isinstance(body, str):
        content = body.encode()
    else:
        content = body or b""
    return httpx.Response(reply.status, headers=headers, content=content)


class MockPool:
    """A scripted pool; `requests` holds what each client sent (method, path, query, headers, body)."""

    def __init__(self, *script: Scripted):
        self.script: list[Scripted] = list(script) or [Reply()]
        self.requests: list[Recorded] = []
        self.sent: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = parse_qs(request.url.query.decode())
        self.requests.append(Recorded(request.method, request.url.path, query, headers, body, 0.0))
        self.sent.append(request)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        if callable(step) and not isinstance(step, Reply):
            return step(request)
        return response(step)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def sync_client(self, url: str = URL, **options: Any) -> SessionsClient:
        options.setdefault("token_provider", FixedToken())
        return SessionsClient(url, http=httpx.Client(transport=self.transport()), **options)

    def async_client(self, url: str = URL, **options: Any) -> AsyncSessionsClient:
        options.setdefault("token_provider", FixedToken())
        return AsyncSessionsClient(url, http=httpx.AsyncClient(transport=self.transport()), **options)

    def run(self, asynchronous: bool, operation: str, *args: Any, url: str = URL, **options: Any) -> Any:
        """`operation(*args)` on a new client of either kind; the client is closed afterwards."""
        if not asynchronous:
            with self.sync_client(url, **options) as client:
                return getattr(client, operation)(*args)

        async def go() -> Any:
            async with self.async_client(url, **options) as client:
                return await getattr(client, operation)(*args)

        return asyncio.run(go())
