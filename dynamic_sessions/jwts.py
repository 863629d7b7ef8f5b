"""JSON Web Tokens (RFC 7519) without their signatures: the unsigned ones the client mints for loopback stand-ins,
and the claims the emulator reads from any token, since it cannot know Microsoft Entra ID's keys.

Written here rather than with PyJWT because PyJWT imports `cryptography` as it loads: about 200 ms for the
client's first token, and about 36 ms of every emulator start (`python -X importtime`), for work that needs
neither a key nor a cipher.
"""

import base64
import binascii
import json
from typing import Any


def unsigned(claims: dict[str, Any]) -> str:
    """An `alg: none` JWT (RFC 7519 section 6.1) carrying `claims`."""
    return f"{_encode({'alg': 'none', 'typ': 'JWT'})}.{_encode(claims)}."


def unverified_claims(token: str) -> dict[str, Any] | None:
    """The claims of a compact JWT, its signature unchecked; None unless PyJWT (2.15) would decode it too: three
    dot-separated base64url segments, the first two JSON objects (the header and the claims), and a header whose
    `kid`, if any, is a string, whose `crit` (RFC 7515 section 4.1.11) names only a `b64` it carries, and whose
    `b64` is not false."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header, claims = (json.loads(_decode(part)) for part in parts[:2])
        _decode(parts[2])
    except (ValueError, RecursionError, binascii.Error):  # RecursionError: JSON nested thousands deep
        return None
    if not (isinstance(header, dict) and isinstance(claims, dict) and _header_accepted(header)):
        return None
    return claims


def _header_accepted(header: dict[str, Any]) -> bool:
    if "kid" in header and not isinstance(header["kid"], str):
        return False
    # `crit` names extensions the token cannot be read without; b64 (RFC 7797) is the only one PyJWT knows, and
    # `b64: false` means the claims travel apart from the token (a detached payload), which no caller sends here.
    if "crit" in header:
        crit = header["crit"]
        if not isinstance(crit, list) or not crit or any(name != "b64" or name not in header for name in crit):
            return False
    return header.get("b64", True) is not False


def _encode(part: dict[str, Any]) -> str:
    return _bare(json.dumps(part, separators=(",", ":")).encode())


def _decode(segment: str) -> bytes:
    """A base64url segment's bytes, as strictly as PyJWT reads them: its alphabet only, no padding or exactly
    the right padding, and the one canonical spelling of the bytes (no stray trailing bits)."""
    stripped = segment.rstrip("=")
    if len(segment) - len(stripped) > 2 or (stripped != segment and len(segment) % 4):
        raise ValueError("wrong padding")
    data = base64.b64decode(stripped + "=" * (-len(stripped) % 4), altchars=b"-_", validate=True)
    if _bare(data) != stripped:  # `+` and `/` (read as the alternatives), or stray bits
        raise ValueError("not the canonical base64url spelling of its bytes")
    return data


def _bare(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
