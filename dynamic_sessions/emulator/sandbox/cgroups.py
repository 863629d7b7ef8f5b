"""Per-session control groups: the memory cap (everything a session holds, /tmp included), the task cap,
and a fair share of the CPU (a session's processes weigh as one, however many it starts).

The emulator's groups live below the cgroup it was started in (so any limit put on the emulator
still covers its sessions), as `dynamic-sessions-emulator-<pid>/session-<n>`. cgroup v1 (a
`memory`, a `pids` and a `cpu` hierarchy) and cgroup v2 are both used where the emulator may write.
"""

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PREFIX = "dynamic-sessions-emulator-"
# What session groups are made for: the memory cap, the task cap, and CPU fairness between sessions.
KINDS = ("memory", "pids", "cpu")


@dataclass(frozen=True)
class Controller:
    """One place where session groups are made: a v1 hierarchy, or the v2 one (both controllers)."""

    name: str  # "memory", "pids", "cpu", or "v2"
    parent: Path  # the emulator's own cgroup in that hierarchy

    def limits(self, memory: int, tasks: int) -> dict[str, str]:
        if self.name == "memory":
            return {"memory.limit_in_bytes": str(memory), "memory.memsw.limit_in_bytes": str(memory)}
        if self.name == "pids":
            return {"pids.max": str(tasks)}
        if self.name == "cpu":
            return {}  # the default weight: every session group weighs the same, whatever it runs
        return {"memory.max": str(memory), "memory.swap.max": "0", "pids.max": str(tasks)}


def _own_paths() -> dict[str, str]:
    """The emulator's cgroup per v1 controller, and under "v2" the unified one, from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        number, controllers, path = line.split(":", 2)
        if number == "0" and controllers == "":
            paths["v2"] = path
        for controller in controllers.split(","):
            if controller:
                paths[controller] = path
    return paths


def _v2_mount() -> Path | None:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" - ", 1)
        if len(fields) == 2 and fields[1].split()[0] == "cgroup2":
            return Path(fields[0].split()[4])
    return None


def _usable_v2(parent: Path, wanted: tuple[str, ...]) -> bool:
    try:
        enabled = (parent / "cgroup.subtree_control").read_text().split()
        if all(w in enabled for w in wanted):
            return os.access(parent, os.W_OK)
        (parent / "cgroup.subtree_control").write_text(" ".join(f"+{w}" for w in wanted))
        return True
    except OSError:
        return False  # not delegated, or the emulator's own cgroup holds processes (v2 forbids both)


def discover() -> tuple[list[Controller], dict[str, str]]:
    """The controllers the emulator can use for the memory and task caps, and why the others cannot be."""
    own = _own_paths()
    found: list[Controller] = []
    why: dict[str, str] = {}
    for name in KINDS:
        parent = CGROUP_ROOT / name / own.get(name, "/").lstrip("/")
        if name in own and (parent / "cgroup.procs").exists() and os.access(parent, os.W_OK):
            found.append(Controller(name, parent))
    covered = {c.name for c in found}
    mount = _v2_mount()
    if mount is not None and "v2" in own and covered != set(KINDS):
        parent = mount / own["v2"].lstrip("/")
        available = (parent / "cgroup.controllers").read_text().split() if parent.exists() else []
        wanted = tuple(n for n in KINDS if n in available and n not in covered)
        # The cpu controller can be refused alone (a real-time task in the subtree): the caps come first.
        for attempt in (wanted, tuple(n for n in wanted if n != "cpu")):
            if attempt and _usable_v2(parent, attempt):
                found.append(Controller("v2", parent))
                covered |= set(attempt)
                break
    for name in KINDS:
        if name not in covered:
            why[name] = (
                f"no {name} cgroup the emulator may write (cgroup v1 {CGROUP_ROOT / name} or a delegated cgroup v2)"
            )
    return found, why


class SessionGroup:
    """One session's groups, one per controller; the session's first process joins them before bubblewrap."""

    def __init__(self, paths: list[Path]):
        self.paths = paths

    def entering(self, argv: list[str]) -> list[str]:
        """`argv`, started by a shell that first enters this session's groups: the command is held by the
        caps from its first instruction (a shell running as root, so a command that then becomes the
        session's uid still enters them)."""
        if not self.paths:
            return argv
        script = " && ".join(f'echo $$ > "${n}"' for n in range(1, len(self.paths) + 1))
        joins = [str(p / "cgroup.procs") for p in self.paths]
        return ["/bin/sh", "-c", f'{script} && shift {len(joins)} && exec "$@"', "sh", *joins, *argv]

    def oom_kills(self) -> int:
        """How many of the session's processes the kernel killed for reaching the memory cap."""
        for path in self.paths:
            for name in ("memory.oom_control", "memory.events"):
                with contextlib.suppress(OSError):
                    for line in (path / name).read_text().splitlines():
                        if line.startswith("oom_kill "):
                            return int(line.split()[1])
        return 0

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.paths:
            with contextlib.suppress(OSError):
                found |= {int(p) for p in (path / "cgroup.procs").read_text().split()}
        return found

    def remove(self) -> None:
        """Kills whatever is left inside and removes the groups."""
        for path in self.paths:
            _remove_tree(path)


def _remove_tree(path: Path) -> None:
    for child in [p for p in path.iterdir() if p.is_dir()] if path.is_dir() else []:
        _remove_tree(child)
    for _ in range(200):
        try:
            pids = (path / "cgroup.procs").read_text().split()
        except OSError:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)  # the killed processes are still exiting


class EmulatorGroups:
    """The emulator's subtree in each usable controller, and the groups of its sessions."""

    def __init__(self, controllers: list[Controller], memory: int, tasks: int):
        self.controllers = controllers
        self.memory = memory
        self.tasks = tasks
        self.tops = [c.parent / f"{PREFIX}{os.getpid()}" for c in controllers]
        self._count = 0
        for controller in controllers:
            remove_stale(controller.parent)
        for top, controller in zip(self.tops, self.controllers, strict=True):
            top.mkdir(exist_ok=True)
            if controller.name == "v2":
                for name in KINDS:
                    with contextlib.suppress(OSError):
                        (top / "cgroup.subtree_control").write_text(f"+{name}")

    def new_session(self) -> SessionGroup:
        self._count += 1
        paths = []
        for top, controller in zip(self.tops, self.controllers, strict=True):
            path = top / f"session-{self._count}"
            path.mkdir()
            for name, value in controller.limits(self.memory, self.tasks).items():
                target = path / name
                if target.exists():  # memsw only with swap accounting, swap.max only with swap
                    target.write_text(value)
            paths.append(path)
        return SessionGroup(paths)

    def remove(self) -> None:
        for top in self.tops:
            with contextlib.suppress(OSError):
                _remove_tree(top)


def remove_stale(parent: Path) -> None:
    """Removes the subtrees of emulators that are gone (a SIGKILL leaves them behind)."""
    with contextlib.suppress(OSError):
        for top in parent.glob(f"{PREFIX}*"):
            pid = top.name.removeprefix(PREFIX)
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                _remove_tree(top)
