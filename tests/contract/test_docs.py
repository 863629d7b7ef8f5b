"""The README is a landing page, and the documentation site builds with every link between pages resolving."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
# Markdown links and images whose target is neither a URL nor an anchor of the same page.
RELATIVE_LINK = re.compile(r"\]\((?!https?://|#)([^)\s]+)\)")


def test_the_readme_is_a_landing_page_of_at_most_150_lines():
    assert len(README.splitlines()) <= 150


def test_the_readme_opens_with_the_limits_then_the_commands_then_the_app():
    headings = [line for line in README.splitlines() if line.startswith("## ")]
    assert headings[:2] == ["## Start here", "## Use it from your app"]
    assert README.index("**Known limits, up front:**") < README.index("## Start here")


def test_every_relative_link_of_the_readme_names_a_file_that_exists():
    targets = RELATIVE_LINK.findall(README)
    assert targets
    missing = [target for target in targets if not (ROOT / target.split("#", 1)[0]).exists()]
    assert missing == []


class MkDocsLoader(yaml.SafeLoader):
    """mkdocs.yml as MkDocs reads it: a `!!python/name:` tag (the Mermaid fence's formatter) read as its name."""


MkDocsLoader.add_multi_constructor("tag:yaml.org,2002:python/name:", lambda loader, suffix, node: suffix)


def mkdocs_config() -> dict:
    return yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=MkDocsLoader)  # noqa: S506 (a SafeLoader subclass)


def nav_pages(entries: list) -> list[str]:
    """Every page of the navigation, its sections' pages included."""
    pages: list[str] = []
    for entry in entries:
        for value in entry.values():
            pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_every_page_the_readme_names_is_in_the_sites_navigation():
    in_nav = set(nav_pages(mkdocs_config()["nav"]))
    named = {
        target.removeprefix("docs/").split("#", 1)[0]
        for target in RELATIVE_LINK.findall(README)
        if target.startswith("docs/")
    }
    assert named <= in_nav


def _docs_build_recipe() -> list[str]:
    """The command `make docs-build` runs (`make test` runs it through the tests below), its variables filled in."""
    recipe = (ROOT / "Makefile").read_text().split("\ndocs-build:", 1)[1].splitlines()[1].strip()
    return recipe.replace("$(PY)", sys.executable).split()


def _build(tree: Path) -> subprocess.CompletedProcess[str]:
    words = _docs_build_recipe()
    settings = [word for word in words if re.fullmatch(r"[A-Z_0-9]+=\S*", word)]
    environ = {"PATH": "/usr/bin", **dict(setting.split("=", 1) for setting in settings)}
    command = words[len(settings) :]
    return subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=120, env=environ)


@pytest.fixture
def site_sources(tmp_path) -> Path:
    """A copy of what the site is built from: its config, its pages, the README it includes, the package."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copytree(ROOT / "dynamic_sessions", tmp_path / "dynamic_sessions")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path)
    shutil.copy(ROOT / "README.md", tmp_path)
    shutil.copy(ROOT / "CHANGELOG.md", tmp_path)
    return tmp_path


def test_the_site_builds_without_a_warning_a_page_outside_the_navigation_included(site_sources):
    (site_sources / "docs" / "extra.md").write_text("# Extra\n\nSee [the app page](app.md#install).\n")
    done = _build(site_sources)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (site_sources / "site" / "app" / "index.html").exists()
    assert (site_sources / "site" / "extra" / "index.html").exists()


BROKEN = {
    "limits.md": ["[a page](no-such-page.md)", "[an anchor](app.md#no-such-anchor)", "[an anchor here](#nowhere)"],
    "extra.md": ["[a page](gone.md)"],  # a page outside the navigation has its links checked too
}


def test_each_broken_link_between_pages_is_reported_and_fails_the_build(site_sources):
    for name, links in BROKEN.items():
        page = site_sources / "docs" / name
        page.write_text((page.read_text() if page.exists() else "# Extra\n") + "\nSee " + ", ".join(links) + ".\n")
    done = _build(site_sources)
    assert done.returncode != 0
    assert "Aborted with 4 warnings in strict mode" in done.stdout + done.stderr
    for name, link in [
        ("limits.md", "'no-such-page.md'"),
        ("limits.md", "'#no-such-anchor'"),
        ("limits.md", "'#nowhere'"),
        ("extra.md", "'gone.md'"),
    ]:
        assert any(f"'{name}'" in line and link in line for line in done.stderr.splitlines()), (name, link)


def test_the_readmes_apt_line_names_the_packages_ci_installs_for_the_sandbox():
    (line,) = re.findall(r"`apt-get install ([a-z0-9 -]+)`", README)
    installed = set(re.findall(r"missing\+=\(([a-z0-9-]+)\)", (ROOT / ".ci" / "run").read_text()))
    # iproute2: for a test's network namespaces only; podman, runc, debootstrap: for the image's test only.
    assert set(line.split()) == installed - {"iproute2", "podman", "runc", "debootstrap"}
