"""Execute latencies through the project's client, for Node and Python pools alike."""

import time

from bench.samples import timed
from dynamic_sessions.client.client import SessionsClient

SESSION_API = "2025-10-02-preview"
HELLO = 'console.log("hello-world")'


def warm_latency(url: str, count: int, code: str = HELLO, identifier: str = "bench-warm") -> list[float]:
    """One session, warmed by 200 executions first, then `count` timed ones."""
    with SessionsClient(url, api_version=SESSION_API) as client:
        for _ in range(200):
            client.execute(code, identifier)
        return timed(lambda: client.execute(code, identifier), count)


def first_execute(
    url: str, count: int, code: str = HELLO, prefix: str = "bench", expect_stdout: str | None = None
) -> list[float]:
    """A new session's first execution, `count` times, each session released after it."""
    samples = []
    with SessionsClient(url, api_version=SESSION_API) as client:
        client.execute(code, f"{prefix}-prime")
        client.release(f"{prefix}-prime")
        for i in range(count):
            identifier = f"{prefix}-new-{i}"
            started = time.perf_counter()
            result = client.execute(code, identifier)
            samples.append((time.perf_counter() - started) * 1000)
            if expect_stdout is not None:
                assert result.stdout == expect_stdout, result
            client.release(identifier)
            time.sleep(0.15)  # lets the pool start the next ready session, as idle time between users would
    return samples
