"""The app page's table of results across contracts, held to what the client returns from a real pool, and the
client's documented options to its signature."""

import inspect
import re

import pytest

from dynamic_sessions.api_versions import SUPPORTED_API_VERSIONS
from dynamic_sessions.client import SessionsClient
from dynamic_sessions.client.client import SessionsClient as _Client
from dynamic_sessions.client.flows import Flows
from tests.emulator_process import ROOT


def _contract_rows() -> list[tuple[str, str, str]]:
    """(api version, status of a run that worked, status of one that failed), one per version the table lists
    for code (Shell pools' commands have a row of their own: tests/e2e/test_shell_client.py)."""
    section = (ROOT / "docs" / "app.md").read_text().split("## Results across contracts", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if len(cells) == 5 and re.match(r"\d{4}-", cells[0]) and "Shell" not in cells[1]:
            worked, failed = (re.match(r"`(\w+)`", cell)[1] for cell in cells[2:4])  # type: ignore[index]
            rows += [(version.strip(), worked, failed) for version in cells[0].split(",")]
    return rows


def test_the_table_covers_every_api_version_the_client_speaks():
    assert sorted(version for version, _, _ in _contract_rows()) == sorted(SUPPORTED_API_VERSIONS)


@pytest.mark.parametrize(("api_version", "worked", "failed"), _contract_rows())
def test_succeeded_means_the_same_whatever_word_the_contract_uses(emulator, api_version, worked, failed):
    with SessionsClient(emulator.url, api_version=api_version) as pool:
        good = pool.execute("console.log('hi'); 6 * 7", f"contract-{api_version}")
        bad = pool.execute("throw new Error('no')", f"contract-{api_version}")
    assert (good.succeeded, good.status, good.stdout, good.execution_result) == (True, worked, "hi\n", 42)
    assert (bad.succeeded, bad.status) == (False, failed)
    assert "no" in bad.stderr


def test_the_documented_keyword_options_are_exactly_the_clients():
    """The API reference lists the options `**options` passes on; a new or renamed one must be documented."""
    doc = inspect.getdoc(SessionsClient) or ""
    section = doc.split("Other Parameters:", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"^    (\w+) \(", section, re.MULTILINE))
    options = [*inspect.signature(Flows.__init__).parameters.values()]
    options += [o for o in inspect.signature(_Client.__init__).parameters.values() if o.name != "http"]
    assert documented == {option.name for option in options if option.kind is inspect.Parameter.KEYWORD_ONLY}


def test_the_emulator_serves_the_versions_of_the_one_list():
    """In this layer: importing the emulator's modules starts a process (its platform probe)."""
    from dynamic_sessions import api_versions
    from dynamic_sessions.emulator.api import contract, shell

    assert contract.ALL_VERSIONS == api_versions.SUPPORTED_API_VERSIONS
    assert contract.LEGACY_VERSIONS == api_versions.CODE_EXECUTE_VERSIONS
    assert contract.SESSION_VERSIONS == api_versions.SESSION_API_VERSIONS
    assert shell.SHELL_VERSIONS == api_versions.SHELL_API_VERSIONS
