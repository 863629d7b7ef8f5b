"""API versions the client speaks, by contract; importing this loads no HTTP or Azure library."""

from types import ModuleType

from dynamic_sessions.client import code_execute, executions

DEFAULT_API_VERSION = "2024-02-02-preview"
"""The tutorial's version."""
RELEASE_API_VERSION = "2025-02-02-preview"
"""The first version with DELETE /session."""
SESSION_API_VERSIONS = ("2025-02-02-preview", "2025-10-02-preview")
CONTRACTS: dict[str, ModuleType] = {v: m for m in (code_execute, executions) for v in m.VERSIONS}
SUPPORTED_API_VERSIONS = tuple(CONTRACTS)
