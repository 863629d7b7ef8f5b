"""The seccomp filter: the kernel interfaces unprivileged code escalates through, the address families
sessions have no use for, and the per-user kernel objects an ordinary user's sessions would share.

Each attack runs as session code (or a client) against a real emulator process, and is judged by what
the host sees."""

import errno
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.sandbox_support import ORDINARY_UID, as_root, as_user, kernel_of, run, status

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


UNPRIVILEGED_SYSCALLS = """
import ctypes, platform
libc = ctypes.CDLL(None, use_errno=True)
numbers = {"io_uring_setup": 425, "userfaultfd": 323, "keyctl": 250, "perf_event_open": 298, "ptrace": 101}
errors = {}
for name, number in numbers.items():
    ctypes.set_errno(0)
    libc.syscall(number, 0, 0, 0, 0, 0)
    errors[name] = ctypes.get_errno()
errors if platform.machine() == "x86_64" else "not x86_64"
"""


VSOCK_PORT = 47_001


HOLD_FAMILIES = f"""
import socket
import subprocess
import sys
held, refused = [], {{}}
for name, family, kind in [("vsock", socket.AF_VSOCK, socket.SOCK_STREAM), ("alg", 38, socket.SOCK_SEQPACKET),
                           ("packet", 17, socket.SOCK_DGRAM), ("bluetooth", 31, socket.SOCK_STREAM)]:
    try:
        made = socket.socket(family, kind)
        if family == socket.AF_VSOCK:
            made.bind((socket.VMADDR_CID_ANY, {VSOCK_PORT}))
        held.append(made)
    except OSError as error:
        refused[name] = error.errno
refused
"""


MEMFD_FILL = """
import os
try:
    held = os.memfd_create("hoard")
    for _ in range(512):
        os.write(held, b"m" * (1024 * 1024))
    outcome = "filled"
except OSError as error:
    outcome = error.errno
outcome
"""


INOTIFY_HOARD = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
hoard = [libc.inotify_init1(0) for _ in range(130)]
[ctypes.get_errno(), sum(fd >= 0 for fd in hoard)]
"""


def _shmem_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Shmem:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no Shmem in /proc/meminfo")


def test_every_session_process_runs_under_the_seccomp_filter(emulator):
    assert "sandbox: seccomp: io_uring" in emulator.logs()
    kernel = kernel_of(emulator, "filtered")
    assert status(kernel)["Seccomp"] == "2"  # filter mode, as the host reads it
    child = run(
        emulator, "require('child_process').execSync('grep ^Seccomp: /proc/self/status').toString()", "filtered"
    )
    assert child["executionResult"].split() == ["Seccomp:", "2"]


def test_io_uring_userfaultfd_keyrings_perf_and_ptrace_answer_enosys(launch):
    emulator = launch("--container-type", "PythonLTS")
    errors = run(emulator, UNPRIVILEGED_SYSCALLS, "syscaller")["executionResult"]
    if errors == "not x86_64":
        pytest.skip("the system call numbers here are x86_64's")
    assert errors == dict.fromkeys(
        ("io_uring_setup", "userfaultfd", "keyctl", "perf_event_open", "ptrace"), errno.ENOSYS
    )


def test_vsock_and_other_unneeded_address_families_are_refused(python_emulator):
    if not Path("/dev/vsock").exists():
        pytest.skip("this machine has no vsock")
    refused = python_emulator.execute(HOLD_FAMILIES, "vsock")["result"]["executionResult"]
    assert refused == dict.fromkeys(("vsock", "alg", "packet", "bluetooth"), errno.EAFNOSUPPORT), refused
    # The session holds no vsock port of the host's: the host binds the port itself.
    with socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) as own:
        own.bind((socket.VMADDR_CID_ANY, VSOCK_PORT))
    assert (
        python_emulator.execute("import socket; socket.socket().close(); 'inet'", "vsock")["result"]["executionResult"]
        == "inet"
    )


@as_root
def test_as_an_ordinary_user_memfd_pages_cannot_escape_the_memory_cap(nobody_emulator):
    before = _shmem_mib()
    outcome = nobody_emulator.execute(MEMFD_FILL, "hoarder", timeoutInSeconds=60)["result"]["executionResult"]
    grown = _shmem_mib() - before
    assert outcome == errno.ENOSYS, outcome
    assert grown < 256, f"the host's shared memory grew {grown:.0f} MiB"
    assert "memfd and System V shared memory" in nobody_emulator.logs()


@as_root
def test_as_an_ordinary_user_one_session_cannot_take_every_inotify_instance_of_the_user(nobody_emulator):
    taken = nobody_emulator.execute(INOTIFY_HOARD, "inotify-hoarder")["result"]["executionResult"]
    assert taken == [errno.ENOSYS, 0], taken
    # The host's own processes of that user still get theirs.
    probe = "import ctypes; fd = ctypes.CDLL(None).inotify_init1(0); print(fd)"
    own = subprocess.run([*as_user(ORDINARY_UID), "/usr/bin/python3", "-c", probe], capture_output=True, text=True)
    assert int(own.stdout) >= 0, own
    assert nobody_emulator.execute("1 + 1", "other")["result"]["executionResult"] == 2


@as_root
def test_as_root_inotify_works_and_is_counted_per_session_uid(python_emulator):
    taken = python_emulator.execute(INOTIFY_HOARD, "watcher")["result"]["executionResult"]
    assert taken[1] >= 100, taken  # the session's own uid's instances (the per-user limit is theirs alone)
    assert python_emulator.execute(INOTIFY_HOARD, "other-watcher")["result"]["executionResult"][1] >= 100
