"""What the sandbox starts for one session: an interpreter, its flags, its kernel file, and the host
folders it must see read-only; built per container type by `sessions.runtimes`."""

from dataclasses import dataclass
from pathlib import Path


class RuntimeUnavailable(RuntimeError):
    """The interpreter a container type needs is missing or unusable; the message says what to do."""


@dataclass(frozen=True)
class Package:
    name: str
    version: str


@dataclass(frozen=True)
class Runtime:
    """How to start one session's interpreter, and what `/metadata` reports about it."""

    container_type: str
    name: str
    """The runtime's name in `/metadata` (`node`, `python`)."""
    version: str
    interpreter: str
    flags: tuple[str, ...]
    kernel: Path
    read_only: tuple[str, ...] = ()
    """Host folders the interpreter needs beyond /usr (its prefix, the package set), bound at the same path."""
    kernel_args: tuple[str, ...] = ()
    packages_dir: Path | None = None
    packages: tuple[Package, ...] = ()
    legacy_result_key: str = "executionResult"
    """The field of a `code/execute` answer holding the result: Azure's Python interpreter answers `result`."""

    def argv(self, kernel_path: str, channel_fd: int) -> list[str]:
        """The interpreter's command line; `kernel_path` is where the kernel file is, seen by the process."""
        argv = [self.interpreter, *self.flags, kernel_path, str(channel_fd), *self.kernel_args]
        if self.packages_dir is not None:
            argv += ["--path", str(self.packages_dir)]
        return argv
