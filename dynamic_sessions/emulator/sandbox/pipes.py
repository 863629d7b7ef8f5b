"""Reading and writing the emulator's own pipes on the event loop, never from a worker thread.

A thread blocked on a pipe outlives the await that started it when that await is cancelled (a timeout, a
request given up), and the descriptor is then closed under it: the kernel hands the number out again at once,
to another session's pipe or socket, which the thread goes on to read or write. uvloop's pipe transports
(`connect_read_pipe`) close a descriptor twice, libuv first and then the file object they were given, and in
a process with threads the second close can land on whatever took the number in between: a subprocess's own
pipe, in another thread, was closed that way.
"""

import asyncio
import os


async def read(fd: int, size: int) -> bytes:
    """Up to `size` bytes from `fd` as soon as any are there; b"" once its writers have all closed it."""
    os.set_blocking(fd, False)
    while True:
        try:
            return os.read(fd, size)
        except BlockingIOError:
            await _ready(fd, writing=False)


async def write_all(fd: int, data: bytes) -> None:
    """Writes all of `data` to `fd`, waiting whenever the pipe is full; raises what os.write raises
    (BrokenPipeError once its reader has gone)."""
    os.set_blocking(fd, False)
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await _ready(fd, writing=True)


async def _ready(fd: int, *, writing: bool) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    (loop.add_writer if writing else loop.add_reader)(fd, wake)
    try:
        await ready
    finally:  # before anyone closes the descriptor: the loop must not watch a number reused elsewhere
        (loop.remove_writer if writing else loop.remove_reader)(fd)
