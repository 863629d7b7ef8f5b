"""Waiting on a condition with a generous bound, instead of sleeping a fixed time that a busy machine can outlast."""

import asyncio
import time
from collections.abc import Callable

BOUND_S = 60.0
"""Long enough for anything these tests wait on, on a machine whose cores are all busy with other work."""


def until(condition: Callable[[], object], what: str, bound_s: float = BOUND_S) -> None:
    """Waits for `condition` to hold, looking every 0.05 s; fails naming `what` after `bound_s`."""
    deadline = time.monotonic() + bound_s
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {bound_s:g} s"
        time.sleep(0.05)


async def until_async(condition: Callable[[], object], what: str, bound_s: float = BOUND_S) -> None:
    """`until`, on a running event loop, which goes on with its work (reaping a child, say) meanwhile."""
    deadline = time.monotonic() + bound_s
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {bound_s:g} s"
        await asyncio.sleep(0.02)
