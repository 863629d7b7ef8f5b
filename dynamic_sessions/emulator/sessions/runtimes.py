"""What a session runs, per container type: the interpreter, its flags, its kernel file, and the host
folders the sandbox must show it read-only.

NodeLTS sessions run kernel.js under Node.js; PythonLTS sessions run kernel.py under a Python
interpreter started with `-I -S` (isolated, no site-packages: never the emulator's own environment), plus
a read-only package set: the preloaded one (`sessions.packages`), a folder of the user's, or none; Shell
sessions run kernel_shell.py under that same isolated Python (with no package set), which starts each
command with the system's bash or sh.
"""

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

from dynamic_sessions.azure_facts import CONTAINER_TYPES
from dynamic_sessions.emulator.sandbox.program import Package, Runtime, RuntimeUnavailable
from dynamic_sessions.emulator.sessions import packages as preloaded

HERE = Path(__file__).resolve().parent
# Per-session heap cap: a runaway allocation ends that session, not the emulator's host.
NODE_FLAGS = ("--max-old-space-size=512",)
# -I: no PYTHON* variables, no user site; -S: no site-packages; -B: /mnt/data holds only what code writes.
PYTHON_FLAGS = ("-I", "-S", "-B")
# The Python kernel's counterpart of Node's heap cap: a runaway allocation is a MemoryError in that session.
PYTHON_KERNEL_ARGS = ("--data-limit-mb", "512")
SYSTEM_PYTHON = "/usr/bin/python3"
# `--python-packages`: the preloaded set (the default), or the standard library only.
PRELOADED_PACKAGES = "preloaded"
NO_PACKAGES = "none"


def node_runtime() -> Runtime:
    node = shutil.which("node")
    if node is None:
        raise RuntimeUnavailable("node (Node.js 18 or later) is not on PATH; NodeLTS sessions need it")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    home = Path(node).resolve().parent.parent
    return Runtime(
        container_type="NodeLTS",
        name="node",
        version=version.lstrip("v"),
        interpreter=node,
        flags=NODE_FLAGS,
        kernel=HERE / "kernel.js",
        read_only=() if str(home).startswith("/usr") else (str(home),),
    )


def default_python() -> str:
    """The system's Python if there is one, else the interpreter running the emulator (never a venv's shim)."""
    if os.access(SYSTEM_PYTHON, os.X_OK):
        return SYSTEM_PYTHON
    return str(Path(sys.executable).resolve())


def python_runtime(interpreter: str | None = None, packages: Path | str | None = None) -> Runtime:
    """`packages`: None or `preloaded` for the preloaded set, `none` for the standard library alone, or a folder."""
    python = interpreter or default_python()
    probe = "import sys; print('%d.%d.%d' % sys.version_info[:3]); print(sys.base_prefix)"
    try:
        answer = subprocess.run([python, *PYTHON_FLAGS, "-c", probe], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeUnavailable(
            f"--python {python} cannot be started ({error}); name a Python 3.9+ interpreter"
        ) from None
    lines = answer.stdout.split()
    if answer.returncode != 0 or len(lines) != 2:
        raise RuntimeUnavailable(f"--python {python} did not answer as a Python interpreter; name Python 3.9 or later")
    version, prefix = lines
    if tuple(int(p) for p in version.split(".")[:2]) < (3, 9):
        raise RuntimeUnavailable(f"--python {python} is Python {version}; PythonLTS sessions need 3.9 or later")
    read_only = [] if prefix.startswith("/usr") else [prefix]
    listed: tuple[Package, ...] = ()
    packages_dir = None
    if packages is None or str(packages) == PRELOADED_PACKAGES:
        packages_dir = preloaded.provisioned(version, python)
    elif str(packages) != NO_PACKAGES:
        packages_dir = Path(packages).resolve()
        if not packages_dir.is_dir():
            raise RuntimeUnavailable(
                f"--python-packages {packages_dir} is not a folder; name a folder of packages, or {NO_PACKAGES}"
            )
    if packages_dir is not None:
        read_only.append(str(packages_dir))
        listed = installed_packages(packages_dir)
    return Runtime(
        container_type="PythonLTS",
        name="python",
        version=version,
        interpreter=python,
        flags=PYTHON_FLAGS,
        kernel=HERE / "kernel.py",
        kernel_args=PYTHON_KERNEL_ARGS,
        read_only=tuple(read_only),
        packages_dir=packages_dir,
        packages=listed,
        legacy_result_key="result",
    )


def installed_packages(folder: Path) -> tuple[Package, ...]:
    """The distributions installed in a package set (`pip install --target folder ...`), by name."""
    import importlib.metadata  # here: only PythonLTS pools read it, and it is ~12 ms of every emulator's start

    found = {
        d.metadata["Name"]: Package(d.metadata["Name"], d.version)
        for d in importlib.metadata.distributions(path=[str(folder)])
        if d.metadata["Name"]
    }
    return tuple(found[name] for name in sorted(found, key=str.lower))


def shell_runtime() -> Runtime:
    """Shell sessions: kernel_shell.py (standard library only, like kernel.py) under the sessions' isolated Python
    (its prefix bound read-only as for PythonLTS), starting each command with bash or sh."""
    bash = shutil.which("bash", path="/usr/bin:/bin")
    if bash is None or not os.access("/bin/sh", os.X_OK):
        raise RuntimeUnavailable("bash and /bin/sh are needed for Shell sessions; install bash")
    answer = subprocess.run([bash, "-c", "echo $BASH_VERSION"], capture_output=True, text=True, check=False)
    return dataclasses.replace(
        python_runtime(packages=NO_PACKAGES),
        container_type="Shell",
        name="bash",
        version=answer.stdout.strip().split("(")[0],
        kernel=HERE / "kernel_shell.py",
        kernel_args=(),
        legacy_result_key="executionResult",
    )


def make_runtime(container_type: str, python: str | None = None, packages: Path | str | None = None) -> Runtime:
    """The runtime of a pool; only a PythonLTS pool installs (once) or reads the preloaded package set."""
    if container_type != "PythonLTS" and packages is not None and str(packages) != PRELOADED_PACKAGES:
        raise RuntimeUnavailable("--python-packages applies to --container-type PythonLTS only")
    if container_type == "NodeLTS":
        return node_runtime()
    if container_type == "PythonLTS":
        return python_runtime(python, packages)
    if container_type == "Shell":
        return shell_runtime()
    raise RuntimeUnavailable(f"--container-type {container_type} is not supported; use one of {CONTAINER_TYPES}")
