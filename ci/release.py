"""`python -m ci release-notes --tag vX.Y.Z`: the release's checks and notes, from the one place each is written.

The version is pyproject.toml's `[project] version`; the tag must be `v` and that version, and CHANGELOG.md (Keep a
Changelog) must have a `## [X.Y.Z] - YYYY-MM-DD` section, whose text becomes the GitHub release's notes.
"""

import re
import tomllib
from pathlib import Path

VERSION_HEADING = re.compile(r"^## \[(?P<version>[^\]]+)\](?: - (?P<date>\d{4}-\d{2}-\d{2}))?[ \t]*$", re.MULTILINE)


class ReleaseError(Exception):
    """The tag, the version or the changelog disagree; the message says which, and what was expected."""


def project_version(root: Path) -> str:
    """pyproject.toml's version: the one place it is written."""
    with (root / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


def changelog_versions(changelog: str) -> list[str]:
    """The released versions CHANGELOG.md has sections for, newest first (Unreleased left out)."""
    return [m["version"] for m in VERSION_HEADING.finditer(changelog) if m["version"] != "Unreleased"]


def section(changelog: str, version: str) -> str:
    """The text of `version`'s section, without its heading; a ReleaseError when there is none or it is empty."""
    headings = list(VERSION_HEADING.finditer(changelog))
    for index, heading in enumerate(headings):
        if heading["version"] == version:
            if not heading["date"]:
                raise ReleaseError(
                    f"CHANGELOG.md's section [{version}] has no date: write `## [{version}] - YYYY-MM-DD`"
                )
            end = headings[index + 1].start() if index + 1 < len(headings) else len(changelog)
            text = changelog[heading.end() : end]
            text = re.sub(r"^\[[^\]]+\]: \S+\s*$", "", text, flags=re.MULTILINE).strip()
            if not text:
                raise ReleaseError(f"CHANGELOG.md's section [{version}] is empty")
            return text + "\n"
    known = ", ".join(changelog_versions(changelog)) or "none"
    raise ReleaseError(f"CHANGELOG.md has no section [{version}] (it has: {known}); move Unreleased's entries there")


def release_notes(root: Path, tag: str) -> str:
    """The notes of the release `tag`, after checking that the tag names pyproject's version."""
    version = project_version(root)
    if tag != f"v{version}":
        raise ReleaseError(f"tag {tag!r} is not pyproject.toml's version: expected v{version}")
    return section((root / "CHANGELOG.md").read_text(), version)
