"""PythonLTS's preloaded package set: what it holds, and the cache it is installed into once.

Azure's Python sessions come "with preloaded libraries" (Microsoft's code-interpreter image spec); Microsoft
Learn names NumPy, pandas and scikit-learn among them, and public clients list the packages through
`pkg_resources`. The set below is installed with pip into a folder of the emulator's user cache named after
the session interpreter's version and the set itself, once, then found there offline by every later emulator.
"""

import fcntl
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dynamic_sessions.emulator.sandbox.program import RuntimeUnavailable

log = logging.getLogger("emulator")

# Pinned to ranges, as the project's own dependencies; setuptools below 81 still ships pkg_resources.
PRELOADED = (
    "numpy>=2.0,<3",
    "pandas>=2.2,<3",
    "matplotlib>=3.9,<4",
    "scipy>=1.13,<2",
    "scikit-learn>=1.5,<2",
    "sympy>=1.13,<2",
    "requests>=2.32,<3",
    "openpyxl>=3.1,<4",
    "pillow>=10.4,<13",
    "setuptools>=70,<81",
)
# Inside the package folder, not a package: matplotlib's font list, built at provisioning so a session's
# first figure does not spend seconds scanning fonts.
MATPLOTLIB_CACHE = ".matplotlib"
# The log line a first start writes before installing: what waits on start-up can tell it from a hang.
INSTALLING = "PythonLTS: installing the preloaded package set"


def cache_root() -> Path:
    """Where the emulator keeps what it installs: $XDG_CACHE_HOME/dynamic-sessions, else ~/.cache/... for
    an ordinary user, and /var/cache/... for root, whose sessions run as other uids that cannot pass /root."""
    if base := os.environ.get("XDG_CACHE_HOME"):
        return Path(base) / "dynamic-sessions"
    if os.geteuid() == 0:
        return Path("/var/cache/dynamic-sessions")
    return Path.home() / ".cache" / "dynamic-sessions"


def cache_folder(python_version: str, root: Path | None = None) -> Path:
    """The set's folder for a session interpreter of this version: a new set or version is a new folder."""
    major_minor = ".".join(python_version.split(".")[:2])
    digest = hashlib.sha256("\n".join((*PRELOADED, platform.machine())).encode()).hexdigest()[:12]
    return (root or cache_root()) / f"python-{major_minor}-{digest}"


def provisioned(python_version: str, interpreter: str, root: Path | None = None) -> Path:
    """The preloaded set's folder, installed first if it is not there yet (one emulator at a time: a lock)."""
    folder = cache_folder(python_version, root)
    if folder.is_dir():
        return folder
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        lock = open(folder.with_name(folder.name + ".lock"), "w")  # noqa: SIM115 (held below)
    except OSError as error:
        raise RuntimeUnavailable(
            f"the preloaded package set's cache cannot be created at {folder.parent} ({error.strerror}); "
            "set XDG_CACHE_HOME to a folder this user can write, or pass --python-packages none "
            "(the standard library alone) or --python-packages DIR (a set of your own)"
        ) from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another emulator may be installing it: wait for it
        if not folder.is_dir():
            _install(folder, python_version, interpreter)
    return folder


def _install(folder: Path, python_version: str, interpreter: str) -> None:
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    major_minor = ".".join(python_version.split(".")[:2])
    # A warning, so it shows at every log level: the start-up waits for it.
    log.warning(
        "%s into %s (first run only; later runs are offline): %s",
        INSTALLING,
        folder,
        ", ".join(PRELOADED),
    )
    started = time.monotonic()
    # pip of the emulator's own environment, told the session interpreter's version: that interpreter
    # (Debian's, say) may have no pip. Binary wheels only, so nothing is compiled here.
    command = [
        sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
        "--target", str(partial), "--python-version", major_minor, "--only-binary", ":all:", *PRELOADED,
    ]  # fmt: skip
    # pip's progress goes to the emulator's stderr: its stdout carries only the endpoint line.
    done = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr, check=False)
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise RuntimeUnavailable(
            f"installing PythonLTS's preloaded packages failed (pip exited {done.returncode}; its output is above); "
            "check the network to PyPI, or pass --python-packages DIR (a set of your own) or --python-packages none"
        )
    _build_font_cache(partial, interpreter)
    os.chmod(partial, 0o755)  # noqa: S103 (read by every session's uid; written by none)
    partial.rename(folder)
    log.info("PythonLTS: preloaded package set ready in %.0f s", time.monotonic() - started)


def _build_font_cache(folder: Path, interpreter: str) -> None:
    fonts = folder / MATPLOTLIB_CACHE
    fonts.mkdir()
    probe = f"import sys; sys.path.insert(0, {str(folder)!r}); import matplotlib.font_manager"
    env = {"PATH": "/usr/bin:/bin", "MPLCONFIGDIR": str(fonts), "MPLBACKEND": "Agg"}
    built = subprocess.run([interpreter, "-I", "-S", "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    if built.returncode != 0 or not any(fonts.glob("fontlist-*.json")):
        # Not fatal: each session's first figure then builds the list itself, in seconds.
        log.warning("PythonLTS: matplotlib's font list was not prebuilt: %s", built.stderr.strip()[-500:])
