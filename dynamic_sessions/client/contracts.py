"""The two data-plane contracts as typed values: the routes, bodies and answers of each, chosen by API version.

Which version speaks which contract is `dynamic_sessions.api_versions`' to say; this module only holds what the
client does for each.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dynamic_sessions import api_versions
from dynamic_sessions.client import code_execute, executions
from dynamic_sessions.client.errors import ConfigurationError
from dynamic_sessions.client.results import ExecutionResult, FileInfo


@dataclass(frozen=True)
class Contract:
    """What the client sends and reads for code and files under one contract."""

    name: str
    """`api_versions.CODE_EXECUTE` or `api_versions.EXECUTIONS`."""
    execute_path: str
    upload_path: str
    list_path: str
    content_path: Callable[[str], str]
    """The route of a file's content, by file name."""
    file_path: Callable[[str], str] | None
    """The route that deletes a file, by file name; None when the contract has none."""
    execute_body: Callable[[str, int], dict[str, Any]]
    """(code, timeout in seconds) -> the request body."""
    parse_execution: Callable[[Any], ExecutionResult]
    parse_list: Callable[[Any], list[FileInfo]]
    parse_upload: Callable[[Any], FileInfo]
    polls: bool
    """Whether an execution may answer NotStarted or Running, to be polled at `executions/{id}`."""


CODE_EXECUTE_CONTRACT = Contract(
    name=api_versions.CODE_EXECUTE,
    execute_path="code/execute",
    upload_path="files/upload",
    list_path="files",
    content_path=code_execute.content_path,
    file_path=None,
    execute_body=code_execute.execute_body,
    parse_execution=code_execute.parse_execution,
    parse_list=code_execute.parse_list,
    parse_upload=code_execute.parse_upload,
    polls=False,
)
EXECUTIONS_CONTRACT = Contract(
    name=api_versions.EXECUTIONS,
    execute_path="executions",
    upload_path="files",
    list_path="files",
    content_path=executions.content_path,
    file_path=executions.file_path,
    execute_body=executions.execute_body,
    parse_execution=executions.parse_execution,
    parse_list=executions.parse_list,
    parse_upload=executions.parse_upload,
    polls=True,
)
CONTRACTS = {contract.name: contract for contract in (CODE_EXECUTE_CONTRACT, EXECUTIONS_CONTRACT)}


def version_entry(api_version: str) -> api_versions.DataPlaneVersion:
    """The entry of `api_version`, or a ConfigurationError naming it and the versions allowed."""
    try:
        return api_versions.DATA_PLANE_BY_VERSION[api_version]
    except KeyError:
        raise ConfigurationError(
            f"api version {api_version!r} is not supported; use one of: "
            f"{', '.join(api_versions.SUPPORTED_API_VERSIONS)}"
        ) from None


def contract_for(api_version: str) -> Contract:
    """The contract `api_version` speaks, or a ConfigurationError naming the versions allowed."""
    return CONTRACTS[version_entry(api_version).contract]
