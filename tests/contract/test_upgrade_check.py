"""`python -m ci upgrade-check` over real git refs: the program at each ref run under the mock runtime, in
processes of their own, and its exit code and report as CI reads them."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dynamic_sessions import api_versions
from tests.pulumi_harness import ROOT

PROGRAM_FILES = ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "__main__.py", "components", "dynamic_sessions")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A repository holding this program as released (tag v0.0.1)."""
    repo = tmp_path_factory.mktemp("upgrade")
    for name in PROGRAM_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, repo / name)
    git(repo, "init", "-q")
    commit(repo, "release")
    git(repo, "tag", "v0.0.1")
    return repo


def upgrade_check(repo: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ci", "--project-dir", str(repo), "upgrade-check", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def edit(repo: Path, path: str, old: str, new: str) -> None:
    file = repo / path
    text = file.read_text()
    assert old in text
    file.write_text(text.replace(old, new))


def test_the_release_itself_changes_nothing_in_any_stack(repo):
    run = upgrade_check(repo, "--from", "v0.0.1", "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert sorted(report["stacks"]) == ["dev", "prod"]
    assert {c["change"] for s in report["stacks"].values() for c in s} == {"unchanged"}
    assert len(report["stacks"]["prod"]) == 5  # the component, group, pool, deployer's grant, lock


def test_a_renamed_pool_is_kept_by_an_alias_and_replaced_once_the_alias_is_lost(repo, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(repo, work)
    edit(work, "components/session_pool.py", 'f"{name}-pool"', 'f"{name}-sessions"')
    kept_alias = 'aliases=[pulumi.Alias(type_=pool_body.TYPED_POOL_TYPE), pulumi.Alias(name=f"{name}-pool")]'
    edit(work, "components/session_pool.py", "aliases=[pulumi.Alias(type_=pool_body.TYPED_POOL_TYPE)]", kept_alias)
    kept = json.loads(upgrade_check(work, "--from", "v0.0.1", "--json").stdout)
    pool = next(c for c in kept["stacks"]["dev"] if c["name"] == "dev-sessions")
    assert (pool["change"], pool["old_urn"].rsplit("::", 1)[1], kept["undeclared"]) == ("unchanged", "dev-pool", [])
    edit(work, "components/session_pool.py", kept_alias, "aliases=[pulumi.Alias(type_=pool_body.TYPED_POOL_TYPE)]")
    run = upgrade_check(work, "--from", "v0.0.1")
    assert run.returncode == 1
    assert (
        "replaced  dev-sessions (azure-native:resources:Resource): its logical name changed from dev-pool" in run.stdout
    )
    assert "dev: dev-sessions replaced" in run.stderr and "prod: prod-sessions replaced" in run.stderr
    (work / "CHANGELOG.md").write_text("# Changelog\n\n## [Unreleased]\n\n- `<stack>-sessions` replaces the pool.\n")
    declared = upgrade_check(work, "--from", "v0.0.1")
    assert declared.returncode == 0, declared.stderr
    assert "(declared in CHANGELOG.md)" in declared.stdout


def test_the_move_to_the_current_api_version_is_an_update_in_place(repo, tmp_path):
    """What a stack released at 2025-10-02-preview sees when it takes this version: the pool updated, nothing else."""
    work = tmp_path / "work"
    shutil.copytree(repo, work)
    versions = work / "dynamic_sessions" / "api_versions.py"
    current = versions.read_text()
    edit(
        work,
        "dynamic_sessions/api_versions.py",
        f'POOL_API_VERSION = "{api_versions.POOL_API_VERSION}"',
        'POOL_API_VERSION = "2025-10-02-preview"',
    )
    commit(work, "released at 2025-10-02-preview")
    git(work, "tag", "v0.0.2")
    versions.write_text(current)
    run = upgrade_check(work, "--from", "v0.0.2", "--json")
    assert run.returncode == 0, run.stderr
    changes = {(s, c["name"]): c for s, cs in json.loads(run.stdout)["stacks"].items() for c in cs}
    assert {key for key, c in changes.items() if c["change"] != "unchanged"} == {
        ("dev", "dev-pool"),
        ("prod", "prod-pool"),
    }
    for stack in ("dev", "prod"):
        pool = changes[(stack, f"{stack}-pool")]
        assert (pool["change"], pool["inputs"], pool["why"]) == ("updated", ["apiVersion"], [])


def test_a_changed_container_type_replaces_the_pool_naming_why(repo, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(repo, work)
    edit(work, "Pulumi.dev.yaml", "dynamic-sessions:containerType: NodeLTS", "dynamic-sessions:containerType: Shell")
    run = upgrade_check(work, "--from", "v0.0.1")
    assert run.returncode == 1
    why = "properties.containerType changed: replaceOnChanges lists properties.containerType"
    assert f"replaced  dev-pool (azure-native:resources:Resource): {why}" in run.stdout
    assert "prod-pool" not in run.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "no-such-ref"], "--from 'no-such-ref' is not a commit"),
        ([], "the following arguments are required: --from"),
    ],
)
def test_bad_usage_exits_2_naming_it(repo, argv, message):
    run = upgrade_check(repo, *argv)
    assert run.returncode == 2
    assert message in run.stderr
