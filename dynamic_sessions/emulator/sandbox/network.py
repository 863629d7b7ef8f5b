"""Egress for a session: its own network namespace, given outbound access by slirp4netns.

slirp4netns relays the session's connections through ordinary sockets of the host, but with
`--disable-host-loopback` it refuses the host's loopback, where the emulator's API listens: session
code reaches the network, never the emulator (nor any other loopback-only service of the host).
Unreachable routes in the session's namespace (see fence.py) also keep it from the host's own
addresses and the cloud's link-local endpoints, which slirp4netns would otherwise relay to.
"""

import asyncio
import fcntl
import json
import os
import sys
from pathlib import Path

from dynamic_sessions.emulator.sandbox import pipes, processes
from dynamic_sessions.emulator.sandbox.cgroups import SessionGroup

NS_GET_USERNS = 0xB701  # ioctl: the user namespace that owns a namespace
# Never reachable from a session, whatever the host's routes: the cloud's link-local endpoints (instance
# metadata and identity tokens at 169.254.169.254) and Azure's host agent. The host's own addresses join them.
FENCED = ("169.254.0.0/16", "168.63.129.16/32")
FENCE = Path(__file__).with_name("fence.py")
FENCE_TIMEOUT_S = 10.0
# How long slirp4netns may take to say (on its --ready-fd) that the session has its route out.
READY_TIMEOUT_S = 10.0
# What the session's /etc/resolv.conf says: slirp4netns answers DNS at this address.
RESOLV_CONF = "nameserver 10.0.2.3\n"
TUN = "/dev/net/tun"


def unusable_reason(slirp: str | None, as_root: bool) -> str | None:
    """Why egress cannot be given safely on this machine, or None when it can."""
    if slirp is None:
        return (
            "--egress enabled needs slirp4netns, so that sessions get the network but not the host's loopback "
            "(where the emulator listens): install it (Debian/Ubuntu: apt-get install slirp4netns)"
        )
    if not as_root and not os.access(TUN, os.R_OK | os.W_OK):
        return f"--egress enabled needs read and write access to {TUN} for slirp4netns; this user has none"
    return None


async def child_pid(info_r: int) -> int:
    """The sandbox's first process, from the read end of bubblewrap's --info-fd (one JSON object)."""
    text = b""
    while b"}" not in text:
        chunk = await pipes.read(info_r, 4096)
        if not chunk:
            raise OSError("bubblewrap closed its info pipe without naming its child")
        text += chunk
    return int(json.loads(text)["child-pid"])


async def attach(slirp: str, pid: int, exit_fd: int, group: SessionGroup | None = None) -> processes.Child:
    """Starts slirp4netns for the network namespace of `pid`; returns once the namespace has its route out.

    slirp4netns ends when `exit_fd` (the read end of a pipe the emulator holds open) is closed, so
    even an emulator killed with SIGKILL leaves no relay behind. It joins the session's `group`: the
    sockets and buffers it holds on the host for the session's connections count towards the session's caps.
    """
    net = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        # bubblewrap nests the session in a second user namespace: join the one that owns the network.
        owner = fcntl.ioctl(net, NS_GET_USERNS)
    finally:
        os.close(net)
    ready_r, ready_w = os.pipe()
    try:
        await _fence(owner, pid)
        relay = [
            slirp,
            "--configure",
            "--mtu=65520",
            "--disable-host-loopback",
            "--enable-sandbox",
            "--enable-seccomp",
            f"--userns-path=/proc/self/fd/{owner}",
            f"--ready-fd={ready_w}",
            f"--exit-fd={exit_fd}",
            str(pid),
            "tap0",
        ]
        process = processes.spawn(
            group.entering(relay) if group is not None else relay,
            pass_fds=(owner, ready_w, exit_fd),
            env={"PATH": "/usr/bin:/bin"},
            start_new_session=True,
        )
    except BaseException:
        os.close(ready_r)
        raise
    finally:
        os.close(ready_w)
        os.close(owner)
    try:
        try:
            ready = await asyncio.wait_for(pipes.read(ready_r, 1), READY_TIMEOUT_S)
        except TimeoutError:
            raise OSError(f"slirp4netns did not give the session its network within {READY_TIMEOUT_S:.0f} s") from None
        finally:
            os.close(ready_r)
        if ready != b"1":
            raise OSError("slirp4netns could not give the session its network")
    except BaseException:  # failed, or the start given up on: no relay is left behind, nor a zombie
        process.kill()
        raise
    return process


def host_addresses() -> list[str]:
    """The host's own IPv4 addresses but loopback's (already out of reach), from the kernel's local table."""
    found: set[str] = set()
    current = ""
    for line in Path("/proc/net/fib_trie").read_text().splitlines():
        text = line.strip()
        if text.startswith("|-- "):
            current = text[4:]
        elif text == "/32 host LOCAL" and current and not current.startswith("127."):
            found.add(current)
    return sorted(found)


async def _fence(owner: int, pid: int) -> None:
    """Adds the unreachable routes to the session's network namespace, or raises OSError: no session goes
    out without them."""
    cidrs = [*FENCED, *(f"{address}/32" for address in host_addresses())]
    # Through `processes` and awaited on the loop, not run from a thread: a thread would outlive a cancelled
    # start and hand `owner`, closed by then, to whatever took its number.
    command = [sys.executable, "-I", "-S", str(FENCE), str(owner), f"/proc/{pid}/ns/net", *cidrs]
    errors_r, errors_w = os.pipe()
    try:
        fence = processes.spawn(command, pass_fds=(owner,), env={"PATH": "/usr/bin:/bin"}, stderr=errors_w)
    except BaseException:
        os.close(errors_r)
        raise
    finally:
        os.close(errors_w)
    try:
        try:
            code = await asyncio.wait_for(fence.wait(), FENCE_TIMEOUT_S)
        except TimeoutError:
            raise OSError("fencing the session's network took too long") from None
        if code != 0:
            said = await pipes.read(errors_r, 65536)  # it has ended: what it wrote is all in the pipe
            raise OSError(f"cannot fence the session's network: {said.decode(errors='replace').strip()}")
    except BaseException:  # timed out, failed or given up on: a fence still running is stopped and reaped
        fence.kill()
        raise
    finally:
        os.close(errors_r)
