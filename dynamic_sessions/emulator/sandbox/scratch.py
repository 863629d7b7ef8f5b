"""Where sessions' files live on the host: one scratch root per user, one locked folder per emulator.

`<tmp>/dynamic-sessions-scratch-<uid>/emulator-<pid>-<random>/session-<random>`. Each emulator
holds an exclusive lock on its folder's `lock` file for its whole life. A folder whose pid is not
running and whose lock is free (an emulator in another pid namespace still holds its own) belongs
to an emulator that is gone, as after a SIGKILL: the next emulator to start removes it. A clean
stop removes the emulator's own folder.
"""

import contextlib
import ctypes
import ctypes.util
import fcntl
import logging
import os
import stat
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger("emulator")
MNT_DETACH = 2
MS_NOSUID = 2
MS_NODEV = 4
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


class ScratchUnusable(RuntimeError):
    """The scratch root exists but is not safely this user's."""


def scratch_root() -> Path:
    return Path(tempfile.gettempdir()) / f"dynamic-sessions-scratch-{os.geteuid()}"


def _own_root(root: Path) -> Path:
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=0o711)
    info = root.lstat()
    # Another user could have made it first, to watch or swap our sessions' files: refuse, do not use it.
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise ScratchUnusable(
            f"scratch folder {root} is not a directory owned by uid {os.geteuid()} and writable only by it; "
            "remove it, or point TMPDIR elsewhere"
        )
    root.chmod(0o711)  # session uids must pass through it to reach their own folders, never list it
    return root


def _mounts_under(folder: Path) -> list[str]:
    inside = str(folder) + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(inside):
            points.append(point)
    return sorted(points, key=len, reverse=True)


def remove_folder(folder: Path) -> None:
    """Unmounts whatever is mounted below `folder` (session file systems), then deletes it."""
    for point in _mounts_under(folder):
        _libc.umount2(point.encode(), MNT_DETACH)
    delete_tree(folder)


def delete_tree(folder: Path) -> None:
    """Deletes `folder` and all below it, following no link a session left, however deep or wide its tree.

    rm does it in a process of its own: Python's rmtree recursed once per level (a session can nest
    folders thousands deep), and its loop would hold the interpreter's lock between unlinks for as long
    as a million files take. rm stays on this file system, as nothing of the host is mounted below.
    """
    if not os.path.lexists(folder):
        return
    remove = ["/bin/rm", "-rf", "--one-file-system", "--", str(folder)]
    if _quietly(remove) == 0:
        return
    # Run by an ordinary user, session code is that user: a folder it left without permissions (chmod 000)
    # stops rm. Give them back to the owner first; chmod -R changes no link and follows none it meets.
    _quietly(["/bin/chmod", "-R", "u+rwx", "--", str(folder)])
    if _quietly(remove) != 0 and os.path.lexists(folder):
        log.warning("a session's files could not all be removed: what is left is under %s", folder)


def _quietly(command: list[str]) -> int:
    return subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    ).returncode


def remove_stale(root: Path) -> list[Path]:
    """Removes the folders of emulators that are gone; returns what was removed."""
    removed = []
    for folder in root.glob("emulator-*"):
        pid = folder.name.split("-")[1]
        if pid.isdigit() and Path(f"/proc/{pid}").exists():
            continue  # alive, or just starting and not yet holding its lock
        try:
            lock = os.open(folder / "lock", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            lock = -1  # killed between making its folder and locking it
        except OSError:
            continue
        try:
            if lock >= 0:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue
        finally:
            if lock >= 0:
                os.close(lock)
        remove_folder(folder)
        removed.append(folder)
    return removed


class Scratch:
    """This emulator's folder: locked while it lives, removed at a clean stop."""

    def __init__(self, root: Path | None = None):
        for attempt in range(5):
            self.root = _own_root(root or scratch_root())
            self.stale_removed = remove_stale(self.root)
            try:
                self.folder = Path(tempfile.mkdtemp(prefix=f"emulator-{os.getpid()}-", dir=self.root))
                break
            except FileNotFoundError:  # the last other emulator removed the root just now
                if attempt == 4:
                    raise
        self.folder.chmod(0o711)
        self._lock = os.open(self.folder / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def data_dir(self, uid: int | None, size: int | None) -> Path:
        """A session's /mnt/data: owned by the session's uid; a tmpfs of `size` bytes when root can mount one."""
        folder = Path(tempfile.mkdtemp(prefix="session-", dir=self.folder))
        if uid is not None:
            if size is not None:
                options = f"size={size},mode=0700,uid={uid},gid={uid}".encode()
                if _libc.mount(b"tmpfs", str(folder).encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options) != 0:
                    error = ctypes.get_errno()
                    raise OSError(error, f"cannot mount the session's /mnt/data: {os.strerror(error)}")
            os.chown(folder, uid, uid)
        return folder

    def remove_data_dir(self, folder: Path) -> None:
        if os.path.ismount(folder):
            _libc.umount2(str(folder).encode(), MNT_DETACH)
        delete_tree(folder)

    def share(self, files: dict[str, str]) -> Path:
        """A folder of read-only files every session may read (bound read-only into sandboxes)."""
        shared = self.folder / "shared"
        shared.mkdir(mode=0o711)
        for name, text in files.items():
            (shared / name).write_text(text)
            (shared / name).chmod(0o444)
        return shared

    def close(self) -> None:
        remove_folder(self.folder)
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1
        with contextlib.suppress(OSError):
            self.root.rmdir()  # only when no other emulator of this user is running
