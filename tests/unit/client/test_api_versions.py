"""The one list of API versions: what each version offers, and every part that reads its versions from it."""

import pytest

from dynamic_sessions import api_versions
from dynamic_sessions.client import versions
from dynamic_sessions.client.contracts import CODE_EXECUTE_CONTRACT, EXECUTIONS_CONTRACT, contract_for
from dynamic_sessions.client.errors import ConfigurationError


def test_versions_are_listed_oldest_first_once_each():
    versions = [entry.version for entry in api_versions.DATA_PLANE]
    assert versions == sorted(set(versions)) and versions[0] == api_versions.DEFAULT_API_VERSION


@pytest.mark.parametrize(
    ("version", "contract", "sessions", "commands"),
    [
        ("2024-02-02-preview", CODE_EXECUTE_CONTRACT, False, False),
        ("2024-08-02-preview", CODE_EXECUTE_CONTRACT, False, False),
        ("2024-10-02-preview", EXECUTIONS_CONTRACT, False, False),
        ("2025-02-02-preview", EXECUTIONS_CONTRACT, True, True),
        ("2025-10-02-preview", EXECUTIONS_CONTRACT, True, True),
    ],
)
def test_each_version_speaks_its_contract_and_offers_its_operations(version, contract, sessions, commands):
    entry = api_versions.DATA_PLANE_BY_VERSION[version]
    assert contract_for(version) is contract
    assert (entry.sessions, entry.commands) == (sessions, commands)
    assert (contract.file_path is not None) == (entry.contract == api_versions.EXECUTIONS)  # DELETE files/{name}


def test_the_contracts_are_typed_values_with_their_routes():
    assert (CODE_EXECUTE_CONTRACT.execute_path, EXECUTIONS_CONTRACT.execute_path) == ("code/execute", "executions")
    assert not CODE_EXECUTE_CONTRACT.polls and EXECUTIONS_CONTRACT.polls
    with pytest.raises(AttributeError):
        EXECUTIONS_CONTRACT.execute_path = "other"  # type: ignore[misc]


def test_an_unknown_version_is_refused_naming_the_supported_ones():
    with pytest.raises(ConfigurationError, match=r"'2030-01-01' is not supported; use one of: 2024-02-02-preview"):
        contract_for("2030-01-01")


def test_the_client_the_smoke_and_the_arm_reader_read_the_same_list():
    from dynamic_sessions.client import arm, versions
    from dynamic_sessions.smoke import check

    assert versions.SUPPORTED_API_VERSIONS is api_versions.SUPPORTED_API_VERSIONS
    assert api_versions.SHELL_API_VERSIONS[0] == check.SHELL_API_VERSION
    assert arm.POOL_API_VERSION == api_versions.POOL_API_VERSION


def test_the_component_declares_the_pool_at_the_listed_arm_version():
    from components import pool_body

    assert pool_body.API_VERSION == api_versions.POOL_API_VERSION


def test_only_2024_10_02_accepts_with_202_and_only_2025_10_02_names_its_output_limit():
    assert [e.version for e in api_versions.DATA_PLANE if e.accepts] == ["2024-10-02-preview"]
    assert [e.version for e in api_versions.DATA_PLANE if e.output_limit_in_result] == ["2025-10-02-preview"]


def test_the_clients_versions_module_of_earlier_releases_still_names_the_one_list():
    assert versions.SUPPORTED_API_VERSIONS is api_versions.SUPPORTED_API_VERSIONS
    assert versions.DEFAULT_API_VERSION == api_versions.DEFAULT_API_VERSION
    assert versions.SHELL_API_VERSIONS is api_versions.SHELL_API_VERSIONS
    assert versions.RELEASE_API_VERSION == api_versions.RELEASE_API_VERSION
    assert versions.contract_for is contract_for
