"""Latency samples: taking them and reading a percentile off them."""

import time
from collections.abc import Callable


def timed(fn: Callable[[], object], count: int) -> list[float]:
    """Milliseconds each of `count` calls of `fn` took."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
