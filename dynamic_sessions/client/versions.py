"""API versions the client speaks, by contract; importing this loads no HTTP or Azure library."""

from types import ModuleType

from dynamic_sessions.client import code_execute, executions
from dynamic_sessions.client.errors import ConfigurationError

DEFAULT_API_VERSION = "2024-02-02-preview"
"""The tutorial's version."""
RELEASE_API_VERSION = "2025-02-02-preview"
"""The first version with DELETE /session."""
SESSION_API_VERSIONS = ("2025-02-02-preview", "2025-10-02-preview")
"""The versions with GET /session and GET /listSessions."""
SHELL_API_VERSIONS = ("2025-02-02-preview", "2025-10-02-preview")
"""The versions whose `executions` run a Shell pool's commands (`run_command`)."""
CONTRACTS: dict[str, ModuleType] = {v: m for m in (code_execute, executions) for v in m.VERSIONS}
SUPPORTED_API_VERSIONS = tuple(CONTRACTS)


def contract_for(api_version: str) -> ModuleType:
    try:
        return CONTRACTS[api_version]
    except KeyError:
        raise ConfigurationError(
            f"api version {api_version!r} is not supported; use one of: {', '.join(SUPPORTED_API_VERSIONS)}"
        ) from None
