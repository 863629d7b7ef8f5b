"""The data-plane API versions as the client names them: `dynamic_sessions.api_versions` holds the list; importing
this loads no HTTP or Azure library."""

from dynamic_sessions.api_versions import (
    DEFAULT_API_VERSION,
    RELEASE_API_VERSION,
    SESSION_API_VERSIONS,
    SHELL_API_VERSIONS,
    SUPPORTED_API_VERSIONS,
)
from dynamic_sessions.client.contracts import contract_for

__all__ = [
    "DEFAULT_API_VERSION",
    "RELEASE_API_VERSION",
    "SESSION_API_VERSIONS",
    "SHELL_API_VERSIONS",
    "SUPPORTED_API_VERSIONS",
    "contract_for",
]
