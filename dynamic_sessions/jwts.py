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
    """The claims of a compact JWT, its signature unchecked; None unless it is three dot-separated base64url
    segments whose first two are JSON objects (the header and the claims), as PyJWT requires too."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header, claims = (json.loads(_decode(part)) for part in parts[:2])
        _decode(parts[2])
    except (ValueError, RecursionError, binascii.Error):  # RecursionError: JSON nested thousands deep
        return None
    return claims if isinstance(header, dict) and isinstance(claims, dict) else None


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
