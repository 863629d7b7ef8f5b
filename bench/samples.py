"""Latency samples: taking them and reading a percentile off them; the bench process's own CPU time."""

import resource
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


def own_cpu_s() -> float:
    """User and system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
