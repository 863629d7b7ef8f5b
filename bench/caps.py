"""What the sandbox's per-session caps cost: the same figures with caps and with `--no-caps`, same run.

Caps add work only when a session starts (cgroups, a /mnt/data file system, a shell, setpriv and
prlimit before Node); an execution in a warm session crosses none of it. Both pools run in
alternating rounds, so a busy moment of the shared machine falls on both sides.
"""

import statistics

from bench.emulators import EmulatorProcess
from bench.executions import first_execute, warm_latency
from bench.table import row


def caps_cost(n_warm: int, n_new: int, rounds: int = 2) -> list[str]:
    samples: dict[str, dict[str, list[float]]] = {"caps": {"warm": [], "new": []}, "none": {"warm": [], "new": []}}
    for _ in range(rounds):
        for side, flags in (("caps", ()), ("none", ("--no-caps",))):
            with EmulatorProcess("--max-sessions", "20", *flags) as pool:
                samples[side]["warm"] += warm_latency(pool.url, n_warm // rounds)
                samples[side]["new"] += first_execute(pool.url, max(1, n_new // rounds))
    warm = {side: statistics.median(s["warm"]) for side, s in samples.items()}
    new = {side: statistics.median(s["new"]) for side, s in samples.items()}
    warm_base, new_base = f"--no-caps {warm['none']:.3f} ms", f"--no-caps {new['none']:.1f} ms"
    return [
        row("warm hello-world p50, caps in force", f"{warm['caps']:.3f} ms", warm_base, "", None),
        row("new session, first execute p50, caps", f"{new['caps']:.1f} ms", new_base, "", None),
    ]
