"""Stand-ins for what the tests cannot reach (Microsoft Entra ID): token providers and credentials with
azure-core's protocols (`TokenCredential.get_token`, `SupportsTokenInfo.get_token_info`, and their async
forms), each counting its calls and closings. One module, imported by every test that needs one."""

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any


class FixedToken:
    """A `TokenProvider` that always hands out `value`."""

    def __init__(self, value: str = "test-token-abc"):
        self.value = value

    def token(self) -> str:
        return self.value


@dataclass
class AccessToken:
    """azure-core's `AccessToken`: the token and its expiry (Unix seconds)."""

    token: str
    expires_on: int


@dataclass
class AccessTokenInfo:
    """azure-core's `AccessTokenInfo`: with the instant the credential wants the token refreshed."""

    token: str
    expires_on: int
    refresh_on: int | None = None
    token_type: str = "Bearer"


class StandInCredential:
    """A sync credential (`get_token`): hands out numbered tokens of `lifetime_s`, after `delay_s` of blocking
    work (as the Azure CLI or IMDS take); records the scopes asked for, the threads it ran in, and closings."""

    def __init__(self, lifetime_s: float = 3600, delay_s: float = 0.0):
        self.lifetime_s = lifetime_s
        self.delay_s = delay_s
        self.scopes: list[tuple[str, ...]] = []
        self.threads: list[int] = []
        self.closed = 0
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        return len(self.scopes)

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            self.scopes.append(scopes)
            self.threads.append(threading.get_ident())
            return AccessToken(f"entra-token-{len(self.scopes)}", int(time.time() + self.lifetime_s))

    def close(self) -> None:
        self.closed += 1


class StandInTokenInfoCredential(StandInCredential):
    """A sync credential that also has `get_token_info`, naming when to refresh (`refresh_after_s` from now)."""

    def __init__(self, lifetime_s: float = 3600, refresh_after_s: float | None = None):
        super().__init__(lifetime_s)
        self.refresh_after_s = refresh_after_s

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        access = self.get_token(*scopes)
        refresh = None if self.refresh_after_s is None else int(time.time() + self.refresh_after_s)
        return AccessTokenInfo(access.token, access.expires_on, refresh)


class AsyncStandInCredential:
    """An async credential (`async def get_token`, as `azure.identity.aio`): numbered tokens after `delay_s`
    awaited; `release`, when set, is an event the fetch waits for, so a test decides when it ends."""

    def __init__(self, lifetime_s: float = 3600, delay_s: float = 0.0):
        self.lifetime_s = lifetime_s
        self.delay_s = delay_s
        self.scopes: list[tuple[str, ...]] = []
        self.closed = 0
        self.release: asyncio.Event | None = None

    @property
    def calls(self) -> int:
        return len(self.scopes)

    async def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        number = len(self.scopes)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.release is not None:
            await self.release.wait()
        return AccessToken(f"entra-token-{number}", int(time.time() + self.lifetime_s))

    async def close(self) -> None:
        self.closed += 1


class RefusingCredential:
    """Raises as DefaultAzureCredential does when nothing is signed in, after logging its report as it does."""

    REPORT = (
        "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
        "Attempted credentials:\n"
        "\tEnvironmentCredential: EnvironmentCredential authentication unavailable.\n"
        "Visit https://aka.ms/azsdk/python/identity/environmentcredential/troubleshoot to troubleshoot this issue.\n"
        "\tManagedIdentityCredential: ManagedIdentityCredential authentication unavailable.\n"
        "\tAzureCliCredential: Azure CLI not found on path\n"
        "To mitigate this issue, please refer to the troubleshooting guidelines."
    )

    def __init__(self) -> None:
        self.calls = 0

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        import logging

        self.calls += 1
        logging.getLogger("azure.identity._credentials.chained").warning(self.REPORT)
        raise RuntimeError(self.REPORT)
