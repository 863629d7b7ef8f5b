"""`make bench`: the emulator's performance figures, each beside its baseline, measured in one run.

Figures: warm hello-world latency over HTTP; a new session's first execute with and without
ready sessions; executions per second across 5 concurrent sessions with the project's async
client; memory per idle session; and the baseline of one fresh `node -e` process per execution; a large upload's
client CPU beside the same bytes handed to httpx whole. Agent pools:
a Shell pool's warm command, and MCP tool calls beside direct executions.
"""

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys

from bench import agents, client_tokens, python_sessions, smoke_cli, uploads, verify_cost
from bench.caps import caps_cost
from bench.emulators import ROOT, EmulatorProcess, idle_process_mib, tree_cpu_s
from bench.executions import HELLO, bare_post_latency, first_execute, idle_session_mib, throughput, warm_latency
from bench.runaway import runaway_cost
from bench.samples import own_cpu_s, percentile, timed
from bench.table import row
from dynamic_sessions.client.tokens import LocalToken


def node_hop_latency(count: int) -> list[float]:
    node = subprocess.Popen(["node", str(ROOT / "bench" / "node_hop.js")], stderr=subprocess.PIPE, text=True)
    try:
        assert node.stderr is not None
        port = int(node.stderr.readline())
        # The same bare POST as against the emulator, so both meet one client.
        return bare_post_latency(f"http://127.0.0.1:{port}", count, HELLO, "bench-plain", {})
    finally:
        node.kill()
        node.wait()


def fresh_process(count: int) -> list[float]:
    def run() -> None:
        subprocess.run(["node", "-e", HELLO], check=True, capture_output=True)

    return timed(run, count)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples, for a fast look")
    args = parser.parse_args()
    n_warm, n_new, n_fresh, seconds = (300, 10, 10, 1.0) if args.quick else (3000, 30, 40, 5.0)

    node_version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    sandbox = "bubblewrap" if shutil.which("bwrap") else "none (bwrap missing)"
    print(f"machine: {os.cpu_count()} cores; node {node_version}; sandbox: {sandbox}\n")
    fresh = fresh_process(n_fresh)
    with EmulatorProcess("--max-sessions", "20") as cold_pool:
        warm = warm_latency(cold_pool.url, n_warm)
        auth = {"Authorization": f"Bearer {LocalToken().token()}"}
        plain = bare_post_latency(cold_pool.url, n_warm, HELLO, "bench-plain", auth)
        cold = first_execute(cold_pool.url, n_new)
        memory = idle_session_mib(cold_pool, 10, "bench")
    with EmulatorProcess("--max-sessions", "20", "--ready-sessions", "3") as ready_pool:
        ready = first_execute(ready_pool.url, n_new)
    with EmulatorProcess("--max-sessions", "20") as load_pool:
        server_before, client_before = tree_cpu_s(load_pool.process.pid), own_cpu_s()
        done, elapsed = asyncio.run(throughput(load_pool.url, 5, seconds))
        server_cpu = (tree_cpu_s(load_pool.process.pid) - server_before) / done * 1000
        client_cpu = (own_cpu_s() - client_before) / done * 1000
    bare = idle_process_mib(["node", "-e", "setTimeout(() => {}, 5000)"])
    hop = node_hop_latency(n_warm)

    fresh_p50, warm_p50 = statistics.median(fresh), statistics.median(warm)
    rate = done / elapsed
    print(row("figure", "measured", "baseline", "target", None))
    plain_p50, hop_p50 = statistics.median(plain), statistics.median(hop)
    print(row("warm hello-world, SessionsClient, p50", f"{warm_p50:.3f} ms", "", "<= 1.5 ms", warm_p50 <= 1.5))
    print(row("warm hello-world, SessionsClient, p99", f"{percentile(warm, 0.99):.2f} ms", "", "", None))
    print(
        row(
            "warm hello-world, bare httpx POST, p50",
            f"{plain_p50:.3f} ms",
            f"persistent node HTTP {hop_p50:.2f} ms",
            "<= 1.5 ms",
            plain_p50 <= 1.5,
        )
    )
    print(
        row(
            "warm execute vs fresh `node -e` per call",
            f"{fresh_p50 / warm_p50:.0f}x faster",
            f"node -e p50 {fresh_p50:.1f} ms",
            ">= 40x",
            fresh_p50 / warm_p50 >= 40,
        )
    )
    ready_p50 = statistics.median(ready)
    print(
        row(
            "new session, first execute, p50",
            f"{ready_p50:.2f} ms",
            f"no ready sessions {statistics.median(cold):.1f} ms",
            "<= 10 ms (ready)",
            ready_p50 <= 10,
        )
    )
    print(
        row(
            "executions/s, 5 sessions, AsyncSessionsClient",
            f"{rate:,.0f}/s",
            f"{done} in {elapsed:.1f} s",
            ">= 1,000/s",
            rate >= 1000,
        )
    )
    print(
        row(
            "  CPU per execution under that load",
            f"client {client_cpu:.2f} ms",
            f"emulator+node {server_cpu:.2f} ms",
            "",
            None,
        )
    )
    print(row("memory per idle session (RSS)", f"{memory:.1f} MiB", f"bare node {bare:.1f} MiB", "", None))
    figures = smoke_cli.rows(args.quick) + verify_cost.rows(args.quick) + uploads.rows(args.quick)
    for figure in figures + client_tokens.rows(args.quick):
        print(row(*figure))
    python_sessions.run(args.quick)
    agents.run(args.quick)
    if shutil.which("bwrap"):
        print("\n".join(caps_cost(n_warm, n_new)))
        print("\n".join(runaway_cost(n_warm)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
