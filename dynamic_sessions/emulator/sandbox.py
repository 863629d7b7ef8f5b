"""How a session's interpreter process is started: under bubblewrap, or (only when asked) unsandboxed."""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from dynamic_sessions.emulator.runtimes import Runtime, RuntimeUnavailable, node_runtime

SANDBOX_KERNEL_DIR = "/opt/emulator"
SANDBOX_DATA_DIR = "/mnt/data"
# Only what Node and TLS need; the host's home, the project and other sessions stay out of reach.
READ_ONLY_ETC = ("/etc/ssl", "/etc/ca-certificates", "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing and running unsandboxed was not asked for."""


@dataclass(frozen=True)
class Launcher:
    """Builds the command line of one session process."""

    runtime: Runtime
    bwrap: str | None
    egress: bool

    @property
    def sandboxed(self) -> bool:
        return self.bwrap is not None

    def command(self, data_dir: Path, channel_fd: int) -> list[str]:
        """`channel_fd` is the inherited socket the kernel talks over (bubblewrap keeps its number)."""
        kernel = self.runtime.kernel
        inside = str(kernel) if self.bwrap is None else f"{SANDBOX_KERNEL_DIR}/{kernel.name}"
        session = self.runtime.argv(inside, channel_fd)
        if self.bwrap is None:
            return session
        return [self.bwrap, *self._bwrap_args(data_dir), "--", *session]

    def environment(self, data_dir: Path) -> dict[str, str]:
        """The session's environment when unsandboxed (bubblewrap clears and sets its own)."""
        return {"PATH": "/usr/bin:/bin", "HOME": str(data_dir), "SESSION_DATA_DIR": str(data_dir)}

    def _bwrap_args(self, data_dir: Path) -> list[str]:
        args = ["--die-with-parent", "--new-session", "--unshare-all"]
        if self.egress:
            args.append("--share-net")
        for top in ("/bin", "/lib", "/lib64", "/sbin"):
            if os.path.islink(top):
                args += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                args += ["--ro-bind", top, top]
        args += ["--ro-bind", "/usr", "/usr"]
        for path in READ_ONLY_ETC:
            args += ["--ro-bind-try", path, path]
        args += [
            "--proc", "/proc",
            "--dev", "/dev",
            "--tmpfs", "/tmp",  # noqa: S108 (a fresh tmpfs inside the sandbox)
        ]  # fmt: skip
        # After the tmpfs, which would hide a folder of the runtime's under /tmp.
        for folder in self.runtime.read_only:
            args += ["--ro-bind", folder, folder]
        args += [
            # The kernel file alone: session code sees none of the emulator's other files.
            "--ro-bind", str(self.runtime.kernel), f"{SANDBOX_KERNEL_DIR}/{self.runtime.kernel.name}",
            "--bind", str(data_dir), SANDBOX_DATA_DIR,
            "--chdir", SANDBOX_DATA_DIR,
            "--hostname", "session",
            "--clearenv",
            "--setenv", "PATH", "/usr/bin:/bin",
            "--setenv", "HOME", SANDBOX_DATA_DIR,
        ]  # fmt: skip
        return args


def make_launcher(egress: bool, unsandboxed: bool, runtime: Runtime | None = None) -> Launcher:
    """The launcher for this machine (NodeLTS sessions unless told), or `SandboxUnavailable` with what to do."""
    try:
        runtime = runtime or node_runtime()
    except RuntimeUnavailable as missing:
        raise SandboxUnavailable(str(missing)) from None
    if unsandboxed:
        return Launcher(runtime=runtime, bwrap=None, egress=egress)
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed, so session code cannot be sandboxed: "
            "install it (Debian/Ubuntu: apt-get install bubblewrap) or pass --unsandboxed "
            "to run untrusted code with your own user's access to this machine"
        )
    return Launcher(runtime=runtime, bwrap=bwrap, egress=egress)
