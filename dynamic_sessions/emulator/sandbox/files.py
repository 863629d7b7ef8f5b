"""A session's /mnt/data as the files API sees it: regular files only, never through a link.

Session code controls everything inside its folder: it can plant symbolic links to host paths,
hard links, FIFOs, device nodes, sockets and directories under any name. Every operation here is
therefore relative to a descriptor of the folder (openat and friends), never follows a link in
the last component, checks what it opened (fstat) before reading, and never opens anything but a
verified regular file for reading or writing. Uploads are written into a fresh file created with
O_EXCL and renamed over the name, so they replace a planted link instead of writing through it.
"""

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dynamic_sessions.emulator.sandbox import pipes, processes

# Linux's limit for one path component; a longer name could never name a file in /mnt/data.
MAX_NAME_BYTES = 255
DATA_DIR = "/mnt/data"
# Folders below /mnt/data a recursive listing goes into; deeper ones are listed as folders, not entered.
MAX_LISTED_DEPTH = 32
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
READ_CHUNK = 1024 * 1024
UPLOAD_PREFIX = ".upload-"
_NOFOLLOW_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
# O_PATH opens the name without opening the object behind it (no FIFO wait, no device side effect).
_PATH_ONLY = getattr(os, "O_PATH", 0)
_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


_TEMPORARY = re.compile(re.escape(UPLOAD_PREFIX) + "[0-9a-f]{16}")


def _is_temporary(name: str) -> bool:
    """An upload being written (see `SessionFiles.new_file`): left out of listings, never a client's name."""
    return _TEMPORARY.fullmatch(name) is not None


@dataclass(frozen=True)
class FileInfo:
    name: str
    size: int
    modified: float
    kind: str = "file"
    """`file`, or `directory` in listings that show folders (Shell pools, recursive listings)."""
    folder: str = DATA_DIR
    """The folder holding it, as the session sees it."""


class FileRefused(Exception):
    """A file operation turned down, with the HTTP status and Azure error code the API answers it with."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def checked_name(name: str) -> str:
    """The name, or a 400 naming what is wrong with it."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or ".." in name or "\0" in name:
        raise FileRefused(400, "InvalidFileName", "A file name may not contain a path separator or '..'.")
    if _is_temporary(name):
        raise FileRefused(
            400,
            "InvalidFileName",
            f"{name!r} is reserved: names of the form {UPLOAD_PREFIX}<16 hex digits> are the emulator's "
            "own, for uploads being written; choose another name.",
        )
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise FileRefused(400, "InvalidFileName", "A file name must be valid UTF-8.") from None
    if len(encoded) > MAX_NAME_BYTES:
        raise FileRefused(
            400,
            "InvalidFileName",
            f"A file name may be at most {MAX_NAME_BYTES} bytes of UTF-8; this one has {len(encoded)}.",
        )
    return name


def _not_found(name: str) -> FileRefused:
    return FileRefused(404, "NotFound", f"No file named {name!r} in this session.")


def _not_regular(name: str, status: os.stat_result) -> FileRefused:
    kind = _KINDS.get(stat.S_IFMT(status.st_mode), "not a regular file")
    return FileRefused(
        400,
        "NotARegularFile",
        f"{name!r} in /mnt/data is {kind}; the files API reads and writes regular files only.",
    )


class SessionFiles:
    """The files API's operations on one session folder, each relative to a descriptor of it.

    `copier`: the command line of a process that copies its stdin to its stdout from inside the
    session's cgroups, as the session's uid; uploads are written through it, so their pages count
    towards the session's own memory cap (a tmpfs page is charged to whoever writes it).
    """

    def __init__(self, folder: Path, copier: Sequence[str] | None = None):
        self._copier = copier
        self._dir = -1  # for __del__, should the open fail
        self._dir = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        self._owner = os.fstat(self._dir)
        self.where = DATA_DIR
        """The folder operations apply to, as the session sees it: /mnt/data, or one below it (`descend`)."""

    def descend(self, path: str) -> "SessionFiles":
        """Moves to the folder `path` below /mnt/data (relative, or starting with /mnt/data), one component
        at a time and never through a link: a session cannot point the files API out of its folder."""
        relative = path.strip("/")
        if relative == DATA_DIR.strip("/") or relative.startswith(DATA_DIR.strip("/") + "/"):
            relative = relative[len(DATA_DIR.strip("/")) :]
        parts = [p for p in relative.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise FileRefused(
                400, "InvalidPath", f"path {path[:200]!r} may not contain '..'; name a folder below /mnt/data."
            )
        for part in parts:
            checked_name(part)
            where = f"{self.where}/{part}"
            try:
                below = os.open(part, _DIRECTORY, dir_fd=self._dir)
            except FileNotFoundError:
                raise FileRefused(404, "NotFound", f"No folder {where[:200]!r} in this session.") from None
            except OSError as error:
                if error.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise FileRefused(400, "NotADirectory", f"{where[:200]!r} is not a folder.") from None
                raise _os_error(part, error) from None
            os.close(self._dir)
            self._dir, self.where = below, where
        return self

    def close(self) -> None:
        if self._dir >= 0:
            os.close(self._dir)
            self._dir = -1

    def __enter__(self) -> "SessionFiles":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # A streamed listing owns its folder; a response dropped before it starts still closes the descriptor.
    __del__ = close

    def _servable(self, name: str, status: os.stat_result) -> bool:
        """A regular file whose data is the session's alone.

        A hard link in /mnt/data may share its data with a host file; the kernel's protected_hardlinks
        stops most of those, and a file with one link, or owned by the session's own (distinct) uid, is
        certainly the session's.
        """
        if not stat.S_ISREG(status.st_mode):
            return False
        if status.st_nlink == 1:
            return True
        session_uid = self._owner.st_uid
        return session_uid != os.geteuid() and status.st_uid == session_uid

    def _refusal(self, name: str, status: os.stat_result) -> FileRefused:
        if stat.S_ISREG(status.st_mode):
            return FileRefused(
                400,
                "NotARegularFile",
                f"{name!r} in /mnt/data has {status.st_nlink} hard links; the files API serves a file "
                "only when its data cannot belong to anything outside the session.",
            )
        return _not_regular(name, status)

    def _lstat(self, name: str) -> os.stat_result:
        try:
            return os.stat(checked_name(name), dir_fd=self._dir, follow_symlinks=False)
        except FileNotFoundError:
            raise _not_found(name) from None
        except OSError as error:
            raise _os_error(name, error) from None

    def info(self, name: str) -> FileInfo:
        status = self._lstat(name)
        if not self._servable(name, status):
            raise self._refusal(name, status)
        return FileInfo(name, status.st_size, status.st_mtime, folder=self.where)

    def open_for_reading(self, name: str) -> tuple[int, FileInfo]:
        """A descriptor of the regular file `name` (the caller closes it) and what it is."""
        checked_name(name)
        try:
            if _PATH_ONLY:
                # Look first, open after: only a verified regular file is ever opened for reading,
                # and reopening the O_PATH descriptor reaches that same inode whatever the name became.
                handle = os.open(name, _PATH_ONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._dir)
                try:
                    status = os.fstat(handle)
                    if not self._servable(name, status):
                        raise self._refusal(name, status)
                    fd = os.open(f"/proc/self/fd/{handle}", os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
                finally:
                    os.close(handle)
            else:
                fd = os.open(name, _NOFOLLOW_READ, dir_fd=self._dir)
        except FileNotFoundError:
            raise _not_found(name) from None
        except OSError as error:
            raise _os_error(name, error) from None
        status = os.fstat(fd)
        if not self._servable(name, status):
            os.close(fd)
            raise self._refusal(name, status)
        return fd, FileInfo(name, status.st_size, status.st_mtime)

    def entries(self, folders: bool = False, recursive: bool = False) -> Iterator[FileInfo]:
        """The regular files the API can serve, in the folder's own order (a sort would hold them all in
        memory); links and the like are left out. `folders`: folders too; `recursive`: what is in them too,
        down to MAX_LISTED_DEPTH levels (one open folder per level, whatever the tree's width)."""
        # Per level: a descriptor of the folder (to open the next one by), its listing, its name, its depth.
        levels = [(os.dup(self._dir), self.where, 0)]
        listings = [os.scandir(levels[0][0])]
        try:
            while levels:
                fd, where, depth = levels[-1]
                entry = next(listings[-1], None)
                if entry is None:
                    listings.pop().close()
                    os.close(levels.pop()[0])
                    continue
                info = self._entry(entry, where, folders or recursive)
                if info is None:
                    continue
                yield info
                if info.kind == "directory" and recursive and depth < MAX_LISTED_DEPTH:
                    try:
                        below = os.open(entry.name, _DIRECTORY, dir_fd=fd)
                    except OSError:
                        continue
                    levels.append((below, f"{where}/{entry.name}", depth + 1))
                    listings.append(os.scandir(below))
        finally:
            for listing in listings:
                listing.close()
            for fd, _, _ in levels:
                os.close(fd)

    def _entry(self, entry: "os.DirEntry[str]", where: str, folders: bool) -> FileInfo | None:
        name = entry.name
        if _is_temporary(name):
            return None
        try:
            checked_name(name)
            status = entry.stat(follow_symlinks=False)
        except (FileRefused, OSError):
            return None
        if folders and stat.S_ISDIR(status.st_mode):
            return FileInfo(name, 0, status.st_mtime, "directory", where)
        if self._servable(name, status):
            return FileInfo(name, status.st_size, status.st_mtime, "file", where)
        return None

    def delete(self, name: str) -> None:
        """Removes the name; unlinkat never follows a link, so only the entry itself goes."""
        status = self._lstat(name)
        if not stat.S_ISREG(status.st_mode):
            raise _not_regular(name, status)
        try:
            os.unlink(name, dir_fd=self._dir)
        except FileNotFoundError:
            raise _not_found(name) from None
        except OSError as error:
            raise _os_error(name, error) from None

    def new_file(self, name: str) -> "Upload":
        """A fresh file to write an upload into; `commit` puts it in place of `name`, `abort` removes it."""
        checked_name(name)
        temporary = f"{UPLOAD_PREFIX}{secrets.token_hex(8)}"
        try:
            fd = os.open(
                temporary,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o644,
                dir_fd=self._dir,
            )
        except OSError as error:
            raise _os_error(name, error) from None
        if os.geteuid() == 0 and self._owner.st_uid != 0:
            # The session runs as the folder's owner; its uploads must be its own to change.
            os.fchown(fd, self._owner.st_uid, self._owner.st_gid)
        try:
            return Upload(self._dir, temporary, name, fd, self._copier)
        except OSError as error:
            os.close(fd)
            os.unlink(temporary, dir_fd=self._dir)
            raise _os_error(name, error) from None


class Upload:
    """An upload being written: a file of its own, renamed over the target name only when complete.

    rename() replaces whatever entry has the name (a planted link included) without following it.
    """

    def __init__(self, folder_fd: int, temporary: str, name: str, fd: int, copier: Sequence[str] | None = None):
        self._folder = folder_fd
        self._temporary = temporary
        self.name = name
        self._fd = fd
        self.size = 0
        self._pending: list[bytes] = []
        self._pipe = -1
        self._copy: processes.Child | None = None
        if copier is not None:
            read, write = os.pipe()
            try:
                self._copy = processes.spawn(copier, stdin=read, stdout=fd, env={"PATH": "/usr/bin:/bin"})
            except BaseException:
                os.close(write)
                raise
            finally:
                os.close(read)
            self._pipe = write

    def write(self, data: bytes) -> None:
        """Writes `data`, or (through a copier) holds it until `flush`."""
        self.size += len(data)
        if self._copy is not None:
            self._pending.append(bytes(data))
            return
        _write_all(self._fd, data, self.name)

    async def flush(self) -> None:
        """Hands what `write` held to the copier, waiting on the loop while its pipe is full."""
        if self._pending:
            data, self._pending = b"".join(self._pending), []
            try:
                await pipes.write_all(self._pipe, data)
            except BrokenPipeError:  # the copier is gone: the kernel stopped it at the session's memory cap
                raise _not_stored(self.name) from None
            except OSError as error:
                raise _os_error(self.name, error) from None

    async def finish(self) -> FileInfo:
        """Waits for the copier to have written everything, then puts the file in place (`commit`); whatever
        stops it (the copier stopped at the session's cap, the request given up on) removes the upload."""
        if self._copy is not None:
            try:
                await self.flush()
                os.close(self._pipe)
                self._pipe = -1
                if await self._copy.wait() != 0:
                    raise _not_stored(self.name)
            except BaseException:
                self.abort()
                raise
            self._copy = None
        return self.commit()

    def commit(self) -> FileInfo:
        try:
            os.rename(self._temporary, self.name, src_dir_fd=self._folder, dst_dir_fd=self._folder)
        except OSError as error:
            self.abort()
            raise _os_error(self.name, error) from None
        status = os.fstat(self._fd)
        os.close(self._fd)
        self._fd = -1
        return FileInfo(self.name, status.st_size, status.st_mtime)

    def abort(self) -> None:
        if self._pipe >= 0:
            os.close(self._pipe)
            self._pipe = -1
        if self._copy is not None:
            self._copy.kill()
            self._copy = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            with contextlib.suppress(OSError):
                os.unlink(self._temporary, dir_fd=self._folder)


def _not_stored(name: str) -> FileRefused:
    return FileRefused(
        507,
        "InsufficientStorage",
        f"{name!r} did not fit: the session's /mnt/data or its memory cap (which counts its files) is full.",
    )


def _write_all(fd: int, data: bytes, name: str) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except OSError as error:
            raise _os_error(name, error) from None
        view = view[written:]


def read_chunks(fd: int, size: int) -> Iterator[bytes]:
    """At most `size` bytes of the open file, in chunks; the file closes at the end, or when the
    iterator is dropped unstarted (a client gone before the body was sent)."""
    return _chunks_of(os.fdopen(fd, "rb", buffering=0), size)


def _chunks_of(handle: BinaryIO, size: int) -> Iterator[bytes]:
    with handle:
        left = size
        while left > 0:
            chunk = handle.read(min(READ_CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk


def _os_error(name: str, error: OSError) -> FileRefused:
    if error.errno == errno.ELOOP:
        return FileRefused(
            400, "NotARegularFile", f"{name!r} in /mnt/data is a symbolic link; the files API does not follow links."
        )
    if error.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
        return FileRefused(400, "NotARegularFile", f"{name!r} in /mnt/data is a directory, not a regular file.")
    if error.errno == errno.ENAMETOOLONG:
        return FileRefused(400, "InvalidFileName", f"The file name is longer than {MAX_NAME_BYTES} bytes.")
    if error.errno == errno.ENOSPC or error.errno == errno.EDQUOT:
        return FileRefused(507, "InsufficientStorage", "The session's /mnt/data is full.")
    return FileRefused(400, "FileNotAccessible", f"{name!r} in /mnt/data cannot be used: {error.strerror}.")
