"""PythonLTS sessions' figures, each beside its baseline in the same run: warm execute over HTTP, a new
session's first execute with and without ready sessions, memory per idle session, and one fresh
`python -c` process per call (the interpreter sessions run, with and without their `-I -S`)."""

import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from dynamic_sessions.client.client import SOCKET_OPTIONS, SessionsClient
from dynamic_sessions.client.tokens import LocalToken
from dynamic_sessions.emulator.runtimes import PYTHON_FLAGS, default_python

ROOT = Path(__file__).resolve().parent.parent
HELLO = 'print("hello-world")'
API = "2025-10-02-preview"


class PythonPool:
    def __init__(self, *flags: str):
        sandbox = [] if shutil.which("bwrap") else ["--unsandboxed", "--egress", "enabled"]
        command = [sys.executable, "-m", "emulator", "--port", "0", "--log-level", "warning", *sandbox]
        self.process = subprocess.Popen(
            [*command, "--container-type", "PythonLTS", *flags], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip().split("=", 1)[1]

    def __enter__(self) -> "PythonPool":
        return self

    def __exit__(self, *_: object) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


def _timed(fn: Callable[[], object], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def warm(url: str, count: int) -> list[float]:
    with SessionsClient(url, api_version=API) as client:
        for _ in range(200):
            client.execute(HELLO, "bench-py-warm")
        return _timed(lambda: client.execute(HELLO, "bench-py-warm"), count)


def bare_post(url: str, count: int) -> list[float]:
    body = {"codeInputType": "Inline", "executionType": "Synchronous", "code": HELLO, "timeoutInSeconds": 60}
    headers = {"Authorization": f"Bearer {LocalToken().token()}"}
    target = f"{url}/executions?api-version={API}&identifier=bench-py-plain"
    with httpx.Client(transport=httpx.HTTPTransport(socket_options=SOCKET_OPTIONS), headers=headers) as http:
        for _ in range(200):
            http.post(target, json=body).raise_for_status()
        return _timed(lambda: http.post(target, json=body), count)


def first_execute(url: str, count: int) -> list[float]:
    samples = []
    with SessionsClient(url, api_version=API) as client:
        client.execute(HELLO, "bench-py-prime")
        client.release("bench-py-prime")
        for i in range(count):
            identifier = f"bench-py-new-{i}"
            started = time.perf_counter()
            result = client.execute(HELLO, identifier)
            samples.append((time.perf_counter() - started) * 1000)
            assert result.stdout == "hello-world\n", result
            client.release(identifier)
            time.sleep(0.15)  # lets the pool start the next ready session, as idle time between users would
    return samples


def _tree_rss_kib(pid: int) -> int:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    tree, frontier = {pid}, {pid}
    while frontier:
        frontier = {c for c, p in parents.items() if p in frontier} - tree
        tree |= frontier
    total = 0
    for member in tree:
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total


def idle_memory_mib(pool: PythonPool, sessions: int) -> float:
    before = _tree_rss_kib(pool.process.pid)
    with SessionsClient(pool.url, api_version=API) as client:
        for s in range(sessions):
            client.execute("1", f"bench-py-idle-{s}")
    time.sleep(1.0)
    return (_tree_rss_kib(pool.process.pid) - before) / sessions / 1024


def bare_python_mib() -> float:
    """An idle interpreter as sessions start it, outside the sandbox: what a session costs at least."""
    idle = subprocess.Popen([default_python(), *PYTHON_FLAGS, "-c", "import time; time.sleep(5)"])
    time.sleep(1.0)
    rss = _tree_rss_kib(idle.pid)
    idle.kill()
    idle.wait()
    return rss / 1024


def fresh_process(count: int, flags: tuple[str, ...]) -> list[float]:
    python = default_python()
    return _timed(lambda: subprocess.run([python, *flags, "-c", HELLO], check=True, capture_output=True), count)


def _row(name: str, value: str, baseline: str, target: str, met: bool | None) -> str:
    verdict = "" if met is None else ("met" if met else "NOT MET")
    return f"{name:<44}{value:>16}  {baseline:>30}  {target:<18}{verdict}"


def run(quick: bool) -> None:
    n_warm, n_new, n_fresh = (300, 10, 10) if quick else (3000, 30, 40)
    fresh_isolated = fresh_process(n_fresh, PYTHON_FLAGS)
    fresh_plain = fresh_process(n_fresh, ())
    with PythonPool("--max-sessions", "20") as cold_pool:
        warm_ms = warm(cold_pool.url, n_warm)
        plain_ms = bare_post(cold_pool.url, n_warm)
        cold_ms = first_execute(cold_pool.url, n_new)
        memory = idle_memory_mib(cold_pool, 10)
    with PythonPool("--max-sessions", "20", "--ready-sessions", "3") as ready_pool:
        ready_ms = first_execute(ready_pool.url, n_new)

    version = subprocess.run([default_python(), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"\nPythonLTS sessions ({default_python()}, {version})")
    warm_p50, plain_p50 = statistics.median(warm_ms), statistics.median(plain_ms)
    fresh_p50, ready_p50 = statistics.median(fresh_isolated), statistics.median(ready_ms)
    print(_row("figure", "measured", "baseline", "target", None))
    print(_row("warm print, SessionsClient, p50", f"{warm_p50:.3f} ms", "", "<= 1.5 ms", warm_p50 <= 1.5))
    print(_row("warm print, SessionsClient, p99", f"{_p(warm_ms, 0.99):.2f} ms", "", "", None))
    print(_row("warm print, bare httpx POST, p50", f"{plain_p50:.3f} ms", "", "<= 1.5 ms", plain_p50 <= 1.5))
    print(
        _row(
            "warm execute vs fresh `python -c` per call",
            f"{fresh_p50 / warm_p50:.0f}x faster",
            f"python -I -S -c p50 {fresh_p50:.1f} ms",
            "",
            None,
        )
    )
    print(_row("", "", f"python -c (site) p50 {statistics.median(fresh_plain):.1f} ms", "", None))
    print(
        _row(
            "new session, first execute, p50",
            f"{ready_p50:.2f} ms",
            f"no ready sessions {statistics.median(cold_ms):.1f} ms",
            "<= 10 ms (ready)",
            ready_p50 <= 10,
        )
    )
    bare = bare_python_mib()
    print(_row("memory per idle session (RSS)", f"{memory:.1f} MiB", f"bare python -I -S {bare:.1f} MiB", "", None))


if __name__ == "__main__":
    run("--quick" in sys.argv)
