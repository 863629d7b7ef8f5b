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
        from dynamic_sessions.extras import extra_needed

        with extra_needed(f"dynamic_sessions.client.{name}", "client"):
            from dynamic_sessions.client import client
        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
