"""`python -m ci upgrade-check --from REF`: what an existing stack would see if it took the working tree after REF.

For each committed stack, the program runs twice under Pulumi's mock runtime (ci/upgrade_record.py): at REF (its
files from `git archive`) and at the working tree. Each resource is then unchanged, updated (which inputs),
replaced (why), created or deleted, as the Pulumi engine and the azure-native provider would plan it:

- the engine pairs a resource with the old one of the same URN, or of a URN its aliases name; a resource whose
  type, logical name or parent changed without such an alias is a new resource, and the old one is deleted;
- the engine replaces a resource when an input listed in its `replaceOnChanges` changed;
- the provider replaces a resource when an input Azure cannot update changed (`AZURE_REPLACES`).

A replacement or deletion passes only when CHANGELOG.md's Unreleased section names the resource in backticks,
by its logical name (`dev-pool`) or with the stack as a placeholder (`<stack>-pool`).
"""

import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict, dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

from ci.stacks import committed_stacks

OK, UNDECLARED, USAGE = 0, 1, 2
RECORDER = Path(__file__).resolve().parent / "upgrade_record.py"

AZURE_REPLACES: dict[str, tuple[str, ...]] = {
    # Path parameters of the generic resource's PUT: the provider replaces on any of them (diff.go,
    # calculateDetailedDiff: "All the parameters that are part of the resource path cause a replacement").
    "azure-native:resources:Resource": (
        "resourceGroupName",
        "resourceProviderNamespace",
        "parentResourcePath",
        "resourceType",
        "resourceName",
    ),
    # The path, and location (forceNewMap in gen/replacement.go).
    "azure-native:resources:ResourceGroup": ("resourceGroupName", "location"),
    # The path (scope, roleAssignmentName), and principalId (forceNewMap: principalId, scope).
    "azure-native:authorization:RoleAssignment": ("scope", "roleAssignmentName", "principalId"),
    "azure-native:authorization:ManagementLockByScope": ("scope", "lockName"),
    # The typed pool: its path, and the spec's create-only properties (x-ms-mutability without update).
    "azure-native:app:ContainerAppsSessionPool": ("resourceGroupName", "sessionPoolName", "location", "environmentId"),
}
"""Inputs of each resource type that the azure-native provider replaces the resource on, rather than update."""

CHANGES = ("unchanged", "updated", "replaced", "created", "deleted")


@dataclass
class Change:
    """One resource's fate: `change` is one of CHANGES; `inputs` the changed inputs, `why` a replacement's reasons."""

    name: str
    type: str
    change: str
    urn: str
    inputs: list[str] = field(default_factory=list)
    why: list[str] = field(default_factory=list)
    old_urn: str | None = None
    declared: bool = False


class UpgradeCheckError(Exception):
    """The check could not run: a bad ref, a program that failed, no git. The message says which."""


def changed_paths(old: Any, new: Any, at: str = "") -> list[str]:
    """The dotted paths where two input values differ (objects key by key; anything else as a whole)."""
    if isinstance(old, dict) and isinstance(new, dict):
        paths: list[str] = []
        for key in sorted(set(old) | set(new)):
            where = f"{at}.{key}" if at else str(key)
            if key not in old or key not in new:
                paths.append(where)
            else:
                paths += changed_paths(old[key], new[key], where)
        return paths
    return [] if old == new else [at]


def _covers(listed: str, path: str) -> bool:
    return listed == "*" or path == listed or path.startswith(listed + ".") or listed.startswith(path + ".")


def replacement_reasons(record: dict[str, Any], paths: list[str]) -> list[str]:
    """Why changing these inputs replaces the resource: its own replaceOnChanges, or what Azure cannot update."""
    reasons = []
    for path in paths:
        listed = [entry for entry in record.get("replaceOnChanges", []) if _covers(entry, path)]
        if listed:
            reasons.append(f"{path} changed: replaceOnChanges lists {listed[0]}")
        elif any(_covers(entry, path) for entry in AZURE_REPLACES.get(record["type"], ())):
            reasons.append(f"{path} changed: Azure cannot update it in place")
    return reasons


def _identity(record: dict[str, Any]) -> tuple[str, ...]:
    """What names the resource in Azure, when its inputs say so (for pairing a renamed resource with its old self)."""
    inputs = record.get("inputs") or {}
    keys = ("resourceGroupName", "resourceName", "roleAssignmentName", "lockName", "sessionPoolName", "scope")
    return tuple(str(inputs.get(key)) for key in keys)


def _why_new(old: dict[str, Any], new: dict[str, Any]) -> str:
    if old["type"] != new["type"]:
        return f"its type changed from {old['type']} to {new['type']} without an alias"
    if old["name"] != new["name"]:
        return f"its logical name changed from {old['name']} to {new['name']} without an alias"
    return f"its parent changed from {old['urn'].split('::')[2]} to {new['urn'].split('::')[2]} without an alias"


def _twin(record: dict[str, Any], gone: list[dict[str, Any]], unmatched: list[dict[str, Any]]) -> dict | None:
    """The old resource a new one (one the engine sees as new) takes the place of, if any: the same thing in Azure,
    else the same logical name, else the only one of its type on each side."""

    def only_one_of_its_type(old: dict[str, Any]) -> bool:
        same = [g for g in gone if g["type"] == old["type"]], [u for u in unmatched if u["type"] == old["type"]]
        return old["type"] == record["type"] and len(same[0]) == len(same[1]) == 1

    for rule in (
        lambda old: old["type"] == record["type"] and _identity(old) == _identity(record),
        lambda old: old["name"] == record["name"],
        only_one_of_its_type,
    ):
        found = next((old for old in gone if rule(old)), None)
        if found is not None:
            return found
    return None


def plan(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[Change]:
    """Each resource's change between two recordings of one stack, as the engine and the provider would plan it."""
    olds = {record["urn"]: record for record in old}
    taken: set[str] = set()
    changes: list[Change] = []
    unmatched: list[dict[str, Any]] = []
    for record in new:
        match = next(
            (urn for urn in [record["urn"], *record.get("aliases", [])] if urn in olds and urn not in taken), None
        )
        if match is None:
            unmatched.append(record)
            continue
        taken.add(match)
        paths = changed_paths(olds[match].get("inputs") or {}, record.get("inputs") or {})
        why = replacement_reasons(record, paths)
        kind = "replaced" if why else "updated" if paths else "unchanged"
        old_urn = match if match != record["urn"] else None
        changes.append(Change(record["name"], record["type"], kind, record["urn"], paths, why, old_urn))
    gone = [record for urn, record in olds.items() if urn not in taken]
    for record in unmatched:
        twin = _twin(record, gone, unmatched)
        if twin is None:
            changes.append(Change(record["name"], record["type"], "created", record["urn"]))
            continue
        gone.remove(twin)
        why = [_why_new(twin, record)]
        changes.append(Change(record["name"], record["type"], "replaced", record["urn"], why=why, old_urn=twin["urn"]))
    changes += [Change(record["name"], record["type"], "deleted", record["urn"]) for record in gone]
    return changes


def unreleased_notes(changelog: str) -> str:
    """The text of CHANGELOG.md's `## [Unreleased]` section (empty when there is none)."""
    match = re.search(r"^## \[Unreleased\][^\n]*\n(.*?)(?=^## |\Z)", changelog, re.MULTILINE | re.DOTALL)
    return match.group(1) if match else ""


def declared(change: Change, stack: str, notes: str) -> bool:
    """Whether the Unreleased notes name this resource: `<its name>`, or `<stack>-rest` for `<stack>-rest`."""
    names = {change.name}
    if change.name.startswith(f"{stack}-"):
        names.add("<stack>" + change.name[len(stack) :])
    return any(f"`{name}`" in notes for name in names)


def extract(root: Path, ref: str, into: Path) -> None:
    """The files of `ref`, as committed, into `into` (git archive: the repository's worktrees are left alone)."""
    git = shutil.which("git")
    if git is None:
        raise UpgradeCheckError("git is not on PATH: the check reads the ref's files with git archive")
    try:
        subprocess.run(
            [git, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=root, check=True, capture_output=True
        )
        archive = subprocess.run([git, "archive", "--format=tar", ref], cwd=root, check=True, capture_output=True)
    except subprocess.CalledProcessError as error:
        raise UpgradeCheckError(f"--from {ref!r} is not a commit of the repository at {root}") from error
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")


def record(tree: Path, stacks: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The resources `tree`'s program registers for each stack (none for a stack the tree has no file for)."""
    present = [stack for stack in stacks if (tree / f"Pulumi.{stack}.yaml").exists()]
    recorded: dict[str, list[dict[str, Any]]] = {stack: [] for stack in stacks}
    if not present:
        return recorded
    run = subprocess.run(
        [sys.executable, str(RECORDER), str(tree), *present], capture_output=True, text=True, check=False
    )
    if run.returncode != 0:
        tail = "\n".join(run.stderr.strip().splitlines()[-5:])
        raise UpgradeCheckError(
            f"the program at {tree} did not run for {', '.join(present)} (exit {run.returncode}):\n{tail}"
        )
    recorded.update(json.loads(run.stdout))
    return recorded


def check(root: Path, ref: str) -> dict[str, list[Change]]:
    """Per committed stack (at the ref or in the working tree), every resource's change."""
    with tempfile.TemporaryDirectory(prefix="upgrade-check-") as temp:
        before = Path(temp)
        extract(root, ref, before)
        stacks = sorted(set(committed_stacks(root)) | set(committed_stacks(before)))
        old, new = record(before, stacks), record(root, stacks)
        return {stack: plan(old[stack], new[stack]) for stack in stacks}


def report(changes: dict[str, list[Change]], ref: str) -> str:
    lines = [f"Upgrade from {ref} to the working tree:"]
    for stack, stack_changes in changes.items():
        lines.append(f"stack {stack}:")
        for change in stack_changes:
            detail = ""
            if change.change == "updated":
                detail = ": " + ", ".join(change.inputs)
            elif change.change == "replaced":
                detail = ": " + "; ".join(change.why) + ("" if not change.declared else " (declared in CHANGELOG.md)")
            elif change.change == "deleted" and change.declared:
                detail = " (declared in CHANGELOG.md)"
            lines.append(f"  {change.change:<9} {change.name} ({change.type}){detail}")
    return "\n".join(lines)


def main(root: Path, ref: str, as_json: bool) -> int:
    """0: nothing replaced or deleted, or each declared in the changelog; 1: one undeclared, named; 2: not run."""
    try:
        changes = check(root, ref)
    except UpgradeCheckError as error:
        print(f"python -m ci upgrade-check: {error}", file=sys.stderr)
        return USAGE
    changelog = root / "CHANGELOG.md"
    notes = unreleased_notes(changelog.read_text()) if changelog.exists() else ""
    undeclared = []
    for stack, stack_changes in changes.items():
        for change in stack_changes:
            if change.change in ("replaced", "deleted"):
                change.declared = declared(change, stack, notes)
                if not change.declared:
                    undeclared.append(f"{stack}: {change.name} {change.change}")
    if as_json:
        body = {
            "from": ref,
            "stacks": {s: [asdict(c) for c in cs] for s, cs in changes.items()},
            "undeclared": undeclared,
        }
        print(json.dumps(body, indent=2))
    else:
        print(report(changes, ref))
    if undeclared:
        print(
            "python -m ci upgrade-check: replaced or deleted, and not named in CHANGELOG.md's Unreleased section: "
            + "; ".join(undeclared),
            file=sys.stderr,
        )
        return UNDECLARED
    return OK
