"""Starting session processes so that no descriptor of the emulator reaches them.

asyncio's subprocesses inherit whatever the event loop lets through: uvloop (which uvicorn picks when
installed) does not close descriptors the emulator's parent left open without close-on-exec, nor its
own. The standard library's `subprocess` closes every descriptor but stdio and `pass_fds` in the child
whatever the loop, so processes start through it; their end is awaited on the loop through a pidfd.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence

# Reaping tasks of killed processes, held until done: the loop keeps only weak references to tasks.
_REAPING: set["asyncio.Task[int]"] = set()


class Child:
    """A started process: its pid, its exit status once it has ended, and a way to await that end."""

    def __init__(self, popen: subprocess.Popen[bytes]):
        self._popen = popen
        self.pid = popen.pid
        self._pidfd = os.pidfd_open(popen.pid)
        self._exited: asyncio.Future[None] | None = None

    @property
    def returncode(self) -> int | None:
        if self._popen.returncode is None:
            self._popen.poll()
            if self._popen.returncode is not None:
                self._close_pidfd()
        return self._popen.returncode

    async def wait(self) -> int:
        if self.returncode is not None:
            return self._popen.returncode
        if self._exited is None:
            loop = asyncio.get_running_loop()
            exited: asyncio.Future[None] = loop.create_future()
            fd = self._pidfd

            def readable() -> None:  # a pidfd turns readable when its process ends
                loop.remove_reader(fd)
                if not exited.done():
                    exited.set_result(None)

            loop.add_reader(fd, readable)
            self._exited = exited
        await asyncio.shield(self._exited)
        code = self._popen.wait()
        self._close_pidfd()
        return code

    def kill(self) -> None:
        """SIGKILLs the process if it has not ended; it is then reaped, and its pidfd closed, on the running loop
        (a process given up on, its start cancelled or failed, leaves neither a zombie nor a descriptor)."""
        if self.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        reaping = asyncio.get_running_loop().create_task(self.wait())
        _REAPING.add(reaping)
        reaping.add_done_callback(_REAPING.discard)

    def _close_pidfd(self) -> None:
        if self._pidfd >= 0:
            if self._exited is not None and not self._exited.done():
                with contextlib.suppress(RuntimeError, ValueError):
                    asyncio.get_running_loop().remove_reader(self._pidfd)
                self._exited.set_result(None)
            os.close(self._pidfd)
            self._pidfd = -1


def spawn(
    argv: Sequence[str],
    *,
    pass_fds: Sequence[int] = (),
    env: dict[str, str],
    cwd: str | os.PathLike[str] | None = None,
    start_new_session: bool = False,
    stdin: int = subprocess.DEVNULL,
    stdout: int = subprocess.DEVNULL,
    stderr: int = subprocess.DEVNULL,
) -> Child:
    """Starts `argv` with stdio on /dev/null (or `stdin`, `stdout`, `stderr`) and only `pass_fds` open besides."""
    popen = subprocess.Popen(
        list(argv),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        close_fds=True,
        pass_fds=tuple(pass_fds),
        env=env,
        cwd=cwd,
        start_new_session=start_new_session,
    )
    return Child(popen)
