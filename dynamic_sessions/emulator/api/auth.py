"""Bearer-token checks as the pool's front door makes them, minus the signature.

The emulator cannot know Microsoft Entra ID's keys, so a token's signature is not checked:
any JWT whose `aud` is the dynamic-sessions audience and whose `exp` lies ahead is accepted.
`allowed_principals` rehearses a missing role assignment: other `oid`s get 403.
"""

import math
import time
from dataclasses import dataclass
from functools import lru_cache

from dynamic_sessions import jwts
from dynamic_sessions.azure_facts import AUDIENCE


@dataclass(frozen=True)
class Denied(Exception):
    status: int
    code: str
    message: str


@dataclass(frozen=True)
class Claims:
    expires: float
    object_id: str | None


# Kept claims are for tokens as Microsoft Entra ID issues them: at most 200 group ids in a JWT (past that, an
# overage claim: learn.microsoft.com/troubleshoot/entra/entra-id/app-integration/
# get-signed-in-users-groups-in-access-token), about 13 KB with the other claims and the signature, by our
# arithmetic. Longer ones are read again on each request instead: kept, 1,024 distinct tokens of ~60 KB (a
# request head holds up to 64 KiB) held ~60 MiB of the emulator's memory.
CACHED_TOKEN_MAX = 16 * 1024


def _claims(token: str) -> Claims | str:
    return _cached_claims(token) if len(token) <= CACHED_TOKEN_MAX else _read_claims(token)


@lru_cache(maxsize=1024)
def _cached_claims(token: str) -> Claims | str:
    # Cached per token string: a client sends the same token for many requests.
    return _read_claims(token)


def _read_claims(token: str) -> Claims | str:
    claims = jwts.unverified_claims(token)
    if claims is None:
        return "The bearer token is not a well-formed JWT."
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if not any(isinstance(a, str) and a.rstrip("/") == AUDIENCE for a in audiences):
        return f"The token's audience is {audience!r:.80}; it must be {AUDIENCE!r} (request scope {AUDIENCE}/.default)."
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        return "The token has no expiry (exp)."
    try:
        moment = float(expires)
    except OverflowError:  # an integer too large for a float
        moment = math.inf
    if not math.isfinite(moment):
        # NaN compares false with every time, and infinity never comes: such a token would never expire.
        return f"The token's exp ({expires!r:.40}) is not a finite number of seconds."
    oid = claims.get("oid")
    return Claims(moment, oid if isinstance(oid, str) else None)


def check(authorization: str | None, allowed_principals: frozenset[str]) -> None:
    """Raises `Denied` (401 or 403) unless the Authorization header carries an acceptable token."""
    if not authorization:
        raise Denied(401, "Unauthorized", "No Authorization header: send 'Authorization: Bearer <token>'.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Denied(401, "Unauthorized", "The Authorization header must be 'Bearer <token>'.")
    claims = _claims(token.strip())
    if isinstance(claims, str):
        raise Denied(401, "Unauthorized", claims)
    if claims.expires <= time.time():
        raise Denied(401, "Unauthorized", "The token has expired.")
    if allowed_principals and (claims.object_id or "").lower() not in allowed_principals:
        raise Denied(
            403,
            "Forbidden",
            "The principal does not have the Azure ContainerApps Session Executor role on this pool.",
        )
