"""The release's checks: the tag names pyproject's version, and CHANGELOG.md's section for it becomes the notes."""

from pathlib import Path

import pytest

from ci.release import ReleaseError, changelog_versions, release_notes, section

CHANGELOG = """# Changelog

## [Unreleased]

- Next.

## [0.2.0] - 2026-12-08

### Added
- The pool's MCP server.

### Upgrade notes
- `<stack>-pool` is replaced.

## [0.1.0] - 2026-11-26

- First.

[Unreleased]: https://example.com/compare/v0.2.0...HEAD
[0.2.0]: https://example.com/compare/v0.1.0...v0.2.0
"""


def project(tmp_path: Path, version: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\nversion = "{version}"\n')
    (tmp_path / "CHANGELOG.md").write_text(CHANGELOG)
    return tmp_path


def test_the_notes_are_the_versions_section_alone():
    assert section(CHANGELOG, "0.2.0") == (
        "### Added\n- The pool's MCP server.\n\n### Upgrade notes\n- `<stack>-pool` is replaced.\n"
    )
    assert section(CHANGELOG, "0.1.0") == "- First.\n"  # link references are not notes
    assert changelog_versions(CHANGELOG) == ["0.2.0", "0.1.0"]


def test_a_tag_is_released_only_at_pyprojects_version_with_its_section(tmp_path):
    assert release_notes(project(tmp_path, "0.2.0"), "v0.2.0").startswith("### Added")
    with pytest.raises(ReleaseError, match=r"tag 'v0.3.0' is not pyproject.toml's version: expected v0.2.0"):
        release_notes(tmp_path, "v0.3.0")


def test_a_version_without_its_section_is_refused_naming_those_there(tmp_path):
    with pytest.raises(ReleaseError, match=r"no section \[0.3.0\] \(it has: 0.2.0, 0.1.0\)"):
        release_notes(project(tmp_path, "0.3.0"), "v0.3.0")


def test_an_undated_section_is_refused():
    with pytest.raises(ReleaseError, match="has no date"):
        section("## [1.0.0]\n\n- x\n", "1.0.0")
