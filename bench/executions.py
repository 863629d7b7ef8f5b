"""Execute latencies through the project's client, for Node and Python pools alike."""

import asyncio
import time
from typing import Any

import httpx

from bench.emulators import EmulatorProcess, tree_rss_kib
from bench.samples import timed
from dynamic_sessions import api_versions
from dynamic_sessions.client import executions
from dynamic_sessions.client.client import SOCKET_OPTIONS, AsyncSessionsClient, SessionsClient
from dynamic_sessions.smoke import check

SESSION_API = api_versions.NEWEST_API_VERSION
HELLO = check.HELLO["NodeLTS"]


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


def bare_post_latency(
    url: str, count: int, code: str, identifier: str, headers: dict[str, str], fields: dict[str, Any] | None = None
) -> list[float]:
    """The same execution as a bare httpx POST, warmed by 200 first: the HTTP floor under the client;
    `fields` adds optional request fields (useEmptyKernel, say)."""
    body = {**executions.execute_body(code, 60), **(fields or {})}
    target = f"{url}/executions?api-version={SESSION_API}&identifier={identifier}"
    with httpx.Client(transport=httpx.HTTPTransport(socket_options=SOCKET_OPTIONS), headers=headers) as http:
        for _ in range(200):
            http.post(target, json=body).raise_for_status()
        return timed(lambda: http.post(target, json=body), count)


def idle_session_mib(pool: EmulatorProcess, sessions: int, prefix: str) -> float:
    """The pool's resident memory growth per session left idle after one execution."""
    before = tree_rss_kib(pool.process.pid)
    with SessionsClient(pool.url, api_version=SESSION_API) as client:
        for s in range(sessions):
            client.execute("1", f"{prefix}-idle-{s}")
    time.sleep(1.0)
    return (tree_rss_kib(pool.process.pid) - before) / sessions / 1024


def first_posts(
    url: str, count: int, code: str, prefix: str, headers: dict[str, str], fields: dict[str, Any]
) -> list[float]:
    """A new session's first execution as a bare POST with `fields`, `count` times, each session released after."""
    samples = []
    params = {"api-version": SESSION_API}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
        for i in range(count):
            identifier = f"{prefix}-{i}"
            started = time.perf_counter()
            answer = http.post(
                "/executions",
                params={**params, "identifier": identifier},
                json={**executions.execute_body(code, 120), **fields},
            )
            samples.append((time.perf_counter() - started) * 1000)
            assert answer.json()["status"] == "Succeeded", answer.text
            http.delete("/session", params={**params, "identifier": identifier})
    return samples


async def throughput(url: str, sessions: int, seconds: float, prefix: str = "bench-load") -> tuple[int, float]:
    """Executions done by `sessions` concurrent callers of one async client within `seconds`, and the time taken."""
    async with AsyncSessionsClient(url, api_version=SESSION_API) as client:
        for s in range(sessions):
            await client.execute(HELLO, f"{prefix}-{s}")
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker(identifier: str) -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await client.execute(HELLO, identifier)
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(f"{prefix}-{s}") for s in range(sessions)))
        return done, time.perf_counter() - started
