"""The clients with azure-identity's own credential classes (no Microsoft Entra ID here: credentials that fail
without the network): an async one is awaited by the async client and refused by the sync ones when made; a
failure is one-line `ConfigurationError`, never a bare AttributeError or an un-awaited coroutine."""

import asyncio
import warnings

import httpx
import pytest
from azure.identity import EnvironmentCredential
from azure.identity.aio import EnvironmentCredential as AsyncEnvironmentCredential

from dynamic_sessions.client.arm import ArmReader
from dynamic_sessions.client.client import AsyncSessionsClient, SessionsClient
from dynamic_sessions.client.errors import ConfigurationError
from dynamic_sessions.client.tokens import is_async_credential
from tests.mock_pool import URL, MockPool

ENVIRONMENT = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH")


@pytest.fixture(autouse=True)
def _no_service_principal(monkeypatch):
    for name in (*ENVIRONMENT, "AZURE_USERNAME", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)


def test_azure_identitys_aio_credentials_are_async_and_its_sync_ones_are_not():
    assert is_async_credential(AsyncEnvironmentCredential())
    assert not is_async_credential(EnvironmentCredential())


def test_the_async_client_awaits_an_aio_credential_and_its_failure_is_one_line():
    credential = AsyncEnvironmentCredential()
    pool = MockPool()

    async def go() -> None:
        async with AsyncSessionsClient(
            URL, credential=credential, http=httpx.AsyncClient(transport=pool.transport())
        ) as c:
            await c.execute("1", "user-42")

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # "coroutine ... was never awaited" would fail here
        with pytest.raises(ConfigurationError) as raised:
            asyncio.run(go())
    message = str(raised.value)
    assert "no Azure credential could get a token" in message and "EnvironmentCredential" in message
    assert "\n" not in message and pool.requests == []
    asyncio.run(credential.close())


def test_the_async_client_runs_a_sync_credential_and_its_failure_is_one_line():
    pool = MockPool()

    async def go() -> None:
        async with AsyncSessionsClient(
            URL, credential=EnvironmentCredential(), http=httpx.AsyncClient(transport=pool.transport())
        ) as c:
            await c.execute("1", "user-42")

    with pytest.raises(ConfigurationError, match="no Azure credential could get a token"):
        asyncio.run(go())


@pytest.mark.parametrize("make", [lambda c: SessionsClient(URL, credential=c), lambda c: ArmReader(credential=c)])
def test_the_sync_clients_refuse_an_aio_credential_when_made(make):
    with pytest.raises(ConfigurationError) as raised:
        make(AsyncEnvironmentCredential())
    assert "azure.identity.aio" in str(raised.value) and "AsyncSessionsClient" in str(raised.value)
