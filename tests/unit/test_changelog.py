"""CHANGELOG.md: Keep a Changelog's shape, pyproject's version in it, upgrade notes in every release, and every
`@<version>` the docs show a version it has."""

import re

import pytest

from ci.release import VERSION_HEADING, changelog_versions, project_version, section
from tests.pulumi_harness import ROOT

CHANGELOG = (ROOT / "CHANGELOG.md").read_text()
TEXT = {".md", ".yaml", ".yml", ".py", ".ts", ".txt", ".json"}
PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").rglob("*.md")),
    *(p for p in sorted((ROOT / "examples").rglob("*")) if p.suffix in TEXT),
]
PINNED = re.compile(r"@v?(\d+\.\d+\.\d+)\b")


def pinned_versions(text: str) -> set[str]:
    return set(PINNED.findall(text))


def test_the_changelog_opens_with_unreleased_then_releases_newest_first():
    headings = [m["version"] for m in VERSION_HEADING.finditer(CHANGELOG)]
    assert headings[0] == "Unreleased"
    released = changelog_versions(CHANGELOG)
    key = [tuple(int(part) for part in version.split(".")) for version in released]
    assert key == sorted(key, reverse=True)
    assert project_version(ROOT) in released


@pytest.mark.parametrize("version", changelog_versions(CHANGELOG))
def test_every_release_has_a_date_and_upgrade_notes(version):
    assert "### Upgrade notes" in section(CHANGELOG, version)


def test_every_version_the_docs_pin_is_in_the_changelog():
    shown = {(page.relative_to(ROOT).as_posix(), v) for page in PAGES for v in pinned_versions(page.read_text())}
    assert shown, "the docs show no @<version>: this test would hold nothing"
    missing = sorted((page, v) for page, v in shown if v not in changelog_versions(CHANGELOG))
    assert missing == []


def test_the_version_reader_sees_a_pin_the_changelog_lacks():
    assert pinned_versions("pulumi package add https://github.com/o/r.git/provider@v9.9.9") == {"9.9.9"}
    assert "9.9.9" not in changelog_versions(CHANGELOG)
