"""`python -m smoke` end to end against the emulator, beside one `curl` doing the same work.

The work: a new session runs the hello-world, then the session is released (POST code/execute,
DELETE session), once against a pool with no ready sessions (as `make demo` runs it) and once with
ready sessions (a new identifier skips the interpreter's start-up). Both clients run as separate
processes, alternately, on the same pool. Also: `python -m smoke --help`, which must load neither
httpx, azure-identity nor pulumi, and a bare `python -c pass` for the interpreter's own start-up.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from bench.emulators import ROOT, EmulatorProcess
from bench.executions import HELLO
from dynamic_sessions.api_versions import DEFAULT_API_VERSION, RELEASE_API_VERSION
from dynamic_sessions.client.tokens import LocalToken

HELLO_BODY = json.dumps(
    {
        "properties": {
            "codeInputType": "inline",
            "executionType": "synchronous",
            "code": HELLO,
            "timeoutInSeconds": 60,
        }
    }
)
Row = tuple[str, str, str, str, bool | None]


def _wall_ms(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, env=env)
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed ({done.returncode}): {done.stdout[-300:]} {done.stderr[-300:]}")
    return elapsed, done.stdout


def smoke_ms(url: str) -> float:
    elapsed, out = _wall_ms([sys.executable, "-m", "smoke", "--endpoint", url, "--json"])
    report = json.loads(out)
    assert report["passed"] and report["sessionReleased"], report
    return elapsed


def curl_ms(curl: str, url: str, token: str, identifier: str) -> float:
    auth = f"Authorization: Bearer {token}"
    command = [
        curl, "-sS", "-o", "/dev/null", "-w", "%{http_code} ", "-H", auth, "-H", "Content-Type: application/json",
        "-d", HELLO_BODY, f"{url}/code/execute?api-version={DEFAULT_API_VERSION}&identifier={identifier}",
        "--next", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE", "-H", auth,
        f"{url}/session?api-version={RELEASE_API_VERSION}&identifier={identifier}",
    ]  # fmt: skip
    elapsed, out = _wall_ms(command)
    assert out.split() == ["200", "204"], out
    return elapsed


def side_by_side(curl: str, url: str, count: int, label: str) -> list[Row]:
    token = LocalToken().token()
    smoke, plain = [], []
    for i in range(count):
        time.sleep(0.3)  # lets the pool start its next ready session, as the time between deploys would
        smoke.append(smoke_ms(url))
        time.sleep(0.3)
        plain.append(curl_ms(curl, url, token, f"bench-curl-{os.getpid()}-{len(label)}-{i}"))
    smoke_p50, curl_p50 = statistics.median(smoke), statistics.median(plain)
    ratio = smoke_p50 / curl_p50
    return [
        (
            f"smoke vs curl, new session + release, {label}",
            f"{smoke_p50:.0f} ms ({ratio:.1f}x)",
            f"curl {curl_p50:.1f} ms",
            "<= 5x curl",
            ratio <= 5,
        )
    ]


def help_row(count: int) -> list[Row]:
    help_ms, pass_ms = [], []
    for _ in range(count):
        help_ms.append(_wall_ms([sys.executable, "-m", "smoke", "--help"])[0])
        pass_ms.append(_wall_ms([sys.executable, "-c", "pass"])[0])
    traced = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "smoke", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    modules = {line.rsplit("|", 1)[-1].strip() for line in traced.stderr.splitlines() if "|" in line}
    heavy = sorted(m for m in modules if m.split(".")[0] in ("httpx", "azure", "pulumi"))
    return [
        (
            "`python -m smoke --help`, p50",
            f"{statistics.median(help_ms):.0f} ms",
            f"python -c pass {statistics.median(pass_ms):.0f} ms",
            "no httpx/azure/pulumi",
            not heavy,
        )
    ]


def rows(quick: bool) -> list[Row]:
    count = 5 if quick else 15
    curl = shutil.which("curl")
    if curl is None:
        return [("smoke vs curl", "curl is not installed", "", "<= 5x curl", None), *help_row(count)]
    measured: list[Row] = []
    with EmulatorProcess("--max-sessions", "20", log_level="warning") as cold:
        measured += side_by_side(curl, cold.url, count, "no ready sessions")
    with EmulatorProcess("--max-sessions", "20", "--ready-sessions", "2", log_level="warning") as ready:
        measured += side_by_side(curl, ready.url, count, "2 ready sessions")
    return measured + help_row(count)


if __name__ == "__main__":
    for figure in rows("--quick" in sys.argv):
        print(figure)
