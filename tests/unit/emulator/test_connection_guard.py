"""Which connections the emulator's HTTP server closes past its connection limit (api/server.py), as data:
protocol objects in the states that matter, no socket."""

import time
from collections import deque
from types import SimpleNamespace

import pytest

from dynamic_sessions.emulator.api import server
from dynamic_sessions.emulator.api.server import GuardedHttpProtocol


class Transport:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def _connection(shared: set, *, idle_for: float | None = None, body_rate: float | None = None) -> GuardedHttpProtocol:
    """A connection idle (awaiting a request head) for `idle_for` seconds, or receiving a body at `body_rate`."""
    made = GuardedHttpProtocol.__new__(GuardedHttpProtocol)
    made.transport = Transport()  # type: ignore[assignment]
    made.connections = shared
    made.pipeline = deque()
    now = time.monotonic()
    if idle_for is not None:
        made._awaiting_head, made.cycle, made._idle_since = True, None, now - idle_for  # type: ignore[assignment]
    else:
        assert body_rate is not None
        made._awaiting_head = False
        made.cycle = SimpleNamespace(response_complete=False, more_body=True)  # type: ignore[assignment]
        made._body_since, made._body_bytes = now - 10, int(body_rate * 10)
    shared.add(made)
    return made


@pytest.fixture
def limit_of_three(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "MAX_CONNECTIONS", 3)


@pytest.mark.usefixtures("limit_of_three")
def test_the_longest_idle_connection_goes_first():
    shared: set = set()
    oldest, younger = _connection(shared, idle_for=60), _connection(shared, idle_for=30)
    slow = _connection(shared, body_rate=1)
    newcomer = _connection(shared, idle_for=0)
    newcomer._evict_idle()
    assert (oldest.transport.is_closing(), younger.transport.is_closing(), slow.transport.is_closing()) == (
        True,
        False,
        False,
    )
    assert newcomer in shared and oldest not in shared


@pytest.mark.usefixtures("limit_of_three")
def test_the_slowest_body_goes_before_a_connection_whose_head_may_be_on_its_way():
    # A real client's new connection, its head not read yet, beside a flood of trickling bodies: the flood's
    # reconnections must not push the client out.
    shared: set = set()
    client = _connection(shared, idle_for=0.01)
    slowest, faster = _connection(shared, body_rate=1), _connection(shared, body_rate=100)
    newcomer = _connection(shared, idle_for=0)
    newcomer._evict_idle()
    assert (client.transport.is_closing(), slowest.transport.is_closing(), faster.transport.is_closing()) == (
        False,
        True,
        False,
    )


@pytest.mark.usefixtures("limit_of_three")
def test_young_idle_connections_go_last_oldest_first():
    shared: set = set()
    first, second, third = (_connection(shared, idle_for=age) for age in (0.3, 0.2, 0.1))
    newcomer = _connection(shared, idle_for=0)
    newcomer._evict_idle()
    assert [c.transport.is_closing() for c in (first, second, third)] == [True, False, False]
