"""The HTTP server's guards: idle or slow connections cannot crowd out real clients.

uvicorn bounds keep-alive idleness, but not a connection that never sends a complete request, nor
how many such connections pile up. The protocol below (uvicorn's httptools protocol, plus three
checks) closes a connection whose request head is not complete within `HEAD_TIMEOUT_S` of it
opening or of its previous response, caps a request head at `MAX_HEAD_BYTES`, and, when more than
`MAX_CONNECTIONS` are open, closes the longest-idle ones to make room for the newcomer, then, if
still more are open, those whose request body arrives the slowest (a body that trickles in holds
its request open; see `bodies` for its minimum rate). Requests being answered are never closed.

Answers wait in a connection's send buffer until its client reads them. A client that reads none of its answer
for `SEND_STALL_TIMEOUT_S` is cut off, and while the answers waiting over every connection exceed
`MAX_UNSENT_BYTES`, the connections that have waited the longest for their clients are cut off first: a client
that asks and never reads cannot make the emulator hold answers without end. A connection that is lost marks
every request of it as gone, the one being answered too when more are pipelined behind it (uvicorn marks only
the last), so that a handler that watches for its client's hang-up sees it; at most `MAX_PIPELINED` requests
may wait behind the one being answered.
"""

import asyncio
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

MAX_CONNECTIONS = 256
# uvicorn answers 503 past this many connections or requests in progress: above MAX_CONNECTIONS, so that
# the requests of connections just shed (they end a loop turn or two later) leave room for newcomers.
CONCURRENCY_SLACK = 64
HEAD_TIMEOUT_S = 5.0
# A connection this young that has not yet sent its request head is closed only after the slow bodies: its head
# may be on its way (a client's next request, read a loop turn later on a busy machine), where a slow body's
# connection has had its grace.
FRESH_S = 1.0
MAX_HEAD_BYTES = 64 * 1024
# A body still arriving after its answer (a refused upload, say) is read and dropped this long at most.
DRAIN_TIMEOUT_S = 30.0
# Connections are closed after this many idle seconds between requests (uvicorn's keep-alive).
KEEP_ALIVE_S = 5
# A client whose answer has not shrunk by a byte in this long is cut off, the answer dropped.
SEND_STALL_TIMEOUT_S = 30.0
# Bytes of answers waiting for their clients, over every connection, before the longest waiting are cut off.
MAX_UNSENT_BYTES = 128 * 1024 * 1024
# Requests a connection may send ahead (HTTP/1.1 pipelining) behind the one being answered; past it, 400 and closed.
MAX_PIPELINED = 16

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
    _body_since = 0.0
    _body_bytes = 0
    _send_stalled_since: float | None = None
    _send_check: asyncio.TimerHandle | None = None
    _unsent_at_check = 0
    _answering: RequestResponseCycle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect_head()
        if len(self.connections) > MAX_CONNECTIONS:
            self._evict_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        self._cancel_send_check()
        # uvicorn marks only the newest request as gone: the one being answered must see it too.
        for cycle in (self._answering, *(cycle for cycle, _ in self.pipeline)):
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()
        self._answering = None
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._send_stalled_since = time.monotonic()
        self._unsent_at_check = self.transport.get_write_buffer_size()
        self._cancel_send_check()
        self._send_check = self.loop.call_later(SEND_STALL_TIMEOUT_S, self._check_send)
        self._shed_unsent()

    def resume_writing(self) -> None:
        self._send_stalled_since = None
        self._cancel_send_check()
        super().resume_writing()

    def _cancel_send_check(self) -> None:
        if self._send_check is not None:
            self._send_check.cancel()
            self._send_check = None

    def _check_send(self) -> None:
        """Cuts the client off if none of its answer was read since the last check; else checks again later."""
        self._send_check = None
        unsent = self.transport.get_write_buffer_size()
        if unsent >= self._unsent_at_check:
            self.transport.abort()
            return
        self._unsent_at_check = unsent
        self._send_check = self.loop.call_later(SEND_STALL_TIMEOUT_S, self._check_send)

    def _shed_unsent(self) -> None:
        """Cuts off the connections waiting the longest for their clients while the answers waiting exceed
        `MAX_UNSENT_BYTES` (this connection's last)."""
        waiting = [c for c in self.connections if isinstance(c, GuardedHttpProtocol) and c._send_stalled_since]
        unsent = sum(c.transport.get_write_buffer_size() for c in waiting)
        for connection in sorted(waiting, key=lambda c: c._send_stalled_since or 0.0):
            if unsent <= MAX_UNSENT_BYTES:
                break
            unsent -= connection.transport.get_write_buffer_size()
            connection.transport.abort()
            self.connections.discard(connection)

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
        self._body_since = time.monotonic()
        self._body_bytes = 0
        if len(self.pipeline) >= MAX_PIPELINED:
            # Raised out of the parser, which stops there: uvicorn answers 400 and closes the connection.
            raise ValueError(f"more than {MAX_PIPELINED} requests pipelined")
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is not previous and (previous is None or previous.response_complete):
            self._answering = self.cycle  # started at once; else it waits in the pipeline

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def _body_rate(self) -> float | None:
        """Bytes per second of the request body being received, or None when none is."""
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.more_body or self.transport.is_closing():
            return None
        return self._body_bytes / max(time.monotonic() - self._body_since, 0.001)

    def on_message_complete(self) -> None:
        answered_early = self.cycle is not None and self.cycle.response_complete
        super().on_message_complete()
        if answered_early and not self.transport.is_closing():
            self._expect_head()

    def on_response_complete(self) -> None:
        waiting = len(self.pipeline)
        next_cycle = self.pipeline[-1][0] if waiting else None
        super().on_response_complete()
        if len(self.pipeline) < waiting:
            self._answering = next_cycle  # uvicorn started the next pipelined request
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
        others = [c for c in self.connections if c is not self and isinstance(c, GuardedHttpProtocol)]
        idle = sorted((c for c in others if c._idle()), key=lambda c: c._idle_since)
        fresh_since = time.monotonic() - FRESH_S
        stale, fresh = (
            [c for c in idle if c._idle_since < fresh_since],
            [c for c in idle if c._idle_since >= fresh_since],
        )
        receiving = [(rate, c) for c in others if not c._idle() and (rate := c._body_rate()) is not None]
        slowest = [c for _, c in sorted(receiving, key=lambda pair: pair[0])]
        for connection in [*stale, *slowest, *fresh][: len(self.connections) - MAX_CONNECTIONS]:
            # Aborted, not closed: a close would keep an answer its client never reads until it does.
            connection.transport.abort()
            # Counted out now: its connection_lost comes a loop turn later, maybe after this request's head.
            self.connections.discard(connection)


def server_options() -> dict[str, Any]:
    """uvicorn.Config settings that go with the guards."""
    return {
        "http": GuardedHttpProtocol,
        # The pool's API has no WebSocket route, so uvicorn need not load a WebSocket library at each start
        # (~15 ms of CPU, of the ~200 ms an emulator takes to start).
        "ws": "none",
        "timeout_keep_alive": KEEP_ALIVE_S,
        # Past this many connections or requests in progress, uvicorn answers 503; idle connections and
        # slow bodies are shed before that, so only requests being answered count.
        "limit_concurrency": MAX_CONNECTIONS + CONCURRENCY_SLACK,
    }
