"""Attacks a hostile tenant tries beyond the files API and the caps: CPU hogging, core dumps, names
that collide with the emulator's own, and an install without the emulator's extra.

Each is checked by what the host sees: the cgroups of session processes, their rlimits, the files in
the session's folder, the emulator's exit status and its stderr.
"""

import errno
import ipaddress
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dynamic_sessions.emulator.sandbox import cgroups
from dynamic_sessions.extras import install_command
from tests.e2e.test_emulator_hostile import LEGACY, Canary, V, _host_folder, _names, _params
from tests.e2e.test_sandbox import CONNECT, Listener, kernel_of, run, status, tree
from tests.emulator_process import ROOT

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="root mode: the test suite runs as an ordinary user")

SPINNERS = """
const { spawn } = require('child_process');
for (let i = 0; i < 8; i++) {
  spawn('/bin/sh', ['-c', 'while :; do :; done'], { detached: true, stdio: 'ignore' }).unref();
}
'spinning'
"""


@pytest.fixture
def launch_flags():
    return ("--max-sessions", "4")


@pytest.fixture(scope="module")
def emulator_flags():
    """The emulator the module's tests share: room for every identifier they use."""
    return ("--max-sessions", "12")


def _cgroups(pid: int) -> dict[str, str]:
    """Each v1 controller's (and v2's unified) cgroup of `pid`."""
    found = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else ["unified"]:
            found[controller] = path
    return found


def _cpu_cgroup(pid: int) -> str:
    groups = _cgroups(pid)
    if "cpu" in groups:
        return groups["cpu"]
    if "unified" in groups and "cpu" in _v2_controllers():
        return groups["unified"]
    raise AssertionError(f"no cpu cgroup for {pid}")


def _v2_controllers() -> list[str]:
    return Path("/sys/fs/cgroup/cgroup.controllers").read_text().split() if os.path.exists("/sys/fs/cgroup") else []


def _limit(pid: int, name: str) -> tuple[str, str]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith(name):
            soft, hard = line[len(name) :].split()[:2]
            return soft, hard
    raise AssertionError(f"no {name} in /proc/{pid}/limits")


# --- CPU: a session that starts busy processes weighs as one ----------------------------------


@needs_bwrap
@as_root
def test_a_sessions_busy_processes_share_one_cpu_group_apart_from_other_sessions(emulator):
    _, why_not = cgroups.discover()
    if "cpu" in why_not:
        pytest.skip(f"this machine gives the emulator no cpu cgroup: {why_not['cpu']}")
    assert "cap cpu: a fair share per session" in emulator.logs()
    bystander = kernel_of(emulator, "bystander")
    hogger = kernel_of(emulator, "hogger")
    assert run(emulator, SPINNERS, "hogger")["executionResult"] == "spinning"
    # Detached (a session of their own), they are still the kernel's children.
    deadline = time.monotonic() + 10
    while len(tree(hogger) - {hogger}) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    spinners = [p for p in tree(hogger) if _comm(p) == "sh"]
    assert len(spinners) >= 8, spinners
    own = _cpu_cgroup(hogger)
    assert own.startswith(f"/{cgroups.PREFIX}{emulator.process.pid}/session-"), own
    assert {_cpu_cgroup(p) for p in spinners} == {own}
    assert _cpu_cgroup(bystander) != own
    assert _cpu_cgroup(emulator.process.pid) != own  # the emulator itself is never in a session's group
    assert emulator.http.delete("/session", params=_params("hogger")).status_code == 204  # its spinners with it


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


# --- files API: a name swapped between a regular file, a symlink and a hard link while requests run ---

SWAPPER = """
const fs = require('fs');
(async () => {{
  const end = Date.now() + 20000;
  for (let i = 0; Date.now() < end && !fs.existsSync('/mnt/data/stop'); i++) {{
    for (const name of ['/mnt/data/x', '/mnt/data/y']) {{ try {{ fs.unlinkSync(name); }} catch (e) {{}} }}
    try {{  // the client's uploads and deletes race these too
      if (i % 2) {{
        fs.symlinkSync({target!r}, '/mnt/data/x');
        fs.symlinkSync({absent!r}, '/mnt/data/y');
      }} else {{
        fs.writeFileSync('/mnt/data/x', 'mine');
        fs.linkSync('/mnt/data/x', '/mnt/data/y');
      }}
    }} catch (e) {{}}
    if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
  }}
}})();
'swapping'
"""


@needs_bwrap
def test_swapping_a_name_for_links_while_requests_run_never_reaches_the_host(emulator, tmp_path):
    tmp_path.chmod(0o755)
    canary = Canary(tmp_path)
    ident = "racer"
    code = SWAPPER.format(target=str(canary.path), absent=str(canary.absent))
    assert run(emulator, code, ident)["executionResult"] == "swapping"
    bodies: set[bytes] = set()
    for _ in range(150):
        for path, version in (("/files/x/content", V), ("/files/content/x", LEGACY), ("/files/y/content", V)):
            bodies.add(emulator.http.get(path, params=_params(ident, version)).content)
        for name in ("x", "y"):
            emulator.http.post("/files", params=_params(ident), files={"file": (name, b"overwrite")})
            emulator.http.delete(f"/files/{name}", params=_params(ident))
    emulator.http.post("/files", params=_params(ident), files={"file": ("stop", b"")})
    assert not any(b"host secret" in body for body in bodies)
    assert b"mine" in bodies  # the race ran: the regular file was served between swaps
    canary.assert_untouched()


# --- egress: the host's own addresses and the cloud's link-local endpoints -----------------------


def _reject_routes(pid: int) -> set[tuple[str, str]]:
    """(destination, mask) of every unreachable route in the network namespace of `pid`, as the host reads it."""
    found = set()
    for line in Path(f"/proc/{pid}/net/route").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[3], 16) & 0x0200:  # RTF_REJECT
            found.add((_address(fields[1]), _address(fields[7])))
    return found


def _global_addresses() -> list[str]:
    """This host's own IPv4 addresses but loopback's, as `ip` lists them."""
    done = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True)
    return [line.split()[3].split("/")[0] for line in done.stdout.splitlines()]


def _address(little_endian_hex: str) -> str:
    return str(ipaddress.IPv4Address(int(little_endian_hex, 16).to_bytes(4, "little")))


@needs_bwrap
@pytest.mark.skipif(shutil.which("slirp4netns") is None, reason="slirp4netns is not installed")
def test_with_egress_the_hosts_own_addresses_and_link_local_endpoints_are_unreachable(launch):
    addresses = _global_addresses()
    if not addresses:
        pytest.skip("this host has no address but loopback")
    listeners = [Listener(address) for address in addresses]
    emulator = launch("--egress", "enabled")
    for listener, address in zip(listeners, addresses, strict=True):
        answer = run(emulator, CONNECT.format(port=listener.port, host=address), "fenced")["executionResult"]
        assert answer != "connected"
    assert [listener.accepted for listener in listeners] == [0] * len(listeners)
    kernel = kernel_of(emulator, "fenced")
    # No IPv6 way out: slirp4netns gives none, so the tap holds only link-local and multicast routes.
    ipv6_routes = [line.split() for line in Path(f"/proc/{kernel}/net/ipv6_route").read_text().splitlines()]
    assert all(route[0].startswith(("fe80", "ff")) for route in ipv6_routes if route[-1] == "tap0"), ipv6_routes
    routes = _reject_routes(kernel)
    assert ("169.254.0.0", "255.255.0.0") in routes  # instance metadata: the host's identity tokens
    assert ("168.63.129.16", "255.255.255.255") in routes
    assert {(address, "255.255.255.255") for address in addresses} <= routes


@needs_bwrap
@as_root
@pytest.mark.skipif(shutil.which("slirp4netns") is None, reason="slirp4netns is not installed")
def test_with_egress_a_sessions_network_relay_counts_towards_its_own_caps(launch):
    # slirp4netns holds a socket and buffers on the host for every connection session code opens.
    emulator = launch("--egress", "enabled")
    run(emulator, "1", "relay-capped")
    kernel = kernel_of(emulator, "relay-capped")
    relays = [p for p in tree(emulator.process.pid) if Path(f"/proc/{p}/comm").read_text().strip() == "slirp4netns"]
    assert len(relays) == 1
    session, relay = _cgroups(kernel), _cgroups(relays[0])
    capped = [name for name in ("memory", "pids") if name in session and session[name] != _cgroups(os.getpid())[name]]
    assert capped, f"the session is in no memory or pids cgroup of its own: {session}"
    assert {name: relay[name] for name in capped} == {name: session[name] for name in capped}


# --- seccomp: the kernel interfaces unprivileged code escalates through ----------------------------

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


@needs_bwrap
def test_every_session_process_runs_under_the_seccomp_filter(emulator):
    assert "sandbox: seccomp: io_uring" in emulator.logs()
    kernel = kernel_of(emulator, "filtered")
    assert status(kernel)["Seccomp"] == "2"  # filter mode, as the host reads it
    child = run(
        emulator, "require('child_process').execSync('grep ^Seccomp: /proc/self/status').toString()", "filtered"
    )
    assert child["executionResult"].split() == ["Seccomp:", "2"]


@needs_bwrap
def test_io_uring_userfaultfd_keyrings_perf_and_ptrace_answer_enosys(launch):
    emulator = launch("--container-type", "PythonLTS")
    errors = run(emulator, UNPRIVILEGED_SYSCALLS, "syscaller")["executionResult"]
    if errors == "not x86_64":
        pytest.skip("the system call numbers here are x86_64's")
    assert errors == dict.fromkeys(
        ("io_uring_setup", "userfaultfd", "keyctl", "perf_event_open", "ptrace"), errno.ENOSYS
    )


# --- the kernel channel flooded between calls ---------------------------------------------------

FLOOD_CHANNEL = """
const fs = require('fs');
const chunk = Buffer.alloc(1 << 16, 120);  // no newline: never a whole answer
globalThis.sent = 0;
const timer = setInterval(() => {{
  for (let i = 0; i < 64; i++) {{
    try {{ fs.writeSync({fd}, chunk); globalThis.sent += chunk.length; }} catch (e) {{ break; }}
  }}
  if (globalThis.sent > 256 * 1024 * 1024) clearInterval(timer);
}}, 1);
'flooding'
"""


def _rss_mib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmRSS")


@needs_bwrap
def test_a_channel_flooded_between_calls_costs_the_emulator_no_memory(emulator):
    fd = run(
        emulator,
        "require('fs').readdirSync('/proc/self/fd').map(Number).find((n) => "
        "require('fs').readlinkSync('/proc/self/fd/' + n).startsWith('socket:'))",
        "flood-0",
    )["executionResult"]
    before = _rss_mib(emulator.process.pid)
    for n in range(3):
        assert run(emulator, FLOOD_CHANNEL.format(fd=fd), f"flood-{n}")["executionResult"] == "flooding"
    peak = before
    for _ in range(15):  # 1.5 s: an emulator that read the flood holds over 200 MiB of it within 1 s
        time.sleep(0.1)
        peak = max(peak, _rss_mib(emulator.process.pid))
    assert peak - before < 48, f"emulator RSS grew {peak - before} MiB"
    # The flood is not an answer: the next call ends that session and a fresh one answers the one after.
    emulator.execute("1", "flood-1", timeoutInSeconds=20)
    assert run(emulator, "6 * 7", "flood-1")["executionResult"] == 42
    for ended in ("flood-0", "flood-1", "flood-2"):  # the shared emulator runs no flood past this test
        emulator.http.delete("/session", params=_params(ended))


# --- signals ---------------------------------------------------------------------------------------


@needs_bwrap
def test_kill_minus_one_and_signals_to_host_pids_reach_only_the_sessions_own_processes(emulator):
    bystander = kernel_of(emulator, "bystander")
    attacker = kernel_of(emulator, "attacker")
    targets = " ".join(str(p) for p in (emulator.process.pid, bystander, os.getpid(), 1))
    # Host pids mean nothing in the session's pid namespace; then everything the session may signal.
    emulator.execute(
        "require('child_process').spawnSync('/bin/sh', ['-c', 'kill -9 " + targets + "; kill -9 -1'])",
        "attacker",
        timeoutInSeconds=20,
    )
    assert emulator.process.poll() is None
    assert os.path.exists(f"/proc/{bystander}") and not os.path.exists(f"/proc/{attacker}")
    assert run(emulator, "6 * 7", "bystander")["executionResult"] == 42
    assert kernel_of(emulator, "bystander") == bystander


# --- a session that ends itself between calls ------------------------------------------------------


@needs_bwrap
def test_a_session_that_exits_between_calls_is_replaced_before_the_next_one(emulator):
    first = kernel_of(emulator, "quitter")
    assert run(emulator, "setTimeout(() => process.exit(5), 50); 'later'", "quitter")["executionResult"] == "later"
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{first}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{first}")
    time.sleep(0.5)  # for the emulator's event loop to read the channel's end
    answer = emulator.execute("6 * 7", "quitter", timeoutInSeconds=20)
    assert answer["status"] == "Succeeded" and answer["result"]["executionResult"] == 42, answer
    assert kernel_of(emulator, "quitter") != first


# --- core dumps ---------------------------------------------------------------------------------


@needs_bwrap
@pytest.mark.parametrize("flags", [(), ("--no-caps",)], ids=["caps", "no-caps"])
def test_session_code_can_never_dump_core(request, flags):
    emulator = request.getfixturevalue("launch")(*flags) if flags else request.getfixturevalue("emulator")
    kernel = kernel_of(emulator, "dumper")
    # 1 byte: no core file fits, and the kernel never runs a core_pattern helper for it.
    assert _limit(kernel, "Max core file size") == ("1", "1")
    raised = run(
        emulator, "require('child_process').spawnSync('/bin/sh', ['-c', 'ulimit -c unlimited']).status", "dumper"
    )["executionResult"]
    assert raised != 0  # the hard limit holds against the session


# --- names that collide with the emulator's own ---------------------------------------------------


@needs_bwrap
def test_a_name_of_the_emulators_own_temporary_form_is_refused_and_others_like_it_are_listed(emulator):
    ident = "collider"
    folder = _host_folder(emulator, ident)
    reserved = ".upload-0011223344556677"
    refused = emulator.http.post("/files", params=_params(ident), files={"file": (reserved, b"x")})
    assert refused.status_code == 400 and "reserved" in refused.json()["error"]["message"]
    assert not (folder / reserved).exists()
    for name in (".upload-notes.txt", "lock", "kernel.js"):
        stored = emulator.http.post("/files", params=_params(ident), files={"file": (name, b"mine")})
        assert stored.status_code == 200, stored.text
        assert (folder / name).read_bytes() == b"mine"
    assert {".upload-notes.txt", "lock", "kernel.js"} <= _names(emulator, ident)


# --- installs ------------------------------------------------------------------------------------


BLOCKED = (
    "import runpy, sys\n"
    "for name in {names!r}: sys.modules[name] = None\n"
    "sys.argv = ['emulator', '--port', '0']\n"
    "runpy.run_module('dynamic_sessions.emulator', run_name='__main__')\n"
)


@pytest.mark.parametrize("names", [("uvicorn",), ("starlette",), ("uvicorn", "starlette")])
def test_without_the_emulator_extra_the_emulator_exits_2_naming_it(names):
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED.format(names=names)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert f"install the 'emulator' extra: {install_command('emulator')}" in done.stderr
    assert "Traceback" not in done.stderr
    for name in names:
        assert name in done.stderr


@needs_bwrap
def test_the_benchmarks_emulators_print_nothing_on_stderr_even_without_caps(capfd):
    from bench.emulators import EmulatorProcess

    capfd.readouterr()
    with EmulatorProcess("--no-caps") as pool:
        assert pool.url.startswith("http://127.0.0.1:")
    assert capfd.readouterr().err == ""  # `make bench` prints its table alone
