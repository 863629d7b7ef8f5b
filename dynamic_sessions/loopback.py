"""Whether a host is this machine's loopback: the rule the client (plain http, minted tokens) and the emulator (the
address it binds) both apply. Importing it loads nothing but the standard library."""

import ipaddress


def is_loopback_host(host: str) -> bool:
    """`localhost`, or an IPv4/IPv6 loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
