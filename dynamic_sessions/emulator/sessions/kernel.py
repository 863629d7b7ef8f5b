"""One PythonLTS session: a long-lived Python interpreter that runs code the way Azure's Python code
interpreter (a Jupyter kernel) does.

Globals persist between executions, print() output is captured per execution, the value of a final
expression is the result (as in a notebook cell), top-level `await` works, an exception is a failed
execution with its traceback on stderr, and `timeoutInSeconds` interrupts the code with SIGALRM.

It speaks the same JSON lines as kernel.js over an inherited socket (its fd number is the first
argument), so nothing session code prints can corrupt them. It runs under `python -I -S`: standard
library only, plus the folders named by `--path` (a read-only package set).

This file is started on its own, inside the sandbox; it imports nothing from the emulator.
"""

# Annotations stay unevaluated: `X | None` needs Python 3.10 at run time, and sessions may run 3.9.
from __future__ import annotations

import ast
import base64
import io
import json
import linecache
import os
import resource
import signal
import socket
import sys
import time
import traceback
from types import CodeType, TracebackType
from typing import Any

SCALARS = (str, int, float, bool)


class ExecutionTimedOut(BaseException):
    """Raised by SIGALRM inside the session's code; a BaseException, so `except Exception` cannot swallow it."""


class Capture(io.TextIOBase):
    """sys.stdout / sys.stderr during one execution, keeping at most `limit` characters.

    `.buffer` takes bytes too, as on a real stream. What is past the limit is only counted, so a flood of
    output costs the session no memory and the answer stays small.
    """

    encoding = "utf-8"
    errors = "backslashreplace"

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.kept: list[str] = []
        self.size = 0
        self.dropped = 0
        self.buffer = _Bytes(self)

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        room = self.limit - self.size
        if len(text) <= room:
            self.kept.append(text)
            self.size += len(text)
        else:
            if room > 0:
                self.kept.append(text[:room])
                self.size += room
            self.dropped += len(text) - max(room, 0)
        return len(text)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def text(self) -> str:
        kept = "".join(self.kept)
        if not self.dropped:
            return kept
        return f"{kept}\n[output truncated: {self.dropped} more characters; the limit is {self.limit} per stream]\n"


class _Bytes(io.RawIOBase):
    """`sys.stdout.buffer`: bytes written are decoded and kept with the text."""

    def __init__(self, text: Capture) -> None:
        super().__init__()
        self._text = text

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._text.write(chunk.decode("utf-8", "backslashreplace"))
        return len(chunk)


class Kernel:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
        self.count = 0
        self.running = False
        self.loop: Any = None  # an asyncio loop, created on the first top-level await (asyncio is slow to import)
        signal.signal(signal.SIGALRM, self._alarm)

    def _alarm(self, _signum: int, _frame: Any) -> None:
        if self.running:
            raise ExecutionTimedOut

    def _compile(self, code: str) -> tuple[CodeType, CodeType | None]:
        """The cell as (statements, final expression or None), each compiled to allow top-level await."""
        self.count += 1
        filename = f"<cell {self.count}>"
        # Tracebacks show the lines of the cell, also for functions it defines and a later cell calls.
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        tree = ast.parse(code, filename, "exec")
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        last = None
        final = tree.body[-1] if tree.body else None
        if isinstance(final, ast.Expr):
            tree.body.pop()
            last = compile(ast.Expression(final.value), filename, "eval", flags=flags)
        return compile(tree, filename, "exec", flags=flags), last

    def _run(self, code: CodeType) -> Any:
        value = eval(code, self.namespace)  # noqa: S307 (running the caller's code is this kernel's job)
        if code.co_flags & 0x80:  # CO_COROUTINE: the cell used top-level await
            if self.loop is None:
                import asyncio

                self.loop = asyncio.new_event_loop()
            value = self.loop.run_until_complete(value)
        return value

    def execute(self, code: str, timeout_ms: int, output_limit: int) -> dict[str, Any]:
        out, err = Capture(output_limit), Capture(output_limit)
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        started = time.perf_counter()
        ok, result = True, _shown(None)
        try:
            statements, last = self._compile(code)
            self.running = True
            signal.setitimer(signal.ITIMER_REAL, max(timeout_ms, 1) / 1000)
            self._run(statements)
            if last is not None:
                value = self._run(last)
                if value is not None:
                    self.namespace["_"] = value  # as in a notebook
                result = _capped(_shown(value), output_limit)  # under the timer too: a __repr__ may loop
        except ExecutionTimedOut as stopped:
            ok = False
            err.write(_where(stopped.__traceback__))
            err.write(f"TimeoutError: Execution timed out after {timeout_ms / 1000:g} s\n")
        except BaseException as error:  # SystemExit and KeyboardInterrupt too: a notebook kernel survives them
            ok = False
            err.write(_describe(error))
        finally:
            self.running = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.stdout, sys.stderr = saved
        elapsed = (time.perf_counter() - started) * 1000
        return {"ok": ok, "stdout": out.text(), "stderr": err.text(), "result": result, "ms": elapsed}


def _capped(result: Any, limit: int) -> Any:
    """The result, or its JSON cut at `limit` characters with a marker, as for the output streams."""
    if isinstance(result, str) and len(result) <= limit:
        return result
    try:
        encoded = json.dumps(result)
    except (TypeError, ValueError):
        return result  # the caller sends its repr
    if len(encoded) <= limit:
        return result
    dropped = len(encoded) - limit
    return f"{encoded[:limit]}\n[result truncated: {dropped} more characters of JSON; the limit is {limit}]"


def _session_frames(tb: TracebackType | None) -> traceback.StackSummary:
    """The traceback's frames without the kernel's own: they say nothing to the author of the code."""
    return traceback.StackSummary.from_list([f for f in traceback.extract_tb(tb) if f.filename != __file__])


def _where(tb: TracebackType | None) -> str:
    frames = _session_frames(tb)
    return "Traceback (most recent call last):\n" + "".join(frames.format()) if frames else ""


def _describe(error: BaseException) -> str:
    described = traceback.TracebackException.from_exception(error)
    described.stack = _session_frames(error.__traceback__)
    return "".join(described.format())


def _shown(value: Any) -> Any:
    """The result as the interpreter answers it: JSON values as they are, images as base64, the rest as repr."""
    if value is None:
        return ""
    kind = type(value)
    if kind in SCALARS and not (kind is float and value != value):  # NaN is not JSON
        return value
    if kind in (list, dict):
        try:
            json.dumps(value, allow_nan=False)
            return value
        except (TypeError, ValueError, RecursionError):
            pass
    png = getattr(value, "_repr_png_", None)
    if callable(png):
        try:
            data = png()
        except Exception:
            data = None
        if isinstance(data, bytes):
            return {"type": "image", "format": "png", "base64_data": base64.b64encode(data).decode()}
    try:
        return repr(value)
    except Exception as error:
        return f"<repr failed: {type(error).__name__}>"


def _repr_or_why(value: Any) -> str:
    """repr(), or why it failed: an int past Python's digit limit refuses both json and repr, and the
    kernel must answer anyway rather than exit."""
    try:
        return repr(value)
    except Exception as error:
        return f"<repr failed: {type(error).__name__}>"


def main(argv: list[str]) -> None:
    channel = socket.socket(fileno=int(argv[1]) if len(argv) > 1 else 3)
    extra = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--path"]
    for i, arg in enumerate(argv[:-1]):
        if arg == "--data-limit-mb":
            # Heap and anonymous mappings past this fail with MemoryError: that session's error, not the host's.
            limit = int(argv[i + 1]) * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    # Like a notebook: the working folder (/mnt/data) first, so uploaded modules import; then the package set.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [os.getcwd(), *extra, *(p for p in sys.path if p and p != here)]
    # What `site` would add (-S skips it) and notebook code uses: help(), exit(), quit().
    import _sitebuiltins
    import builtins

    builtins.help = _sitebuiltins._Helper()  # type: ignore[attr-defined]
    builtins.exit = _sitebuiltins.Quitter("exit", "Ctrl-D (i.e. EOF)")  # type: ignore[attr-defined]
    builtins.quit = _sitebuiltins.Quitter("quit", "Ctrl-D (i.e. EOF)")  # type: ignore[attr-defined]
    kernel = Kernel()
    reader = channel.makefile("rb")
    channel.sendall(b'{"ready":true}\n')
    for line in reader:
        request = json.loads(line)
        answer = kernel.execute(request["code"], int(request["timeoutMs"]), int(request["outputLimit"]))
        answer["seq"] = request["seq"]
        # Raw UTF-8, not \u escapes: the emulator reads an answer up to a size its output limit allows.
        try:
            encoded = json.dumps(answer, ensure_ascii=False)
        except (TypeError, ValueError):  # a str subclass or the like that json refuses: send its repr
            answer["result"] = _repr_or_why(answer["result"])
            encoded = json.dumps(answer, ensure_ascii=False)
        channel.sendall(encoded.encode("utf-8", "surrogatepass") + b"\n")
    # The emulator closed the channel: the session is over.


if __name__ == "__main__":
    main(sys.argv)
