"""One PythonLTS session: a long-lived Python interpreter that runs code the way Azure's Python code
interpreter (a Jupyter kernel) does.

Globals persist between executions, print() output is captured per execution, the value of a final
expression is the result (as in a notebook cell), top-level `await` works, an exception is a failed
execution with its traceback on stderr, and `timeoutInSeconds` interrupts the code with SIGALRM.

It speaks the same JSON lines as kernel.js over an inherited socket (its fd number is the first
argument), so nothing session code prints can corrupt them. It runs under `python -I -S`: standard
library only, plus the folders named by `--path` (a read-only package set). A request with `emptyKernel`
runs in a second kernel without them (Azure's `useEmptyKernel`), started on the first such request.
Figures matplotlib holds at the end of a cell come back as PNG images, as a notebook's inline backend
shows them.

This file is started on its own, inside the sandbox; it imports nothing from the emulator.
"""

# Annotations stay unevaluated: `X | None` needs Python 3.10 at run time, and sessions may run 3.9.
from __future__ import annotations

import ast
import base64
import contextlib
import glob
import io
import json
import linecache
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from types import CodeType, TracebackType
from typing import Any

SCALARS = (str, int, float, bool)
# What a cell keeps of its result's JSON; `outputStreamsMaxLength` is the streams' limit alone.
RESULT_LIMIT = 1024 * 1024
# What one execution's Jupyter outputs (figures included) may hold in all.
OUTPUTS_LIMIT = 1024 * 1024
# The package set's prebuilt matplotlib font list (sessions.packages.MATPLOTLIB_CACHE).
MATPLOTLIB_CACHE = ".matplotlib"
# The argument that makes a kernel the empty one: it runs every request itself.
EMPTY = "--empty"


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
        outputs: list[dict[str, Any]] = []
        try:
            statements, last = self._compile(code)
            self.running = True
            signal.setitimer(signal.ITIMER_REAL, max(timeout_ms, 1) / 1000)
            self._run(statements)
            value = self._run(last) if last is not None else None
            if value is not None:
                self.namespace["_"] = value  # as in a notebook
                outputs.append({"output_type": "execute_result", "data": _bundle(value), "metadata": {}})
            # Under the timer too: a __repr__ may loop, a figure may take long to draw.
            images = _figures()
            outputs += [{"output_type": "display_data", "data": image, "metadata": {}} for image in images]
            # The legacy contract's image result (what public clients save to disk) stands for the cell's figure.
            # An image is kept whole (a cut one would not decode); its size is the figure's.
            result = _image(images[0]["image/png"]) if images else _capped(_shown(value), RESULT_LIMIT)
        except ExecutionTimedOut as stopped:
            ok = False
            err.write(_where(stopped.__traceback__))
            err.write(f"TimeoutError: Execution timed out after {timeout_ms / 1000:g} s\n")
            outputs.append(_error_output(stopped, "TimeoutError", "Execution timed out"))
        except BaseException as error:  # SystemExit and KeyboardInterrupt too: a notebook kernel survives them
            ok = False
            described = _describe(error)
            err.write(described)
            outputs.append(_error_output(error, type(error).__name__, str(error), described))
        finally:
            self.running = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.stdout, sys.stderr = saved
            if not ok:
                _close_figures()  # a failed cell's half-drawn figures must not show up in the next one
        elapsed = (time.perf_counter() - started) * 1000
        answer = {"ok": ok, "stdout": out.text(), "stderr": err.text(), "result": result, "ms": elapsed}
        return {**answer, "outputs": _bounded(outputs)}


def _bounded(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The outputs, each past a budget of OUTPUTS_LIMIT characters of JSON in all replaced by a marker."""
    kept, used = [], 0
    for output in outputs:
        try:
            size = len(json.dumps(output))
        except (TypeError, ValueError):
            size = 0
        used += size
        if used > OUTPUTS_LIMIT:
            dropped = f"[output dropped: {size} characters of JSON; the limit is {OUTPUTS_LIMIT} per execution]"
            if output["output_type"] == "error":
                output = {"output_type": "error", "ename": output["ename"][:200], "evalue": dropped, "traceback": []}
            else:
                output = {"output_type": output["output_type"], "data": {"text/plain": dropped}, "metadata": {}}
        kept.append(output)
    return kept


def _error_output(error: BaseException, name: str, value: str, described: str | None = None) -> dict[str, Any]:
    lines = (described or _where(error.__traceback__)).rstrip("\n").split("\n")
    return {"output_type": "error", "ename": name, "evalue": value, "traceback": lines}


def _bundle(value: Any) -> dict[str, Any]:
    """The value's Jupyter mime bundle: text/plain is its repr, and the _repr_*_ methods it has add theirs."""
    data: dict[str, Any] = {"text/plain": _repr_or_why(value)}
    for method, kind in (("_repr_html_", "text/html"), ("_repr_png_", "image/png"), ("_repr_svg_", "image/svg+xml")):
        shown = getattr(value, method, None)
        if not callable(shown):
            continue
        try:
            rendered = shown()
        except Exception:  # noqa: S112 (a representation that fails is left out, as IPython leaves it)
            continue
        if isinstance(rendered, bytes):
            data[kind] = base64.b64encode(rendered).decode()
        elif isinstance(rendered, str):
            data[kind] = rendered
    return data


def _figures() -> list[dict[str, str]]:
    """The figures matplotlib holds, as PNG bundles, then closed: the next cell starts with none."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return []
    images = []
    for number in pyplot.get_fignums():
        buffer = io.BytesIO()
        pyplot.figure(number).savefig(buffer, format="png", bbox_inches="tight")
        images.append({"image/png": base64.b64encode(buffer.getvalue()).decode(), "text/plain": f"<Figure {number}>"})
    pyplot.close("all")
    return images


def _close_figures() -> None:
    pyplot = sys.modules.get("matplotlib.pyplot")
    # Session code may have broken pyplot itself; its next cell will say so.
    if pyplot is not None:
        with contextlib.suppress(Exception):
            pyplot.close("all")


def _image(base64_png: str) -> dict[str, str]:
    return {"type": "image", "format": "png", "base64_data": base64_png}


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
            return _image(base64.b64encode(data).decode())
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


class EmptyKernel:
    """The session's kernel without the package set, in a process of its own (its own state, as Azure's
    empty kernel), started on its first request."""

    def __init__(self, argv: list[str]) -> None:
        ours, theirs = socket.socketpair()
        # Every argument but the package folders; the same interpreter, isolated as this one is.
        args: list[str] = []
        skip = False
        for arg in argv[2:]:
            if skip:
                skip = False
            elif arg == "--path":
                skip = True
            else:
                args.append(arg)
        command = [sys.executable, "-I", "-S", "-B", os.path.abspath(__file__), str(theirs.fileno()), *args, EMPTY]
        self.process = subprocess.Popen(command, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        theirs.close()
        self.channel = ours
        self.reader = ours.makefile("rb")
        self.ready = self.reader.readline()

    def run(self, line: bytes) -> bytes | None:
        """Its answer to one request line, or None when it is gone (it then starts anew on the next one)."""
        try:
            self.channel.sendall(line)
            answer = self.reader.readline()
        except OSError:
            answer = b""
        return answer or None


def _matplotlib_home(package_dirs: list[str]) -> None:
    """matplotlib in a session: no display (Agg), its config in a writable folder of this session's /tmp,
    seeded with the font list the package set was provisioned with."""
    if not package_dirs:
        return
    os.environ.setdefault("MPLBACKEND", "Agg")
    # plt.show() under Agg only warns; the cell's open figures are shown at its end, as inline does.
    warnings.filterwarnings("ignore", message=".*non-interactive, and thus cannot be shown")
    fonts = [f for d in package_dirs for f in glob.glob(os.path.join(d, MATPLOTLIB_CACHE, "fontlist-*.json"))]
    if not fonts:
        return
    home = tempfile.mkdtemp(prefix="matplotlib-")
    for font_list in fonts:
        shutil.copy(font_list, home)
    os.environ["MPLCONFIGDIR"] = home


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
    _matplotlib_home(extra)
    # What `site` would add (-S skips it) and notebook code uses: help(), exit(), quit().
    import _sitebuiltins
    import builtins

    builtins.help = _sitebuiltins._Helper()  # type: ignore[attr-defined]
    builtins.exit = _sitebuiltins.Quitter("exit", "Ctrl-D (i.e. EOF)")  # type: ignore[attr-defined]
    builtins.quit = _sitebuiltins.Quitter("quit", "Ctrl-D (i.e. EOF)")  # type: ignore[attr-defined]
    kernel = Kernel()
    empty: EmptyKernel | None = None
    reader = channel.makefile("rb")
    channel.sendall(b'{"ready":true}\n')
    for line in reader:
        request = json.loads(line)
        if request.get("emptyKernel") and EMPTY not in argv:
            if empty is None:
                empty = EmptyKernel(argv)
            relayed = empty.run(line)
            if relayed is not None:
                channel.sendall(relayed)
                continue
            empty = None
            gone = "Error: the empty kernel's process exited; the next request starts a new one\n"
            answer: dict[str, Any] = {"ok": False, "stdout": "", "stderr": gone, "result": "", "ms": 0, "outputs": []}
        else:
            answer = kernel.execute(request["code"], int(request["timeoutMs"]), int(request["outputLimit"]))
        answer["seq"] = request["seq"]
        # Raw UTF-8, not \u escapes: the emulator reads an answer up to a size its output limit allows.
        try:
            encoded = json.dumps(answer, ensure_ascii=False)
        except (TypeError, ValueError):  # a str subclass or the like that json refuses: send its repr
            answer["result"] = _repr_or_why(answer["result"])
            encoded = json.dumps(answer, ensure_ascii=False, default=_repr_or_why)
        channel.sendall(encoded.encode("utf-8", "surrogatepass") + b"\n")
    # The emulator closed the channel: the session is over.


if __name__ == "__main__":
    main(sys.argv)
