"""The HTTP server's guards: idle or slow connections cannot crowd out real clients.

uvicorn bounds keep-alive idleness, but not a connection that never sends a complete request, nor
how many such connections pile up. The protocol below (uvicorn's httptools protocol, plus three
checks) closes a connection whose request head is not complete within `HEAD_TIMEOUT_S` of it
opening or of its previous response, caps a request head at `MAX_HEAD_BYTES`, and, when more than
`MAX_CONNECTIONS` are open, closes the longest-idle ones to make room for the newcomer.
"""

import asyncio
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_CONNECTIONS = 256
HEAD_TIMEOUT_S = 5.0
MAX_HEAD_BYTES = 64 * 1024
# A body still arriving after its answer (a refused upload, say) is read and dropped this long at most.
DRAIN_TIMEOUT_S = 30.0
# Connections are closed after this many idle seconds between requests (uvicorn's keep-alive).
KEEP_ALIVE_S = 5

_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 31\r\nconnection: close\r\n\r\n"
    b"The request head is too large.\n"
)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size cap on request heads, and idle eviction."""

    _head_deadline: asyncio.TimerHandle | None = None
    _head_bytes = 0
    _awaiting_head = True
    _idle_since = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect_head()
        if len(self.connections) > MAX_CONNECTIONS:
            self._evict_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._awaiting_head and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            self.transport.write(_HEAD_TOO_LARGE)
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._cancel_head_deadline()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        answered_early = self.cycle is not None and self.cycle.response_complete
        super().on_message_complete()
        if answered_early and not self.transport.is_closing():
            self._expect_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.more_body:
            # Answered before the body ended: the rest of it is no request head; wait for it a while.
            self._cancel_head_deadline()
            self._head_deadline = self.loop.call_later(DRAIN_TIMEOUT_S, self._head_timed_out)
            return
        self._expect_head()

    def _idle(self) -> bool:
        return self._awaiting_head and (self.cycle is None or self.cycle.response_complete) and not self.pipeline

    def _expect_head(self) -> None:
        self._awaiting_head = True
        self._head_bytes = 0
        self._idle_since = time.monotonic()
        self._cancel_head_deadline()
        self._head_deadline = self.loop.call_later(HEAD_TIMEOUT_S, self._head_timed_out)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _evict_idle(self) -> None:
        idle = sorted(
            (c for c in self.connections if c is not self and isinstance(c, GuardedHttpProtocol) and c._idle()),
            key=lambda c: c._idle_since,
        )
        for connection in idle[: len(self.connections) - MAX_CONNECTIONS]:
            connection.transport.close()
            # Counted out now: its connection_lost comes a loop turn later, maybe after this request's head.
            self.connections.discard(connection)


def server_options() -> dict[str, Any]:
    """uvicorn.Config settings that go with the guards."""
    return {
        "http": GuardedHttpProtocol,
        "timeout_keep_alive": KEEP_ALIVE_S,
        # Past this many connections or requests in progress, uvicorn answers 503; idle connections are
        # evicted before that, so only work in progress counts.
        "limit_concurrency": MAX_CONNECTIONS + 1,
    }
