"""Every API version the project speaks, and what each one supports: ONE list, imported by the client, the smoke,
the emulator and the component. A new version is one entry here plus its tests.

Importing this module loads nothing but the standard library, so the emulator, the Pulumi program and
`python -m smoke --help` can read it at no cost.
"""

from dataclasses import dataclass

CODE_EXECUTE = "code/execute"
"""The tutorial's contract: `POST code/execute`, `{"properties": {...}}` in and out."""
EXECUTIONS = "executions"
"""The current contract: `POST executions`, a flat body in, `{id, identifier, status, result}` out."""


@dataclass(frozen=True)
class DataPlaneVersion:
    """One data-plane API version of a pool's management endpoint, and what it offers."""

    version: str
    contract: str
    """`CODE_EXECUTE` or `EXECUTIONS`: the routes and body shapes of executions and files."""
    sessions: bool = False
    """GET /session, GET /listSessions and DELETE /session."""
    commands: bool = False
    """`executions` that run a Shell pool's commands (`run_command`)."""
    accepts: bool = False
    """A synchronous `POST executions` is answered 202 Accepted rather than 200."""
    output_limit_in_result: bool = False
    """An execution's `result` names the `outputStreamsMaxLength` it was cut at."""


DATA_PLANE = (
    DataPlaneVersion("2024-02-02-preview", CODE_EXECUTE),
    DataPlaneVersion("2024-08-02-preview", CODE_EXECUTE),
    DataPlaneVersion("2024-10-02-preview", EXECUTIONS, accepts=True),
    DataPlaneVersion("2025-02-02-preview", EXECUTIONS, sessions=True, commands=True),
    DataPlaneVersion("2025-10-02-preview", EXECUTIONS, sessions=True, commands=True, output_limit_in_result=True),
)
"""Oldest first."""
DATA_PLANE_BY_VERSION = {entry.version: entry for entry in DATA_PLANE}

DEFAULT_API_VERSION = "2024-02-02-preview"
"""The data-plane version a client speaks when given none: the tutorial's."""
SUPPORTED_API_VERSIONS = tuple(entry.version for entry in DATA_PLANE)
CODE_EXECUTE_VERSIONS = tuple(entry.version for entry in DATA_PLANE if entry.contract == CODE_EXECUTE)
EXECUTIONS_VERSIONS = tuple(entry.version for entry in DATA_PLANE if entry.contract == EXECUTIONS)
SESSION_API_VERSIONS = tuple(entry.version for entry in DATA_PLANE if entry.sessions)
"""The versions with GET /session, GET /listSessions and DELETE /session."""
SHELL_API_VERSIONS = tuple(entry.version for entry in DATA_PLANE if entry.commands)
"""The versions whose `executions` run a Shell pool's commands."""
RELEASE_API_VERSION = SESSION_API_VERSIONS[0]
"""What DELETE /session is sent at by a client whose own version predates it."""
NEWEST_API_VERSION = DATA_PLANE[-1].version

POOL_API_VERSION = "2026-03-02-preview"
"""`Microsoft.App/sessionPools` in Azure Resource Manager: the version the component declares the pool at, and
the one the ARM reader, the smoke's verification and the MCP key fetch read it at when the stack names none."""
ROLE_ASSIGNMENTS_API_VERSION = "2022-04-01"
"""`Microsoft.Authorization/roleAssignments`, read to verify the stack's grants."""
