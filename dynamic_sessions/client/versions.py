"""The data-plane API versions under the client's name for them, kept so that imports written against 0.2.0 and
earlier keep working: `dynamic_sessions.api_versions` holds the list, and the project's own code imports it (and
`contract_for` from `dynamic_sessions.client.contracts`). Importing this loads no HTTP or Azure library."""

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
