"""The unit layer's guard refuses what the layer forbids: each of these would pass without tests/unit/conftest.py."""

import socket
import subprocess
import sys

import pytest

from tests.unit.conftest import LayerViolation


def test_a_socket_connection_is_refused() -> None:
    with socket.socket() as sock, pytest.raises(LayerViolation, match=r"socket\.connect"):
        sock.connect(("127.0.0.1", 9))


def test_a_subprocess_is_refused() -> None:
    with pytest.raises(LayerViolation, match=r"subprocess\.Popen"):
        subprocess.run([sys.executable, "-c", "0"], check=False)
