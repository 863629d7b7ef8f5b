"""The unit layer's rule, enforced: a test here opens no socket connection and starts no subprocess. A test that
tries fails with the name of what it tried, so a test that needs the network or a process is moved to
tests/contract or tests/e2e instead of slowing the inner loop."""

import asyncio
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest


class LayerViolation(AssertionError):
    """A unit test reached for a socket or a process."""


def _refuse(what: str) -> Any:
    def refuse(*args: object, **kwargs: object) -> Any:
        raise LayerViolation(f"tests/unit: {what} is not allowed here (move the test to tests/contract or tests/e2e)")

    return refuse


@pytest.fixture(autouse=True)
def _no_sockets_or_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse("socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", _refuse("socket.create_connection"))
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("subprocess.Popen"))
    monkeypatch.setattr(asyncio, "create_subprocess_exec", _refuse("asyncio.create_subprocess_exec"))
    monkeypatch.setattr(asyncio, "create_subprocess_shell", _refuse("asyncio.create_subprocess_shell"))
    yield
