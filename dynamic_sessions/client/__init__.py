"""Client for a dynamic-sessions pool's data plane: `SessionsClient`, `AsyncSessionsClient` and their errors;
`dynamic_sessions.client.arm.ArmReader` reads the pool and its role assignments from Azure Resource Manager.

Importing this package loads neither httpx, tenacity nor azure-identity; the names below load them on first use.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dynamic_sessions.client.client import AsyncSessionsClient, RetryPolicy, SessionsClient

__all__ = ["AsyncSessionsClient", "RetryPolicy", "SessionsClient"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        try:
            from dynamic_sessions.client import client
        except ModuleNotFoundError as missing:
            from dynamic_sessions.client.errors import MissingExtra
            from dynamic_sessions.extras import missing_extra_message

            needs = f"dynamic_sessions.client.{name}"
            raise MissingExtra(missing_extra_message(needs, str(missing.name), "client"), name=missing.name) from None
        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
