"""The lines a starting emulator prints on stdout once it serves (`POOL_MANAGEMENT_ENDPOINT=...`, then the MCP
server's with --mcp), read by whatever started it: the pytest fixture's process, the container runner."""

import threading
from collections.abc import Callable
from typing import IO


def read_ready_lines(
    stdout: IO[str], count: int, timeout: float, more_time: Callable[[], float | None] = lambda: None
) -> list[str]:
    """Up to `count` lines, as many as came within `timeout` seconds; when some are still missing then,
    `more_time()` may grant that many seconds more (None: none). A thread reads them, so a hung start cannot hold
    the caller past its bound."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(stdout.readline() for _ in range(count)), daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        extra = more_time()
        if extra is not None:
            reader.join(extra)
    return list(lines)


def announced(lines: list[str]) -> dict[str, str]:
    """The `NAME=value` lines as a mapping."""
    return dict(line.strip().split("=", 1) for line in lines if "=" in line)
