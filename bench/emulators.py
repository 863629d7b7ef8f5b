"""The emulator as `make bench` runs it, and what its process tree holds, read from /proc."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class EmulatorProcess:
    """`python -m emulator` on a free loopback port for a `with` block; sandboxed where bubblewrap is
    installed, so figures are taken as a user would run it."""

    def __init__(self, *flags: str, log_level: str = "error"):
        sandbox = [] if shutil.which("bwrap") else ["--unsandboxed", "--egress", "enabled"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--port", "0", "--log-level", log_level, *sandbox, *flags],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip().split("=", 1)[1]

    def __enter__(self) -> "EmulatorProcess":
        return self

    def __exit__(self, *_: object) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


def process_tree(pid: int) -> set[int]:
    """`pid` and every live process below it."""
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
    return tree


def tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and everything below it."""
    total = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total


def idle_process_mib(command: list[str]) -> float:
    """Resident memory of `command` (which must stay up a few seconds) one second after it starts."""
    idle = subprocess.Popen(command)
    time.sleep(1.0)
    rss = tree_rss_kib(idle.pid)
    idle.kill()
    idle.wait()
    return rss / 1024


def tree_cpu_s(pid: int) -> float:
    """User and system CPU seconds of a process and everything below it."""
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")
