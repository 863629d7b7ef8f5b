"""Unreachable routes in a session's network namespace, for the addresses egress must not reach.

slirp4netns relays a session's connections from the host, so without these routes session code
would reach every service of the host on its own addresses (anything listening on 0.0.0.0) and
the cloud's link-local endpoints, which hand out the host's identity tokens (169.254.169.254) and
its agent's configuration (Azure's 168.63.129.16).

Run as its own single-threaded process (joining a user namespace needs that):
`python -I -S fence.py USERNS_FD NETNS_PATH CIDR...`. It joins the namespace that owns the
network, then adds one reject route per CIDR, before any session code runs. Session code holds no
capability, so it cannot remove them. It imports nothing from the emulator.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import ipaddress
import os
import socket
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
SIOCADDRT = 0x890B
RTF_UP = 0x0001
RTF_HOST = 0x0004
RTF_REJECT = 0x0200


class _SockaddrIn(ctypes.Structure):
    _fields_ = [
        ("family", ctypes.c_ushort),
        ("port", ctypes.c_ushort),
        ("addr", ctypes.c_uint8 * 4),  # bytes as numbers: a c_char array would stop at a zero byte
        ("zero", ctypes.c_uint8 * 8),
    ]


class _RtEntry(ctypes.Structure):
    """struct rtentry of <net/route.h>, what SIOCADDRT takes."""

    _fields_ = [
        ("pad1", ctypes.c_ulong),
        ("dst", _SockaddrIn),
        ("gateway", _SockaddrIn),
        ("genmask", _SockaddrIn),
        ("flags", ctypes.c_ushort),
        ("pad2", ctypes.c_short),
        ("pad3", ctypes.c_ulong),
        ("pad4", ctypes.c_void_p),
        ("metric", ctypes.c_short),
        ("dev", ctypes.c_char_p),
        ("mtu", ctypes.c_ulong),
        ("window", ctypes.c_ulong),
        ("irtt", ctypes.c_ushort),
    ]


def _address(text: str) -> _SockaddrIn:
    return _SockaddrIn(socket.AF_INET, 0, (ctypes.c_uint8 * 4)(*socket.inet_aton(text)))


def reject_route(sock: socket.socket, cidr: str) -> None:
    network = ipaddress.IPv4Network(cidr)
    entry = _RtEntry()
    entry.dst = _address(str(network.network_address))
    entry.genmask = _address(str(network.netmask))
    entry.flags = RTF_UP | RTF_REJECT | (RTF_HOST if network.prefixlen == 32 else 0)
    fcntl.ioctl(sock.fileno(), SIOCADDRT, bytes(entry))


def main(argv: list[str]) -> int:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    owner = int(argv[1])
    net = os.open(argv[2], os.O_RDONLY | os.O_CLOEXEC)
    for fd, kind in ((owner, CLONE_NEWUSER), (net, CLONE_NEWNET)):
        if libc.setns(fd, kind) != 0:
            error = ctypes.get_errno()
            print(f"setns: {os.strerror(error)}", file=sys.stderr)
            return 1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for cidr in argv[3:]:
            reject_route(sock, cidr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
