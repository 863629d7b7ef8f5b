"""PythonLTS sessions' figures, each beside its baseline in the same run: warm execute over HTTP, a new
session's first execute with and without ready sessions, memory per idle session, one fresh
`python -c` process per call (the interpreter sessions run, with and without their `-I -S`), the
preloaded set against useEmptyKernel, and installing the set into an empty cache."""

import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench import executions
from bench.emulators import EmulatorProcess, idle_process_mib
from bench.executions import bare_post_latency, first_posts, idle_session_mib, warm_latency
from bench.samples import percentile, timed
from bench.table import row
from dynamic_sessions.client.tokens import LocalToken
from dynamic_sessions.emulator.sessions.runtimes import PYTHON_FLAGS, default_python
from dynamic_sessions.smoke import check

HELLO = check.HELLO["PythonLTS"]
# What LLM-written analysis starts with.
SCIENCE = "import numpy, pandas, matplotlib.pyplot"
EMPTY = {"useEmptyKernel": True}


def python_pool(*flags: str) -> EmulatorProcess:
    return EmulatorProcess("--container-type", "PythonLTS", *flags, log_level="warning")


def first_execute(url: str, count: int) -> list[float]:
    return executions.first_execute(url, count, HELLO, "bench-py", expect_stdout="hello-world\n")


def fresh_process(count: int, flags: tuple[str, ...]) -> list[float]:
    python = default_python()
    return timed(lambda: subprocess.run([python, *flags, "-c", HELLO], check=True, capture_output=True), count)


def run(quick: bool) -> None:
    n_warm, n_new, n_fresh = (300, 10, 10) if quick else (3000, 30, 40)
    fresh_isolated = fresh_process(n_fresh, PYTHON_FLAGS)
    fresh_plain = fresh_process(n_fresh, ())
    with python_pool("--max-sessions", "20") as cold_pool:
        warm_ms = warm_latency(cold_pool.url, n_warm, HELLO, "bench-py-warm")
        auth = {"Authorization": f"Bearer {LocalToken().token()}"}
        plain_ms = bare_post_latency(cold_pool.url, n_warm, HELLO, "bench-py-plain", auth)
        cold_ms = first_execute(cold_pool.url, n_new)
        memory = idle_session_mib(cold_pool, 10, "bench-py")
        empty_warm_ms = bare_post_latency(cold_pool.url, n_warm, HELLO, "bench-py-empty", auth, EMPTY)
        first_preloaded = first_posts(cold_pool.url, n_new, HELLO, "bench-py-first", auth, {})
        first_empty = first_posts(cold_pool.url, n_new, HELLO, "bench-py-first-empty", auth, EMPTY)
        first_science = first_posts(cold_pool.url, n_new, SCIENCE, "bench-py-science", auth, {})
    with python_pool("--max-sessions", "20", "--ready-sessions", "3") as ready_pool:
        ready_ms = first_execute(ready_pool.url, n_new)
    provisioning_s = provisioning_time()

    version = subprocess.run([default_python(), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"\nPythonLTS sessions ({default_python()}, {version})")
    warm_p50, plain_p50 = statistics.median(warm_ms), statistics.median(plain_ms)
    fresh_p50, ready_p50 = statistics.median(fresh_isolated), statistics.median(ready_ms)
    print(row("figure", "measured", "baseline", "target", None))
    print(row("warm print, SessionsClient, p50", f"{warm_p50:.3f} ms", "", "<= 1.5 ms", warm_p50 <= 1.5))
    print(row("warm print, SessionsClient, p99", f"{percentile(warm_ms, 0.99):.2f} ms", "", "", None))
    print(row("warm print, bare httpx POST, p50", f"{plain_p50:.3f} ms", "", "<= 1.5 ms", plain_p50 <= 1.5))
    print(
        row(
            "warm execute vs fresh `python -c` per call",
            f"{fresh_p50 / warm_p50:.0f}x faster",
            f"python -I -S -c p50 {fresh_p50:.1f} ms",
            "",
            None,
        )
    )
    print(row("", "", f"python -c (site) p50 {statistics.median(fresh_plain):.1f} ms", "", None))
    print(
        row(
            "new session, first execute, p50",
            f"{ready_p50:.2f} ms",
            f"no ready sessions {statistics.median(cold_ms):.1f} ms",
            "<= 10 ms (ready)",
            ready_p50 <= 10,
        )
    )
    empty_p50 = statistics.median(empty_warm_ms)
    print(
        row(
            "warm print, preloaded kernel, bare POST, p50",
            f"{plain_p50:.3f} ms",
            f"useEmptyKernel {empty_p50:.3f} ms",
            "",
            None,
        )
    )
    print(
        row(
            "new session, first print, p50",
            f"{statistics.median(first_preloaded):.1f} ms",
            f"useEmptyKernel {statistics.median(first_empty):.1f} ms",
            "",
            None,
        )
    )
    print(
        row(
            "new session, first import numpy+pandas+pyplot",
            f"{statistics.median(first_science):.0f} ms",
            "",
            "",
            None,
        )
    )
    print(
        row(
            "preloaded set into an empty cache (pip)",
            f"{provisioning_s:.0f} s",
            "later starts: found offline",
            "",
            None,
        )
    )
    # An idle interpreter as sessions start it, outside the sandbox: what a session costs at least.
    bare = idle_process_mib([default_python(), *PYTHON_FLAGS, "-c", "import time; time.sleep(5)"])
    print(row("memory per idle session (RSS)", f"{memory:.1f} MiB", f"bare python -I -S {bare:.1f} MiB", "", None))


def provisioning_time() -> float:
    """Seconds to install the preloaded set into an empty cache, in a process of its own (pip's own
    download cache stays as it is)."""
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", PROVISION, default_python()],
            env={**os.environ, "XDG_CACHE_HOME": cache},
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started


PROVISION = """import subprocess, sys
from dynamic_sessions.emulator.sessions import packages
version = subprocess.run([sys.argv[1], '-c', 'import platform; print(platform.python_version())'],
                         capture_output=True, text=True, check=True).stdout.strip()
packages.provisioned(version, sys.argv[1])
"""


if __name__ == "__main__":
    run("--quick" in sys.argv)
