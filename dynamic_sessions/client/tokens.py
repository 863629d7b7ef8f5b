"""Bearer tokens for the data plane and Azure Resource Manager: Microsoft Entra ID through an azure-identity
credential (sync or async), or minted locally for loopback stand-ins.

`TokenCache` holds one token for one scope and asks its credential for a new one:
- once for every caller that finds no usable token (single flight: threads of the sync client wait on one lock;
  tasks of the async client await one task);
- ahead of expiry (from the credential's `refresh_on`, else `REFRESH_MARGIN_S` before expiry) while the old token
  still serves the other callers: the sync client's first call in that window fetches it itself, the async
  client starts a task and goes on with the valid token;
- never on the async client's event loop: an async credential (an async `get_token`, as azure-core's
  `AsyncTokenCredential`) is awaited, a sync one runs in a worker thread (`asyncio.to_thread`).

Tokens are returned to the client only; nothing here prints, logs or puts them in an exception.
"""

import contextlib
import importlib.util
import inspect
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from dynamic_sessions import jwts
from dynamic_sessions.azure_facts import AUDIENCE, SCOPE
from dynamic_sessions.client.errors import ConfigurationError, MissingExtra
from dynamic_sessions.extras import missing_extra_message

if TYPE_CHECKING:
    import asyncio

REFRESH_MARGIN_S = 300.0
"""A new token is fetched this long before the old one expires (unless the credential names its `refresh_on`)."""
EXPIRY_MARGIN_S = 30.0
"""A token this close to its expiry is not sent: every caller waits for the new one."""
REFRESH_RETRY_S = 30.0
"""After a refresh ahead of expiry failed, the next try waits this long (the old token still serves)."""
# DefaultAzureCredential names each credential it tried on a line of its own: "\tAzureCliCredential: ...".
_TRIED = re.compile(r"^\s+(\w+Credential):", re.MULTILINE)


class TokenProvider(Protocol):
    """Anything with a `token() -> str` method; the client calls it before every request, so it must be quick."""

    def token(self) -> str: ...


class Held(NamedTuple):
    value: str
    expires_on: float
    refresh_on: float


def _methods(credential: Any) -> list[Any]:
    return [m for m in (getattr(credential, n, None) for n in ("get_token_info", "get_token")) if callable(m)]


def is_async_credential(credential: Any) -> bool:
    """Whether `credential`'s token method is a coroutine function (azure-core's `AsyncTokenCredential`)."""
    return any(inspect.iscoroutinefunction(m) for m in _methods(credential))


def checked_credential(credential: Any, client: str, *, async_allowed: bool) -> Any:
    """`credential`, or a ConfigurationError naming its type: it has no `get_token`, or it is async and `client`
    is synchronous (the message names the client to use instead)."""
    kind = f"{type(credential).__module__}.{type(credential).__qualname__}"
    if not _methods(credential):
        raise ConfigurationError(
            f"credential {kind} has no get_token method; give an azure-identity credential "
            "(azure.core.credentials.TokenCredential, or AsyncTokenCredential for AsyncSessionsClient)"
        )
    if is_async_credential(credential) and not async_allowed:
        raise ConfigurationError(
            f"credential {kind} is asynchronous (its get_token is a coroutine function), which {client} cannot "
            "await; use AsyncSessionsClient with it, or give a sync credential (azure.identity, not azure.identity.aio)"
        )
    return credential


def _installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it (azure.identity takes ~200 ms)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package, or a module set to None in sys.modules
        return False


def require_azure_identity() -> None:
    """Said when a client is made, rather than as a bare ModuleNotFoundError at its first call."""
    if not _installed("azure.identity"):
        needs = "a token for an https endpoint (DefaultAzureCredential)"
        raise MissingExtra(missing_extra_message(needs, "azure-identity", "client"), name="azure.identity")


def default_credential() -> Any:
    """azure-identity's sync `DefaultAzureCredential`."""
    from azure.identity import DefaultAzureCredential  # loaded only when a real pool is called

    return DefaultAzureCredential()


def default_async_credential() -> Any:
    """`azure.identity.aio.DefaultAzureCredential` when its transport (aiohttp, the `async` extra) is installed,
    else the sync one, which the async client then runs off its event loop. Made in a worker thread: importing
    azure-identity takes ~200 ms."""
    if _installed("aiohttp"):
        from azure.identity.aio import DefaultAzureCredential

        return DefaultAzureCredential()
    return default_credential()


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


def _held(access: Any) -> Held:
    expires_on = float(access.expires_on)
    refresh_on = getattr(access, "refresh_on", None)
    due = float(refresh_on) if refresh_on else expires_on - REFRESH_MARGIN_S
    return Held(str(access.token), expires_on, min(due, expires_on - EXPIRY_MARGIN_S))


class TokenCache:
    """One token for `scope` from `credential` (None: the default credential, made at the first fetch and
    closed with the cache). See the module's docstring for when the credential is asked."""

    def __init__(self, credential: Any, scope: str = SCOPE):
        self._credential = credential
        self._owned = credential is None
        self._scope = scope
        self._held: Held | None = None
        self._next_try = 0.0
        self._lock = threading.Lock()
        self._pending: asyncio.Task[Held | None] | None = None
        self.fetches = 0
        """How many times the credential was asked for a token."""

    # -- sync --------------------------------------------------------------------------------------------------
    def get(self) -> str:
        """The token, fetched in the calling thread when none is usable; one fetch for all threads at once."""
        held, now = self._held, time.time()
        if held is not None and now < held.refresh_on:
            return held.value
        if held is not None and now < held.expires_on - EXPIRY_MARGIN_S:
            # Due for refresh but still valid: the first caller here fetches; the others go on with this one.
            if now >= self._next_try and self._lock.acquire(blocking=False):
                try:
                    self._refresh_ahead(self._fetch_sync)
                finally:
                    self._lock.release()
            return (self._held or held).value
        with self._lock:
            held = self._held
            if held is None or time.time() >= held.expires_on - EXPIRY_MARGIN_S:
                held = self._held = self._fetch_sync()
            return held.value

    def _refresh_ahead(self, fetch: Callable[[], Held]) -> Held | None:
        """A new token fetched ahead of expiry; None when that failed, the next try then waits a while."""
        try:
            held = self._held = fetch()
            return held
        except ConfigurationError:
            self._next_try = time.time() + REFRESH_RETRY_S
            return None

    def _fetch_sync(self) -> Held:
        if self._credential is None:
            self._credential = default_credential()
        self.fetches += 1
        try:
            with _quiet_azure_identity():
                method = getattr(self._credential, "get_token_info", None)
                access = method(self._scope) if method else self._credential.get_token(self._scope)
        except Exception as error:  # azure-identity raises several unrelated types
            raise ConfigurationError(no_credential_message(error, self._scope)) from None
        return _held(access)

    # -- async -------------------------------------------------------------------------------------------------
    async def aget(self) -> str:
        """The token, never fetched on the event loop; one fetch for all tasks at once."""
        held, now = self._held, time.time()
        if held is not None and now < held.refresh_on:
            return held.value
        import asyncio  # here, not at the top: the sync client never pays its import

        loop = asyncio.get_running_loop()
        while True:
            held, now, pending = self._held, time.time(), self._pending
            if pending is not None and (pending.done() or pending.get_loop() is not loop):
                pending = self._pending = None
            if held is not None and now < held.expires_on - EXPIRY_MARGIN_S:
                # Due for refresh but still valid: a task fetches the new token; this call goes on with the old one.
                if pending is None and now >= self._next_try:
                    self._pending = loop.create_task(self._fetch_async(ahead=True))
                return held.value
            if pending is None:
                pending = self._pending = loop.create_task(self._fetch_async(ahead=False))
            # Shielded: a caller cancelled while waiting does not cancel the fetch the others wait for.
            fetched = await asyncio.shield(pending)
            if fetched is not None:
                return fetched.value
            # It was a refresh ahead that failed while the token expired: the next round fetches in the foreground.

    async def _fetch_async(self, ahead: bool) -> Held | None:
        """The new token; None when a refresh ahead failed (the old token still serves until it expires)."""
        import asyncio

        if self._credential is None:
            self._credential = await asyncio.to_thread(default_async_credential)
        credential = self._credential
        if not is_async_credential(credential):
            if ahead:
                return await asyncio.to_thread(self._refresh_ahead, self._fetch_sync)
            held = self._held = await asyncio.to_thread(self._fetch_sync)
            return held
        self.fetches += 1
        try:
            with _quiet_azure_identity():
                method = getattr(credential, "get_token_info", None)
                access = await (method(self._scope) if method else credential.get_token(self._scope))
        except Exception as error:  # azure-identity raises several unrelated types
            if ahead:
                self._next_try = time.time() + REFRESH_RETRY_S
                return None
            raise ConfigurationError(no_credential_message(error, self._scope)) from None
        held = self._held = _held(access)
        return held

    # -- closing -----------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Closes the credential if this cache made it (a given one is the caller's to close)."""
        if self._owned and self._credential is not None:
            close = getattr(self._credential, "close", None)
            if callable(close) and not inspect.iscoroutinefunction(close):
                close()
            self._credential = None

    async def aclose(self) -> None:
        """As `close`, awaiting an async credential's `close()`; a refresh still running is cancelled."""
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            pending.cancel()
        if self._owned and self._credential is not None:
            close = getattr(self._credential, "close", None)
            if callable(close):
                done = close()
                if inspect.isawaitable(done):
                    await done
            self._credential = None

    def __repr__(self) -> str:
        expires = self._held.expires_on if self._held else 0.0
        return f"<{type(self).__name__} scope={self._scope} expires_on={expires:.0f}>"


class ProvidedTokens:
    """Tokens from a `TokenProvider`, asked before every request (it keeps its own cache)."""

    def __init__(self, provider: TokenProvider):
        self.provider = provider

    def get(self) -> str:
        return self.provider.token()

    async def aget(self) -> str:
        return self.provider.token()

    def close(self) -> None:
        """A provider is the caller's: nothing to close."""

    async def aclose(self) -> None:
        """A provider is the caller's: nothing to close."""


class EntraToken:
    """A `TokenProvider` over an azure-identity credential (default: DefaultAzureCredential) for the pool's scope
    (or another, such as Azure Resource Manager's for the MCP key), cached as `TokenCache` does."""

    def __init__(self, credential: Any = None, scope: str = SCOPE):
        if credential is None:
            require_azure_identity()
        else:
            checked_credential(credential, "a synchronous client", async_allowed=False)
        self.cache = TokenCache(credential, scope)

    def token(self) -> str:
        return self.cache.get()

    def close(self) -> None:
        self.cache.close()

    def __repr__(self) -> str:
        return f"<EntraToken {self.cache!r}>"


class LocalToken:
    """An unsigned JWT with the pool's audience (or `audience`), for loopback servers: the emulator checks
    aud and exp only. Minted again `REFRESH_MARGIN_S` before it expires."""

    def __init__(self, lifetime_s: float = 3600.0, object_id: str | None = None, audience: str = AUDIENCE):
        self._lifetime_s = lifetime_s
        self._object_id = object_id
        self._audience = audience
        self._value: str | None = None
        self._expires_on = 0.0

    def token(self) -> str:
        # Minting is pure and quick: two threads doing it at once each get a valid token, so no lock.
        if self._value is None or self._expires_on - time.time() <= REFRESH_MARGIN_S:
            expires = time.time() + self._lifetime_s
            claims: dict[str, Any] = {"aud": self._audience, "exp": int(expires), "iat": int(time.time())}
            if self._object_id:
                claims["oid"] = self._object_id
            self._value, self._expires_on = jwts.unsigned(claims), expires
        return self._value

    def __repr__(self) -> str:
        return f"<LocalToken expires_on={self._expires_on:.0f}>"
