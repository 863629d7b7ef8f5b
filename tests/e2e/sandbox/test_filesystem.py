"""The session's file systems: read-only binds, /proc/sys, the kernel file, and the only places that take
writes (/tmp, /dev/shm, /mnt/data), each within its cap.

Each attack runs as session code (or a client) against a real emulator process, and is judged by what
the host sees."""

import errno
import hashlib
import os
import shutil
import socket
import stat
from pathlib import Path

import pytest

from dynamic_sessions.emulator.sandbox.caps import parse_size
from dynamic_sessions.emulator.sandbox.launcher import (
    SHM,
    TMP,
)
from dynamic_sessions.emulator.sandbox.scratch import scratch_root
from dynamic_sessions.emulator.sessions.runtimes import HERE
from tests.sandbox_support import _host_folder, as_root, kernel_of, run, shell

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


KERNEL = HERE / "kernel.js"


def test_read_only_binds_cannot_be_remounted_read_write(emulator):
    attempts = "; ".join(
        f"mount -o remount,rw,bind {p} {p}" for p in ("/usr", "/opt/emulator/kernel.js", "/etc/hosts", "/")
    )
    run(emulator, shell(attempts), "remount")
    pid = kernel_of(emulator, "remount")
    mounts = {line.split()[4]: line.split()[5] for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()}
    for point in ("/usr", "/opt/emulator/kernel.js", "/etc/hosts"):
        assert mounts[point].split(",")[0] == "ro", (point, mounts[point])
    assert not os.path.exists(f"/proc/{pid}/root/usr/evil")


def test_proc_sys_stays_read_only(emulator):
    before = Path("/proc/sys/kernel/core_pattern").read_text()
    run(emulator, shell("echo '|/mnt/data/pwn' > /proc/sys/kernel/core_pattern; sysctl -w kernel.hostname=x"))
    run(emulator, "require('fs').writeFileSync('/proc/sys/kernel/core_pattern', '|/mnt/data/pwn')")
    assert Path("/proc/sys/kernel/core_pattern").read_text() == before
    assert socket.gethostname() != "x"


def test_the_kernel_file_cannot_be_changed_and_is_all_the_session_sees_of_the_emulator(emulator):
    before = hashlib.sha256(KERNEL.read_bytes()).hexdigest()
    run(emulator, "require('fs').writeFileSync('/opt/emulator/kernel.js', 'process.exit(7)')", "planter")
    run(emulator, shell("chmod 777 /opt/emulator/kernel.js; echo x >> /opt/emulator/kernel.js; rm -f /opt/emulator/*"))
    assert hashlib.sha256(KERNEL.read_bytes()).hexdigest() == before
    (served,) = scratch_root().glob(f"emulator-{emulator.process.pid}-*/shared/kernel.js")
    assert hashlib.sha256(served.read_bytes()).hexdigest() == before  # the copy every session runs
    pid = kernel_of(emulator, "planter")
    package = KERNEL.parent
    # What the host sees of the session's mounts: the kernel file, never the package folder around it.
    visible = os.listdir(f"/proc/{pid}/root/opt/emulator")
    assert visible == ["kernel.js"]
    for name in ("app.py", "sandbox.py", "__main__.py"):
        assert not os.path.exists(f"/proc/{pid}/root/opt/emulator/{name}")
    assert not any(line.split()[3] == str(package) for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines())
    assert run(emulator, "1 + 1", "next-tenant")["executionResult"] == 2


def test_nothing_but_tmp_dev_shm_and_mnt_data_takes_writes(launch):
    emulator = launch("--tmp-size", "8M")
    places = ("/", "/dev", SHM, TMP, "/mnt", "/opt", "/opt/emulator", "/etc", "/usr")
    fill = "; ".join(f"head -c 20000000 /dev/zero > {p.rstrip('/')}/fill" for p in places)
    run(emulator, shell(fill), "spiller", timeout=60)
    pid = kernel_of(emulator, "spiller")
    writable = {}
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        device = stat.S_ISCHR(os.stat(f"/proc/{pid}/root{fields[4]}").st_mode)  # /dev/null and the like
        if fields[5].split(",")[0] == "rw" and not device:
            writable[fields[4]] = line.split(" - ", 1)[1]
    assert set(writable) - {"/proc", "/dev/pts", "/dev/mqueue"} == {TMP, SHM, "/mnt/data"}
    for point in (TMP, SHM):
        assert "size=8192k" in writable[point], writable[point]
        assert os.path.getsize(f"/proc/{pid}/root{point}/fill") <= parse_size("8M")
    for point in ("", "/dev", "/mnt", "/opt", "/etc", "/usr"):
        assert not os.path.exists(f"/proc/{pid}/root{point}/fill"), point


@as_root
def test_tmp_and_mnt_data_cannot_be_filled_beyond_their_caps(launch):
    emulator = launch("--tmp-size", "16M", "--data-size", "32M")
    pid = kernel_of(emulator, "filler")
    fill = shell("head -c 100000000 /dev/zero > /tmp/big; head -c 100000000 /dev/zero > /mnt/data/big; echo done")
    run(emulator, fill, "filler", timeout=60)
    assert os.path.getsize(f"/proc/{pid}/root/tmp/big") <= parse_size("16M")
    data = Path(f"/proc/{pid}/root/mnt/data")
    assert sum(f.stat().st_size for f in data.iterdir() if f.is_file()) <= parse_size("32M")
    # Host-side: the session's /mnt/data is a file system of 32 MiB, whatever was written to it.
    host_dir = next(Path(scratch_root()).glob(f"emulator-{emulator.process.pid}-*/session-*"))
    usage = shutil.disk_usage(host_dir)
    assert usage.total <= parse_size("32M") and usage.used <= parse_size("32M")


def test_with_caps_a_session_folder_shares_no_file_system_with_the_host(emulator, canary):
    folder = _host_folder(emulator, "plant-hardlink-capped")
    with pytest.raises(OSError) as refused:
        os.link(canary.path, folder / "hard")  # its own size-limited file system: no host file can be linked in
    assert refused.value.errno == errno.EXDEV
    canary.assert_untouched()
