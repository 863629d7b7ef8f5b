"""How a session's interpreter (Node.js or Python) is started: under bubblewrap, or (only when asked) unsandboxed.

Two modes, chosen by who runs the emulator:
- root: every session runs as its own unprivileged uid (`SESSION_UID_BASE` + slot), joins its own
  memory and pids cgroups, and gets a size-limited tmpfs as /mnt/data.
- an ordinary user: sessions run as that user inside an unprivileged user namespace; caps come
  from rlimits (and from cgroups only where the user has been delegated some).
In both, bubblewrap gets a minimal environment, unshares every namespace (user included), forbids
nested user namespaces, drops every capability, and binds read-only everything but /mnt/data.
"""

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from dynamic_sessions.emulator.sandbox import cgroups, network, seccomp
from dynamic_sessions.emulator.sandbox.caps import GIB, Caps, Enforcement, show_size
from dynamic_sessions.emulator.sandbox.program import Runtime

SANDBOX_KERNEL_DIR = "/opt/emulator"
SANDBOX_DATA_DIR = "/mnt/data"
TMP = "/tmp"  # noqa: S108 (a fresh tmpfs inside the sandbox)
SHM = "/dev/shm"  # noqa: S108 (likewise)
# Only what Node and TLS need, and the name of the distribution (agents look at /etc/os-release first); the
# host's home, the project and other sessions stay out of reach.
READ_ONLY_ETC = ("/etc/ssl", "/etc/ca-certificates", "/etc/hosts", "/etc/nsswitch.conf", "/etc/os-release")
# Far from the ranges other tools hand out (subuid ranges from 100000, systemd's up to 0x6FFFFFFF).
SESSION_UID_BASE = 1_900_000_000
# All bubblewrap and its helpers see: the emulator's own environment (tokens, secrets) stays out.
MINIMAL_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
# Node reserves address space it never touches (~0.7 GiB); a per-process address-space cap leaves room for it.
RESERVED_ADDRESS_SPACE = GIB
# RLIMIT_CORE of 1 byte: no core file fits, and the kernel skips a core_pattern pipe for exactly this value.
NO_CORE_DUMPS = 1


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing and running unsandboxed was not asked for, or a requested setting cannot hold."""


@dataclass(frozen=True)
class Launcher:
    """Builds the command line of one session process."""

    runtime: Runtime
    bwrap: str | None
    egress: bool
    caps: Caps = field(default_factory=Caps)
    as_root: bool = False
    """True when the emulator is root: sessions then get their own uid, cgroups and /mnt/data file system."""
    setpriv: str | None = None
    prlimit: str | None = None
    slirp: str | None = None
    controllers: tuple[cgroups.Controller, ...] = ()
    memory_cgroup: bool = False
    """Whether a memory cgroup holds each session; without one, an address-space rlimit stands in."""
    enforcement: Enforcement = field(default_factory=Enforcement)
    seccomp_filter: bytes | None = None
    """The compiled seccomp program bubblewrap loads for each session, or None where libseccomp is missing."""
    seccomp_missing: str = ""

    @property
    def sandboxed(self) -> bool:
        return self.bwrap is not None

    def session_uid(self, slot: int) -> int | None:
        return SESSION_UID_BASE + slot if self.sandboxed and self.as_root else None

    def command(
        self,
        data_dir: Path,
        channel_fd: int,
        *,
        uid: int | None = None,
        group: cgroups.SessionGroup | None = None,
        info_fd: int | None = None,
        shared: Path | None = None,
        seccomp_fd: int | None = None,
    ) -> list[str]:
        """`channel_fd` is the inherited socket the kernel talks over (bubblewrap keeps its number).

        `uid`: the session's own uid (root mode); `group`: the cgroups the first process enters
        before anything of the session runs; `info_fd`: where bubblewrap names its child
        (for the network); `shared`: a folder every session uid can reach, holding the copies of
        the kernel file and (with egress) resolv.conf that sessions see; without it, the package's own;
        `seccomp_fd`: where bubblewrap reads `seccomp_filter`.
        """
        if self.bwrap is None:
            return self.runtime.argv(str(self.runtime.kernel), channel_fd)
        kernel = f"{SANDBOX_KERNEL_DIR}/{self.runtime.kernel.name}"
        session = [*self._rlimits(), *self.runtime.argv(kernel, channel_fd)]
        bwrap = [self.bwrap, *self._bwrap_args(data_dir, info_fd, shared, seccomp_fd), "--", *session]
        if uid is not None and self.setpriv is not None:
            bwrap = [self.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs", *bwrap]
        return group.entering(bwrap) if group is not None else bwrap

    def hiding_arguments(self, argv: list[str], args_fd: int) -> tuple[list[str], bytes]:
        """`argv` with bubblewrap's arguments moved to `args_fd`, which bubblewrap reads (`--args`), and
        what to write there. Bubblewrap is pid 1 of the session's pid namespace: its command line, which
        session code reads in /proc/1/cmdline, then names no host path (the scratch folder, the
        emulator's pid in it)."""
        if self.bwrap is None or self.bwrap not in argv:
            return argv, b""
        start = argv.index(self.bwrap) + 1
        end = argv.index("--", start)  # the command itself stays: bubblewrap reads only options there
        options = b"".join(arg.encode() + b"\0" for arg in argv[start:end])
        return [*argv[:start], "--args", str(args_fd), *argv[end:]], options

    def environment(self, data_dir: Path) -> dict[str, str]:
        """The environment of the process the emulator starts: minimal, whether sandboxed or not."""
        if self.sandboxed:
            return dict(MINIMAL_ENV)
        return {"PATH": "/usr/bin:/bin", "HOME": str(data_dir), "SESSION_DATA_DIR": str(data_dir)}

    def _rlimits(self) -> list[str]:
        if self.prlimit is None:
            return []
        # No core dumps, even under --no-caps: 1 is the kernel's "never", also where core_pattern pipes
        # dumps to a helper that runs as root on the host, and session code cannot raise a hard limit.
        limits = [f"--core={NO_CORE_DUMPS}"]
        if not self.caps.enabled:
            return [self.prlimit, *limits, "--"]
        # Set inside the sandbox: RLIMIT_NPROC then counts only this session's tasks (its own user namespace).
        limits.append(f"--nproc={self.caps.processes}")
        if not self.as_root:
            limits.append(f"--fsize={self.caps.data}")
        if not self.memory_cgroup:
            limits.append(f"--as={self.caps.memory + RESERVED_ADDRESS_SPACE}")
        return [self.prlimit, *limits, "--"]

    def _bwrap_args(
        self, data_dir: Path, info_fd: int | None, shared: Path | None, seccomp_fd: int | None
    ) -> list[str]:
        args = [
            "--die-with-parent", "--new-session",
            "--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL",
        ]  # fmt: skip
        if info_fd is not None:
            args += ["--info-fd", str(info_fd)]
        if seccomp_fd is not None:
            args += ["--seccomp", str(seccomp_fd)]
        for top in ("/bin", "/lib", "/lib64", "/sbin"):
            if os.path.islink(top):
                args += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                args += ["--ro-bind", top, top]
        args += ["--ro-bind", "/usr", "/usr"]
        for path in READ_ONLY_ETC:
            args += ["--ro-bind-try", path, path]
        if self.egress and shared is not None:
            args += ["--ro-bind", str(shared / "resolv.conf"), "/etc/resolv.conf"]
        args += ["--proc", "/proc", "--dev", "/dev"]
        # The only writable places besides /mnt/data, each a tmpfs of its own, sized when caps are on.
        for scratch in (TMP, SHM):
            if self.caps.enabled:
                args += ["--size", str(self.caps.tmp)]
            args += ["--tmpfs", scratch]
        # After the tmpfs, which would hide a folder of the runtime's under /tmp.
        for folder in self.runtime.read_only:
            args += ["--ro-bind", folder, folder]
        kernel = self.runtime.kernel
        args += [
            # Unbounded tmpfs otherwise: the sandbox's root and its /dev would take writes past every cap.
            "--remount-ro", "/dev",
            # The kernel file alone: the emulator's other files stay out of the session's sight.
            "--ro-bind", str(shared / kernel.name if shared else kernel), f"{SANDBOX_KERNEL_DIR}/{kernel.name}",
            "--bind", str(data_dir), SANDBOX_DATA_DIR,
            "--chdir", SANDBOX_DATA_DIR,
            "--hostname", "session",
            "--clearenv",
            "--setenv", "PATH", "/usr/bin:/bin",
            "--setenv", "HOME", SANDBOX_DATA_DIR,
            "--remount-ro", "/",
        ]  # fmt: skip
        return args


def _enforcement(caps: Caps, as_root: bool, prlimit: str | None, why_not: dict[str, str]) -> Enforcement:
    report = Enforcement()
    if not caps.enabled:
        report.missing[f"memory, processes, cpu share, {TMP}, {SHM}, {SANDBOX_DATA_DIR}"] = "lifted by --no-caps"
        return report
    if "memory" not in why_not:
        report.held["memory"] = f"{show_size(caps.memory)} per session, everything it holds (memory cgroup)"
    elif prlimit is not None:
        space = show_size(caps.memory + RESERVED_ADDRESS_SPACE)
        report.held["memory"] = f"{space} of address space per process (RLIMIT_AS: the cap + 1 GiB Node reserves)"
        report.missing["memory (whole session)"] = why_not["memory"]
    else:
        report.missing["memory"] = why_not["memory"]
    how = []
    if prlimit is not None:
        how.append("RLIMIT_NPROC in the session's user namespace")
    if "pids" not in why_not:
        how.append("pids cgroup")
    if how:
        report.held["processes"] = f"{caps.processes} tasks (processes and threads) per session ({', '.join(how)})"
    else:
        report.missing["processes"] = "neither prlimit nor a pids cgroup is available"
    if "cpu" not in why_not:
        report.held["cpu"] = "a fair share per session: all its processes weigh as one (cpu cgroup)"
    else:
        report.missing["cpu share"] = why_not["cpu"] + "; a session's processes compete one by one for the CPU"
    report.held[f"{TMP}, {SHM}"] = f"{show_size(caps.tmp)} each (tmpfs size)"
    if as_root:
        report.held["/mnt/data"] = f"{show_size(caps.data)} in all (a tmpfs of that size)"
    elif prlimit is not None:
        report.held["/mnt/data"] = f"{show_size(caps.data)} per file (RLIMIT_FSIZE)"
        report.missing["/mnt/data (total)"] = "only root can mount a size-limited file system for it"
    else:
        report.missing["/mnt/data"] = "prlimit is not installed and only root can mount a size-limited file system"
    return report


def _closed_to_others(path: Path) -> Path | None:
    """The first folder on the way to `path` that users other than its owner cannot pass, if any."""
    for folder in reversed(path.parents):
        if not os.stat(folder).st_mode & 0o001:
            return folder
    return None


def make_launcher(runtime: Runtime, egress: bool, unsandboxed: bool, caps: Caps | None = None) -> Launcher:
    """The launcher of `runtime`'s sessions on this machine, or `SandboxUnavailable` with what to do."""
    caps = caps or Caps()
    if unsandboxed:
        return Launcher(runtime=runtime, bwrap=None, egress=egress, caps=caps)
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed, so session code cannot be sandboxed: "
            "install it (Debian/Ubuntu: apt-get install bubblewrap), or for trusted code only pass "
            "--unsandboxed --egress enabled, which runs it with your own user's access to this machine"
        )
    as_root = os.geteuid() == 0
    setpriv = shutil.which("setpriv")
    if as_root and setpriv is None:
        raise SandboxUnavailable(
            "as root, sessions are started as their own unprivileged uid with setpriv (util-linux), "
            "which is not on PATH: install util-linux, or run the emulator as an ordinary user"
        )
    interpreter = Path(runtime.interpreter).resolve()
    if as_root and (closed := _closed_to_others(interpreter)) is not None:
        raise SandboxUnavailable(
            f"as root, sessions run as an unprivileged uid, which cannot reach {runtime.name} at {interpreter} "
            f"({closed} is closed to other users): install it system-wide (under /usr) "
            "or run the emulator as an ordinary user"
        )
    for folder in runtime.read_only:
        if as_root and (closed := _closed_to_others(Path(folder) / "x")) is not None:
            raise SandboxUnavailable(
                f"as root, sessions run as an unprivileged uid, which cannot reach {folder} ({closed} is closed "
                "to other users): move it under a folder every user can pass through (chmod o+x)"
            )
    slirp = shutil.which("slirp4netns") if egress else None
    if egress and (reason := network.unusable_reason(slirp, as_root)) is not None:
        raise SandboxUnavailable(reason)
    prlimit = shutil.which("prlimit")
    controllers, why_not = cgroups.discover() if caps.enabled else ([], {})
    memory_cgroup = caps.enabled and "memory" not in why_not
    try:
        program = seccomp.compile_filter(unconfined_memory=not memory_cgroup, shared_user=not as_root)
        seccomp_missing = ""
    except seccomp.SeccompUnavailable as missing:
        program, seccomp_missing = None, str(missing)
    return Launcher(
        runtime=runtime,
        bwrap=bwrap,
        egress=egress,
        caps=caps,
        as_root=as_root,
        setpriv=setpriv,
        prlimit=prlimit,
        slirp=slirp,
        controllers=tuple(controllers),
        memory_cgroup=memory_cgroup,
        enforcement=_enforcement(caps, as_root, prlimit, why_not),
        seccomp_filter=program,
        seccomp_missing=seccomp_missing,
    )
