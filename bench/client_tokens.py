"""The client's token path and its CPU, each beside its baseline in the same run.

- The longest event-loop stall while one `AsyncSessionsClient` call fetches its first token from a sync credential
  that blocks 1.5 s (as the Azure CLI or managed identity can on a cold start): a 1 ms ticker runs beside the call.
  Baseline: the same credential behind a `token_provider` (`EntraToken`), which the client calls on its loop, as
  every call did before tokens became a step the async driver awaits.
- Credential calls made by 50 concurrent first calls: async tasks, and sync threads. Baseline: a provider that
  asks the credential on every call.
- The call that crosses into the refresh window (the token 5 minutes from expiry): its wall time, async (a task
  refreshes while the call goes on) and sync (the first call in the window fetches), beside a warm call.
- Client CPU per warm execute against the emulator's and its session's CPU for the same calls (5 sessions, the
  async client, as `make bench`'s throughput figure).

The token figures run against an in-memory pool (`httpx.MockTransport` on an https endpoint, so the client takes
the credential path a real pool takes); the CPU figure against the emulator. Run alone:
`.venv/bin/python -m bench.client_tokens [--quick]`.
"""

import argparse
import asyncio
import statistics
import threading
import time
from typing import Any

import httpx

from bench.emulators import EmulatorProcess, tree_cpu_s
from bench.executions import HELLO, throughput
from bench.samples import own_cpu_s
from bench.table import row
from dynamic_sessions.client.client import AsyncSessionsClient, SessionsClient
from dynamic_sessions.client.tokens import EntraToken
from tests.fakes import StandInCredential

Row = tuple[str, str, str, str, bool | None]
URL = "https://pool.example.com"
SLOW_S = 1.5
ANSWER = {"properties": {"status": "Success", "stdout": "hello-world\n", "stderr": "", "executionResult": ""}}


def _answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=ANSWER)


def _async_client(**options: Any) -> AsyncSessionsClient:
    return AsyncSessionsClient(URL, http=httpx.AsyncClient(transport=httpx.MockTransport(_answer)), **options)


def _sync_client(**options: Any) -> SessionsClient:
    return SessionsClient(URL, http=httpx.Client(transport=httpx.MockTransport(_answer)), **options)


async def _longest_stall_ms(client: AsyncSessionsClient) -> float:
    """The longest gap between the ticks of a 1 ms ticker while one call fetches its first token and runs."""
    longest, done = 0.0, False

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest, last = max(longest, now - last), now

    ticking = asyncio.ensure_future(ticker())
    await asyncio.sleep(0.01)
    async with client:
        await client.execute(HELLO, "bench-stall")
    done = True
    await ticking
    return longest * 1000


async def _idle_stall_ms(seconds: float) -> float:
    """The same ticker's longest gap with nothing else on the loop: the machine's own scheduling noise."""
    longest, last = 0.0, time.perf_counter()
    end = last + seconds
    while last < end:
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    return longest * 1000


def stall_rows(runs: int) -> list[Row]:
    """Each figure is the median over `runs` fresh clients (and first tokens) of the longest stall."""
    before = asyncio.run(_longest_stall_ms(_async_client(token_provider=EntraToken(StandInCredential(delay_s=SLOW_S)))))
    after = statistics.median(
        asyncio.run(_longest_stall_ms(_async_client(credential=StandInCredential(delay_s=SLOW_S)))) for _ in range(runs)
    )
    idle = statistics.median(asyncio.run(_idle_stall_ms(SLOW_S)) for _ in range(runs))
    return [
        (
            f"event-loop stall, first token, {SLOW_S} s sync credential",
            f"{after:.1f} ms",
            f"on the loop {before:.0f} ms; idle {idle:.1f} ms",
            "< 20 ms",
            after < 20,
        )
    ]


class _Uncached:
    """A provider that asks the credential on every call: the baseline of sharing one fetch."""

    def __init__(self, credential: StandInCredential):
        self.credential = credential

    def token(self) -> str:
        return self.credential.get_token("scope").token


async def _async_first_calls(options: dict[str, Any], count: int) -> None:
    async with _async_client(**options) as client:
        await asyncio.gather(*(client.execute(HELLO, f"bench-{n}") for n in range(count)))


def _sync_first_calls(options: dict[str, Any], count: int) -> None:
    with _sync_client(**options) as client:
        threads = [threading.Thread(target=client.execute, args=(HELLO, f"bench-{n}")) for n in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def single_flight_rows(count: int = 50) -> list[Row]:
    rows: list[Row] = []
    for kind, run in (("async tasks", _async_first_calls_run), ("sync threads", _sync_first_calls)):
        shared = StandInCredential(delay_s=0.2)
        run({"credential": shared}, count)
        each = StandInCredential(delay_s=0.01)
        run({"token_provider": _Uncached(each)}, count)
        rows.append(
            (
                f"credential calls, {count} concurrent first calls, {kind}",
                f"{shared.calls}",
                f"asked per call {each.calls}",
                "1",
                shared.calls == 1,
            )
        )
    return rows


def _async_first_calls_run(options: dict[str, Any], count: int) -> None:
    asyncio.run(_async_first_calls(options, count))


def _into_refresh_window(client: AsyncSessionsClient | SessionsClient) -> None:
    held = client.tokens._held  # type: ignore[union-attr]
    client.tokens._held = held._replace(refresh_on=time.time() - 1)  # type: ignore[union-attr]


async def _async_crossing_ms() -> tuple[float, float]:
    credential = StandInCredential(delay_s=SLOW_S)
    async with _async_client(credential=credential) as client:
        await client.execute(HELLO, "bench-refresh")
        warm = []
        for _ in range(50):
            started = time.perf_counter()
            await client.execute(HELLO, "bench-refresh")
            warm.append((time.perf_counter() - started) * 1000)
        _into_refresh_window(client)
        started = time.perf_counter()
        await client.execute(HELLO, "bench-refresh")
        crossing = (time.perf_counter() - started) * 1000
        pending = client.tokens._pending  # type: ignore[union-attr]
        if pending is not None:
            await pending  # the refresh ends beside the calls; wait for it before closing
        assert credential.calls == 2
        return crossing, statistics.median(warm)


def _sync_crossing_ms() -> tuple[float, float]:
    credential = StandInCredential(delay_s=SLOW_S)
    with _sync_client(credential=credential) as client:
        client.execute(HELLO, "bench-refresh")
        warm = []
        for _ in range(50):
            started = time.perf_counter()
            client.execute(HELLO, "bench-refresh")
            warm.append((time.perf_counter() - started) * 1000)
        _into_refresh_window(client)
        started = time.perf_counter()
        client.execute(HELLO, "bench-refresh")
        crossing = (time.perf_counter() - started) * 1000
        assert credential.calls == 2
        return crossing, statistics.median(warm)


def refresh_rows() -> list[Row]:
    async_crossing, async_warm = asyncio.run(_async_crossing_ms())
    sync_crossing, sync_warm = _sync_crossing_ms()
    return [
        (
            f"call crossing the refresh window, async, {SLOW_S} s credential",
            f"{async_crossing:.2f} ms",
            f"warm call {async_warm:.2f} ms",
            "as a warm call",
            async_crossing < SLOW_S * 1000 / 10,
        ),
        (
            f"call crossing the refresh window, sync, {SLOW_S} s credential",
            f"{sync_crossing:.0f} ms",
            f"warm call {sync_warm:.2f} ms",
            "",
            None,
        ),
    ]


def cpu_rows(seconds: float) -> list[Row]:
    with EmulatorProcess("--max-sessions", "10") as pool:
        asyncio.run(throughput(pool.url, 5, 0.5, "bench-cpu"))  # warm up both sides
        server_before, client_before = tree_cpu_s(pool.process.pid), own_cpu_s()
        done, _ = asyncio.run(throughput(pool.url, 5, seconds, "bench-cpu"))
        server = (tree_cpu_s(pool.process.pid) - server_before) / done * 1000
        client = (own_cpu_s() - client_before) / done * 1000
    return [
        (
            "client CPU per warm execute (AsyncSessionsClient, 5 sessions)",
            f"{client:.2f} ms",
            f"emulator+session {server:.2f} ms",
            "<= the emulator's",
            client <= server,
        )
    ]


def rows(quick: bool) -> list[Row]:
    return stall_rows(3) + single_flight_rows() + refresh_rows() + cpu_rows(1.0 if quick else 5.0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.client_tokens", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples, for a fast look")
    args = parser.parse_args()
    print(row("figure", "measured", "baseline", "target", None))
    for figure in rows(args.quick):
        print(row(*figure))


if __name__ == "__main__":
    main()
