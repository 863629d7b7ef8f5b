"""Tokens: one fetch for every caller that finds none (threads and tasks), never on the event loop, refreshed
ahead of expiry while the valid token still serves, credentials of the wrong kind refused, and only what a
client made closed by it."""

import asyncio
import logging
import threading
import time

import pytest

from dynamic_sessions.client import tokens
from dynamic_sessions.client.errors import ConfigurationError
from dynamic_sessions.client.tokens import (
    AUDIENCE,
    REFRESH_MARGIN_S,
    SCOPE,
    EntraToken,
    LocalToken,
    TokenCache,
    checked_credential,
    is_async_credential,
)
from tests.fakes import (
    AsyncStandInCredential,
    RefusingCredential,
    StandInCredential,
    StandInTokenInfoCredential,
)

# -- the kind of credential --------------------------------------------------------------------------------------


def test_an_async_get_token_makes_an_async_credential():
    assert is_async_credential(AsyncStandInCredential())
    assert not is_async_credential(StandInCredential())


def test_an_async_credential_is_refused_by_a_sync_client_naming_its_type_and_the_client_to_use():
    with pytest.raises(ConfigurationError) as raised:
        checked_credential(AsyncStandInCredential(), "SessionsClient", async_allowed=False)
    message = str(raised.value)
    assert "tests.fakes.AsyncStandInCredential" in message and "SessionsClient" in message
    assert "use AsyncSessionsClient" in message


def test_a_value_without_get_token_is_refused_naming_its_type():
    with pytest.raises(ConfigurationError, match=r"credential builtins.str has no get_token method"):
        checked_credential("not-a-credential", "SessionsClient", async_allowed=True)


def test_an_async_credential_is_taken_where_async_is_allowed():
    credential = AsyncStandInCredential()
    assert checked_credential(credential, "AsyncSessionsClient", async_allowed=True) is credential


# -- sync ------------------------------------------------------------------------------------------------------


def test_a_token_is_cached_and_asked_for_the_pools_scope():
    credential = StandInCredential(lifetime_s=3600)
    cache = TokenCache(credential)
    assert [cache.get(), cache.get()] == ["entra-token-1", "entra-token-1"]
    assert credential.scopes == [(SCOPE,)] and cache.fetches == 1


def test_an_expired_token_is_fetched_again_before_use():
    credential = StandInCredential(lifetime_s=10)  # inside the expiry margin at once
    cache = TokenCache(credential)
    assert [cache.get(), cache.get()] == ["entra-token-1", "entra-token-2"]


def test_threads_that_find_no_token_share_one_fetch():
    credential = StandInCredential(delay_s=0.2)
    cache = TokenCache(credential)
    seen: list[str] = []
    start = threading.Barrier(20)

    def call() -> None:
        start.wait()
        seen.append(cache.get())

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert credential.calls == 1 and seen == ["entra-token-1"] * 20


def test_the_first_sync_call_in_the_refresh_window_refreshes_and_the_others_use_the_valid_token():
    credential = StandInCredential(lifetime_s=REFRESH_MARGIN_S + 60)
    cache = TokenCache(credential)
    assert cache.get() == "entra-token-1"
    held = cache._held
    assert held is not None
    cache._held = held._replace(refresh_on=time.time() - 1)  # the refresh window is reached
    # While one thread refreshes (it holds the lock), another goes on with the valid token.
    with cache._lock:
        assert cache.get() == "entra-token-1" and credential.calls == 1
    assert cache.get() == "entra-token-2" and credential.calls == 2


def test_a_failed_refresh_ahead_keeps_the_valid_token_and_waits_before_trying_again():
    credential = StandInCredential()
    cache = TokenCache(credential)
    cache.get()
    cache._held = cache._held._replace(refresh_on=time.time() - 1)  # type: ignore[union-attr]
    cache._credential = RefusingCredential()
    assert cache.get() == "entra-token-1"
    assert cache.get() == "entra-token-1"
    assert cache._credential.calls == 1 and cache._next_try > time.time() + 20


def test_the_credentials_refresh_on_is_when_the_refresh_starts():
    credential = StandInTokenInfoCredential(lifetime_s=3600, refresh_after_s=-1)
    cache = TokenCache(credential)
    assert cache.get() == "entra-token-1"
    assert cache.get() == "entra-token-2"  # refresh_on passed, though expiry is an hour away
    later = StandInTokenInfoCredential(lifetime_s=3600, refresh_after_s=600)
    cache = TokenCache(later)
    assert [cache.get(), cache.get()] == ["entra-token-1", "entra-token-1"]


def test_no_credential_is_one_line_naming_the_credentials_tried_and_nothing_is_logged(caplog):
    cache = TokenCache(RefusingCredential())
    with caplog.at_level("DEBUG"), pytest.raises(ConfigurationError) as raised:
        cache.get()
    message = str(raised.value)
    assert "\n" not in message and "az login" in message
    assert "tried EnvironmentCredential, ManagedIdentityCredential, AzureCliCredential" in message
    assert not [r for r in caplog.records if r.name.startswith("azure.identity")]
    assert logging.getLogger("azure.identity").level == logging.NOTSET


def test_the_default_credential_is_made_at_the_first_fetch_and_closed_with_the_cache(monkeypatch):
    made: list[StandInCredential] = []

    def make() -> StandInCredential:
        made.append(StandInCredential())
        return made[-1]

    monkeypatch.setattr(tokens, "default_credential", make)
    cache = TokenCache(None)
    assert made == []
    cache.get()
    cache.close()
    assert len(made) == 1 and made[0].closed == 1


def test_a_given_credential_is_not_closed():
    credential = StandInCredential()
    cache = TokenCache(credential)
    cache.get()
    cache.close()
    asyncio.run(cache.aclose())
    assert credential.closed == 0


def test_entra_token_is_a_token_provider_over_the_cache():
    credential = StandInCredential()
    provider = EntraToken(credential, scope="https://management.azure.com/.default")
    assert provider.token() == provider.token() == "entra-token-1"
    assert credential.scopes == [("https://management.azure.com/.default",)]
    with pytest.raises(ConfigurationError, match=r"asynchronous"):
        EntraToken(AsyncStandInCredential())


def test_local_token_has_the_pools_audience_and_a_future_expiry_and_is_reused():
    import jwt

    provider = LocalToken(object_id="me")
    token = provider.token()
    claims = jwt.decode(token, options={"verify_signature": False}, audience=AUDIENCE)
    assert claims["exp"] > time.time() + 3000 and claims["oid"] == "me"
    assert provider.token() == token


# -- async -----------------------------------------------------------------------------------------------------


def test_an_async_credential_is_awaited_once_for_many_tasks():
    credential = AsyncStandInCredential(delay_s=0.05)
    cache = TokenCache(credential)

    async def go() -> list[str]:
        return await asyncio.gather(*(cache.aget() for _ in range(50)))

    assert asyncio.run(go()) == ["entra-token-1"] * 50
    assert credential.calls == 1


def test_a_sync_credential_runs_in_a_worker_thread_once_for_many_tasks():
    credential = StandInCredential(delay_s=0.05)
    cache = TokenCache(credential)

    async def go() -> list[str]:
        return await asyncio.gather(*(cache.aget() for _ in range(50)))

    loop_thread = threading.get_ident()
    assert asyncio.run(go()) == ["entra-token-1"] * 50
    assert credential.calls == 1 and credential.threads[0] != loop_thread


def test_the_event_loop_keeps_running_while_a_sync_credential_blocks():
    ticked = threading.Event()

    class Blocking(StandInCredential):
        def get_token(self, *scopes: str, **options: object):  # type: ignore[override]
            # Blocks until the loop has ticked five times: run on the loop's own thread, it would wait the whole
            # bound, the loop never ticking, and the assertion below would fail.
            self.waited = ticked.wait(timeout=30)
            return super().get_token(*scopes, **options)

    credential = Blocking()
    cache = TokenCache(credential)

    async def go() -> int:
        ticks = 0
        fetch = asyncio.ensure_future(cache.aget())
        while not fetch.done():
            await asyncio.sleep(0.01)
            ticks += 1
            if ticks == 5:
                ticked.set()
        await fetch
        return ticks

    assert asyncio.run(go()) >= 5 and credential.waited  # the loop ran its ticker while the credential blocked


def test_a_waiting_task_cancelled_does_not_cancel_the_fetch_the_others_wait_for():
    credential = AsyncStandInCredential()
    cache = TokenCache(credential)

    async def go() -> str:
        credential.release = asyncio.Event()
        first = asyncio.ensure_future(cache.aget())
        second = asyncio.ensure_future(cache.aget())
        await asyncio.sleep(0)
        first.cancel()
        credential.release.set()
        return await second

    assert asyncio.run(go()) == "entra-token-1" and credential.calls == 1


def test_in_the_refresh_window_a_task_refreshes_while_the_calls_go_on_with_the_valid_token():
    credential = AsyncStandInCredential()
    cache = TokenCache(credential)

    async def go() -> tuple[str, str, str]:
        first = await cache.aget()
        cache._held = cache._held._replace(refresh_on=time.time() - 1)  # type: ignore[union-attr]
        credential.release = asyncio.Event()
        during = await cache.aget()  # answered at once with the valid token; the refresh waits on `release`
        await asyncio.sleep(0)  # the refresh task starts
        assert credential.calls == 2 and cache._pending is not None and not cache._pending.done()
        credential.release.set()
        await cache._pending
        return first, during, await cache.aget()

    assert asyncio.run(go()) == ("entra-token-1", "entra-token-1", "entra-token-2")


def test_a_failed_async_refresh_ahead_keeps_the_valid_token():
    class Failing(AsyncStandInCredential):
        async def get_token(self, *scopes: str, **_: object):  # type: ignore[override]
            if self.scopes:
                self.scopes.append(scopes)
                raise RuntimeError("Entra is down")
            return await super().get_token(*scopes)

    credential = Failing()
    cache = TokenCache(credential)

    async def go() -> str:
        await cache.aget()
        cache._held = cache._held._replace(refresh_on=time.time() - 1)  # type: ignore[union-attr]
        await cache.aget()
        await cache._pending  # type: ignore[misc]
        return await cache.aget()

    assert asyncio.run(go()) == "entra-token-1" and credential.calls == 2
    assert cache._next_try > time.time() + 20


def test_an_async_fetch_that_fails_is_a_configuration_error_for_every_waiter():
    class Failing(AsyncStandInCredential):
        async def get_token(self, *scopes: str, **_: object):  # type: ignore[override]
            self.scopes.append(scopes)
            await asyncio.sleep(0.01)
            raise RuntimeError("AzureCliCredential: not signed in")

    cache = TokenCache(Failing())

    async def go() -> list[object]:
        return await asyncio.gather(*(cache.aget() for _ in range(3)), return_exceptions=True)

    outcomes = asyncio.run(go())
    assert all(isinstance(o, ConfigurationError) and "no Azure credential" in str(o) for o in outcomes)


@pytest.mark.parametrize("aiohttp", [True, False])
def test_the_async_default_is_the_aio_credential_when_aiohttp_is_installed(monkeypatch, aiohttp):
    import sys
    import types

    # Stand-ins for azure-identity's modules: importing the real ones runs `uname`, which this layer refuses.
    monkeypatch.setitem(sys.modules, "azure.identity.aio", types.SimpleNamespace(DefaultAzureCredential=lambda: "aio"))
    monkeypatch.setitem(sys.modules, "azure.identity", types.SimpleNamespace(DefaultAzureCredential=lambda: "sync"))
    real = tokens._installed
    monkeypatch.setattr(tokens, "_installed", lambda module: aiohttp if module == "aiohttp" else real(module))
    assert tokens.default_async_credential() == ("aio" if aiohttp else "sync")


def test_the_async_default_is_made_off_the_loop_and_closed_with_the_cache(monkeypatch):
    made: list[tuple[AsyncStandInCredential, int]] = []

    def make() -> AsyncStandInCredential:
        made.append((AsyncStandInCredential(), threading.get_ident()))
        return made[-1][0]

    monkeypatch.setattr(tokens, "default_async_credential", make)
    cache = TokenCache(None)

    async def go() -> int:
        await cache.aget()
        await cache.aclose()
        return threading.get_ident()

    loop_thread = asyncio.run(go())
    credential, thread = made[0]
    assert thread != loop_thread and credential.calls == 1 and credential.closed == 1


def test_aclose_closes_a_sync_default_credential_too(monkeypatch):
    made: list[StandInCredential] = []

    def make() -> StandInCredential:
        made.append(StandInCredential())
        return made[-1]

    monkeypatch.setattr(tokens, "default_async_credential", make)
    cache = TokenCache(None)

    async def go() -> None:
        await cache.aget()
        await cache.aclose()

    asyncio.run(go())
    assert made[0].closed == 1


def test_a_call_that_waited_for_a_failed_refresh_of_an_expired_token_fetches_one_itself():
    class SecondFails(AsyncStandInCredential):
        async def get_token(self, *scopes: str, **_: object):  # type: ignore[override]
            if len(self.scopes) == 1:  # the refresh ahead: waits for `release`, then fails
                self.scopes.append(scopes)
                assert self.release is not None
                await self.release.wait()
                raise RuntimeError("Entra is down")
            return await super().get_token(*scopes)

    credential = SecondFails()
    cache = TokenCache(credential)

    async def go() -> tuple[str, str]:
        first = await cache.aget()
        credential.release = asyncio.Event()
        cache._held = cache._held._replace(refresh_on=time.time() - 1)  # type: ignore[union-attr]
        await cache.aget()  # starts the refresh ahead
        await asyncio.sleep(0)
        cache._held = cache._held._replace(expires_on=time.time())  # type: ignore[union-attr]
        waiting = asyncio.ensure_future(cache.aget())  # must wait: the token expired
        await asyncio.sleep(0)
        credential.release.set()
        return first, await waiting

    assert asyncio.run(go()) == ("entra-token-1", "entra-token-3") and credential.calls == 3
