"""Bearer tokens for the data plane and Azure Resource Manager: Microsoft Entra ID through azure-identity,
or minted locally for loopback stand-ins.

Tokens are cached and fetched again shortly before they expire. They are returned to the
client only; nothing here prints, logs or puts them in an exception.
"""

import contextlib
import importlib.util
import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol

from dynamic_sessions import jwts
from dynamic_sessions.client.errors import ConfigurationError, MissingExtra
from dynamic_sessions.extras import missing_extra_message

AUDIENCE = "https://dynamicsessions.io"
SCOPE = f"{AUDIENCE}/.default"
# Fetch a new token this long before the old one expires, so no request carries one about to lapse.
REFRESH_MARGIN_S = 300.0
# DefaultAzureCredential names each credential it tried on a line of its own: "\tAzureCliCredential: ...".
_TRIED = re.compile(r"^\s+(\w+Credential):", re.MULTILINE)


class TokenProvider(Protocol):
    def token(self) -> str: ...


class _Cached:
    """Holds one token and its expiry; `_fetch` is asked again when the margin is reached."""

    def __init__(self) -> None:
        self._value: str | None = None
        self._expires_on = 0.0
        self._lock = threading.Lock()

    def _fetch(self) -> tuple[str, float]:
        raise NotImplementedError

    def token(self) -> str:
        with self._lock:
            if self._value is None or self._expires_on - time.time() <= REFRESH_MARGIN_S:
                self._value, self._expires_on = self._fetch()
            return self._value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} expires_on={self._expires_on:.0f}>"


class EntraToken(_Cached):
    """A token from an azure-identity credential (default: DefaultAzureCredential) for the pool's scope
    (or another, such as Azure Resource Manager's for the MCP key)."""

    def __init__(self, credential: Any = None, scope: str = SCOPE):
        super().__init__()
        if credential is None and not _installed("azure.identity"):
            # Said now, when the client is made, rather than as a bare ModuleNotFoundError at its first call.
            needs = "a token for an https endpoint (DefaultAzureCredential)"
            raise MissingExtra(missing_extra_message(needs, "azure-identity", "client"), name="azure.identity")
        self._credential = credential
        self._scope = scope

    def _fetch(self) -> tuple[str, float]:
        if self._credential is None:
            from azure.identity import DefaultAzureCredential  # loaded only when a real pool is called

            self._credential = DefaultAzureCredential()
        try:
            with _quiet_azure_identity():
                access = self._credential.get_token(self._scope)
        except Exception as error:  # azure-identity raises several unrelated types
            raise ConfigurationError(no_credential_message(error, self._scope)) from None
        return access.token, float(access.expires_on)


def _installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it (azure.identity takes ~200 ms)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package, or a module set to None in sys.modules
        return False


def no_credential_message(error: Exception, scope: str = SCOPE) -> str:
    """One line: which credentials were tried (or the first line of the error), and what to do."""
    text = str(error)
    tried = _TRIED.findall(text)
    if tried:
        why = f"tried {', '.join(tried)}"
    else:
        why = f"{type(error).__name__}: {(text.strip().splitlines() or ['no message'])[0]}"
    return (
        f"no Azure credential could get a token for {scope} ({why}); "
        "sign in with `az login`, or set a managed identity or service principal (AZURE_CLIENT_ID ...)"
    )


@contextlib.contextmanager
def _quiet_azure_identity() -> Iterator[None]:
    """Holds back azure-identity's warnings for one call: on failure it logs a report of ~15 lines
    (to stderr when the app configured no logging), which the one-line error above replaces."""
    logger = logging.getLogger("azure.identity")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class LocalToken(_Cached):
    """An unsigned JWT with the pool's audience (or `audience`), for loopback servers: the emulator checks
    aud and exp only."""

    def __init__(self, lifetime_s: float = 3600.0, object_id: str | None = None, audience: str = AUDIENCE):
        super().__init__()
        self._lifetime_s = lifetime_s
        self._object_id = object_id
        self._audience = audience

    def _fetch(self) -> tuple[str, float]:
        expires = time.time() + self._lifetime_s
        claims: dict[str, Any] = {"aud": self._audience, "exp": int(expires), "iat": int(time.time())}
        if self._object_id:
            claims["oid"] = self._object_id
        return jwts.unsigned(claims), expires
