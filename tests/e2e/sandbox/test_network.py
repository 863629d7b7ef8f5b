"""A session's network: with egress it reaches out but never the host's loopback, own addresses or the
cloud's link-local endpoints, its relay counts towards its caps and dies with the emulator; without
egress nothing is reached.

Each attack runs as session code (or a client) against a real emulator process, and is judged by what
the host sees."""

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.emulator_process import ROOT, Emulator, bearer, descendants
from tests.sandbox_support import FarHost, _cgroups, as_root, kernel_of, run, tree

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


class Listener:
    def __init__(self, host: str) -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


CONNECT = """$$.async(); new Promise((resolve) => {{
  const s = require('net').connect({port}, {host!r});
  s.on('connect', () => {{ s.destroy(); resolve('connected'); }});
  s.on('error', (e) => resolve(e.code));
  setTimeout(() => resolve('timeout'), 3000);
}}).then($$.done)"""


STEAL = """$$.async();
fetch({url!r} + '/listSessions?api-version=2025-02-02-preview', {{ headers: {{ Authorization: {auth!r} }} }})
  .then((r) => r.status, (e) => String(e.cause && e.cause.code)).then($$.done)"""


def _reject_routes(pid: int) -> set[tuple[str, str]]:
    """(destination, mask) of every unreachable route in the network namespace of `pid`, as the host reads it."""
    found = set()
    for line in Path(f"/proc/{pid}/net/route").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[3], 16) & 0x0200:  # RTF_REJECT
            found.add((_route_address(fields[1]), _route_address(fields[7])))
    return found


def _global_addresses() -> list[str]:
    """This host's own IPv4 addresses but loopback's, as `ip` lists them, less the far host's veth: another test
    process's far host comes and goes while a test runs, so a session may start before or after it."""
    done = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True)
    listed = [line.split()[3].split("/")[0] for line in done.stdout.splitlines()]
    return [address for address in listed if address != FarHost.ours]


def _route_address(little_endian_hex: str) -> str:
    return str(ipaddress.IPv4Address(int(little_endian_hex, 16).to_bytes(4, "little")))


@pytest.mark.skipif(shutil.which("slirp4netns") is None, reason="slirp4netns is not installed")
def test_with_egress_the_session_reaches_out_but_not_the_hosts_loopback(launch):
    loopback = Listener("127.0.0.1")
    emulator = launch("--egress", "enabled")
    port = int(emulator.url.rsplit(":", 1)[1])
    auth = bearer()["Authorization"]
    for host in ("127.0.0.1", "10.0.2.2"):  # its own loopback, and slirp's alias for the host's
        run(emulator, CONNECT.format(port=loopback.port, host=host), "egress")
        stolen = run(emulator, STEAL.format(url=f"http://{host}:{port}", auth=auth), "egress")
        assert stolen["executionResult"] != 200
    assert loopback.accepted == 0
    assert "/listSessions" not in emulator.logs()
    with FarHost() as far:
        reached = run(emulator, CONNECT.format(port=far.port, host=far.address), "egress")
        assert reached["executionResult"] == "connected"
        assert far.accepted()  # seen by the other host, not only said by the session


@pytest.mark.skipif(shutil.which("slirp4netns") is None, reason="slirp4netns is not installed")
def test_a_killed_emulator_leaves_no_network_relay_behind(launch):
    emulator = launch("--egress", "enabled")
    run(emulator, "1", "relayed")
    relays = {
        p for p in descendants(emulator.process.pid) if Path(f"/proc/{p}/comm").read_text().strip() == "slirp4netns"
    }
    assert relays
    emulator.process.send_signal(signal.SIGKILL)
    emulator.process.wait()
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{p}") for p in relays) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{p}") for p in relays)


def test_without_egress_nothing_is_reached(emulator):
    address = next(iter(_global_addresses()), "127.0.0.1")
    listener = Listener(address)
    run(emulator, CONNECT.format(port=listener.port, host=address), "closed")
    assert listener.accepted == 0


def test_egress_without_slirp4netns_is_refused_not_shared(tmp_path):
    for tool in ("node", "bwrap", "setpriv", "prlimit"):
        found = shutil.which(tool)
        if found:
            (tmp_path / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "--port", "0", "--egress", "enabled"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "slirp4netns" in done.stderr and "loopback" in done.stderr


def test_a_session_whose_network_cannot_be_set_up_is_refused_and_the_log_says_why(tmp_path):
    broken = tmp_path / "slirp4netns"  # found first on PATH; ends at once, never writing to its --ready-fd
    broken.write_text("#!/bin/sh\necho 'slirp4netns: cannot open /dev/net/tun' >&2\nexit 1\n")
    broken.chmod(0o755)
    emulator = Emulator("--egress", "enabled", env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"})
    try:
        body = {"codeInputType": "Inline", "executionType": "Synchronous", "code": "1", "timeoutInSeconds": 20}
        params = {"api-version": "2025-10-02-preview", "identifier": "no-network"}
        refused = emulator.http.post("/executions", params=params, json=body, timeout=60)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "SessionUnavailable"
        assert "slirp4netns" not in refused.text  # the host's side of it is the operator's, in the log
        assert "a session could not start: slirp4netns could not give the session its network" in emulator.logs()
    finally:
        emulator.stop()


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
    # Every address the host had throughout is fenced. Another program may add or remove an interface meanwhile (a
    # container engine's bridge comes and goes with its containers): an address gone before the session started
    # cannot be fenced, nor reached.
    throughout = set(addresses) & set(_global_addresses())
    assert throughout and {(address, "255.255.255.255") for address in throughout} <= routes


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
