"""Which CA bundles the process loads: a client that speaks plain http to loopback must load none."""

import ssl
from typing import Any

import pytest


def record_ca_bundle_loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """From now on (until the test ends), the arguments of every `SSLContext.load_verify_locations` call, in order;
    each call still loads what it names."""
    loaded: list[object] = []
    original = ssl.SSLContext.load_verify_locations

    def record(context: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loaded.append(args or kwargs)
        original(context, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", record)
    return loaded
