"""What `python -m smoke --stack S --verify` adds to `python -m smoke --stack S`: wall time and ARM calls.

Both run as separate processes, alternately, on one emulator (2 ready sessions), with the stack's outputs
from a stand-in `pulumi` and, for --verify, Resource Manager from the loopback stand-in the tests use (two grants at the
pool, nothing throttled). What --verify adds: the egress probe (one more execution in the hello-world's
session), the pool's GET and the role-assignment listing, timed inside the smoke (its report's armMs and
egressProbe.ms), and the two processes' wall times, noisier. Against Azure, ARM's own latency comes on top.
Run alone: `.venv/bin/python -m bench.verify_cost [--quick]`.
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.emulators import ROOT, EmulatorProcess
from bench.table import row
from dynamic_sessions.api_versions import POOL_API_VERSION
from dynamic_sessions.azure_facts import EGRESS_STATUS
from tests.arm_stand_in import EXECUTOR_GUID, ArmStandIn, Assignment, pool_id, pool_properties, role_definition_id
from tests.pulumi_stand_in import StandInPulumi

Row = tuple[str, str, str, str, bool | None]
PRINCIPALS = ("22222222-2222-2222-2222-222222222222", "33333333-3333-3333-3333-333333333333")


def _smoke(argv: list[str], env: dict[str, str]) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "smoke", *argv, "--json"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    elapsed = (time.perf_counter() - started) * 1000
    report = json.loads(done.stdout)
    if done.returncode != 0:
        raise RuntimeError(f"smoke {argv[:3]} failed ({done.returncode}): {report['message']}")
    return elapsed, report


def rows(quick: bool) -> list[Row]:
    count = 5 if quick else 15
    # The probe's target: a listener on the host's loopback, which a sandboxed session cannot see (its own
    # network namespace) and an unsandboxed one (no bubblewrap here) reaches; the stack declares either.
    sandboxed = shutil.which("bwrap") is not None
    target = socket.create_server(("127.0.0.1", 0))
    probe_url = f"http://127.0.0.1:{target.getsockname()[1]}"
    pool = pool_id()
    grants = [Assignment(p, "User", EXECUTOR_GUID, pool) for p in PRINCIPALS]
    plain, verified, added, arm_ms, calls = [], [], [], [], set()
    with (
        tempfile.TemporaryDirectory() as folder,
        EmulatorProcess("--max-sessions", "20", "--ready-sessions", "2", log_level="warning") as emulator,
    ):
        status = EGRESS_STATUS[not sandboxed]
        held = pool_properties(emulator.url, sessionNetworkConfiguration={"status": status})
        outputs = {
            "poolManagementEndpoint": emulator.url,
            "poolId": pool,
            "location": "northcentralus",
            "containerType": "NodeLTS",
            "sessionExecutorRoleDefinitionId": role_definition_id(EXECUTOR_GUID),
            "maxSessions": 5,
            "cooldownSeconds": 300,
            "egressEnabled": not sandboxed,
            "lifecycleType": "Timed",
            "poolApiVersion": POOL_API_VERSION,
            "grants": [
                {"principalId": p, "principalType": "User", "roleDefinitionId": role_definition_id(EXECUTOR_GUID)}
                for p in PRINCIPALS
            ],
        }
        StandInPulumi(Path(folder), {"dev": {"outputs": outputs}})
        env = {**os.environ, "PATH": f"{folder}:{os.environ.get('PATH', '')}"}
        env.pop("POOL_MANAGEMENT_ENDPOINT", None)
        with ArmStandIn(pool, held, grants) as arm:
            verify = ["--stack", "dev", "--verify", "--arm-endpoint", arm.url, "--egress-probe-url", probe_url]
            for _ in range(count):
                time.sleep(0.3)  # lets the pool start its next ready session, as between two deploys
                plain.append(_smoke(["--stack", "dev"], env)[0])
                time.sleep(0.3)
                elapsed, report = _smoke(verify, env)
                verified.append(elapsed)
                arm_ms.append(report["armMs"])
                added.append(report["armMs"] + report["egressProbe"]["ms"])
                calls.add(report["armCalls"])
    target.close()
    base, full = statistics.median(plain), statistics.median(verified)
    return [
        (
            "smoke --verify: probe + ARM reads, p50",
            f"+{statistics.median(added):.0f} ms",
            f"smoke alone {base:.0f} ms",
            "",
            None,
        ),
        (
            "  of which ARM reads (pool GET + listing)",
            f"{statistics.median(arm_ms):.0f} ms",
            f"{'/'.join(str(c) for c in sorted(calls))} ARM calls per run",
            "",
            None,
        ),
        (
            "  whole process, --verify minus plain, p50",
            f"{full - base:+.0f} ms",
            f"smoke --verify {full:.0f} ms",
            "",
            None,
        ),
    ]


if __name__ == "__main__":
    for figure in rows("--quick" in sys.argv):
        print(row(*figure))
