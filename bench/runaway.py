"""What a session that leaves busy processes behind costs the others: a bystander's warm p50 beside
such a session, with caps (as root, a cpu cgroup per session: its processes weigh as one) and with
`--no-caps` (every process competes on its own), same run, and the same p50 with nobody spinning.
"""

import statistics

from bench.emulators import EmulatorProcess
from bench.executions import SESSION_API, warm_latency
from bench.table import row
from dynamic_sessions.client.client import SessionsClient

SPINNERS = 16
SPIN = f"""
const {{ spawn }} = require('child_process');
for (let i = 0; i < {SPINNERS}; i++) {{
  spawn('/bin/sh', ['-c', 'while :; do :; done'], {{ detached: true, stdio: 'ignore' }}).unref();
}}
"""


def runaway_cost(n_warm: int) -> list[str]:
    count = max(50, n_warm // 20)
    p50: dict[str, float] = {}
    for side, flags in (("quiet", ()), ("caps", ()), ("none", ("--no-caps",))):
        with EmulatorProcess("--max-sessions", "4", *flags) as pool:
            if side != "quiet":
                with SessionsClient(pool.url, api_version=SESSION_API) as client:
                    client.execute(SPIN, "bench-runaway")
            p50[side] = statistics.median(warm_latency(pool.url, count))
    return [
        row(
            f"warm p50 beside {SPINNERS} busy processes, caps",
            f"{p50['caps']:.2f} ms",
            f"--no-caps {p50['none']:.2f} ms",
            "",
            None,
        ),
        row("  the same with no busy session", f"{p50['quiet']:.2f} ms", "", "", None),
    ]
