"""Which stacks exist in the repository, what Pulumi calls them, and the settings of a review stack."""

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROJECT = "dynamic-sessions"
STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>[A-Za-z0-9_.-]+)\.yaml$")
REVIEW_STACK = re.compile(r"^pr-[0-9]+$")
ORG_ENV = "PULUMI_ORG"

# A review stack takes the dev stack's settings except what would make it share or outlive things:
# its own derived pool name (a fixed one would collide with dev's), no extra executors (only the
# deployer, whose smoke proves the pool), and a tag naming the pull request for cost reports.
REVIEW_DROPPED_KEYS = (f"{PROJECT}:poolName", f"{PROJECT}:executors")


class StackError(Exception):
    """A stack name or stack file that CI cannot use; the message names it and what is allowed."""


def committed_stacks(root: Path) -> list[str]:
    """The stacks with a `Pulumi.<stack>.yaml` in the repository, review stacks left out (they are transient)."""
    names = []
    for path in root.iterdir():
        match = STACK_FILE.match(path.name)
        if match and path.is_file() and not REVIEW_STACK.match(match["stack"]):
            names.append(match["stack"])
    return sorted(names)


def qualified(stack: str, environ: Mapping[str, str] = os.environ) -> str:
    """The name Pulumi is given: `<org>/<stack>` when $PULUMI_ORG is set, else the stack alone."""
    org = environ.get(ORG_ENV, "").strip()
    return f"{org}/{stack}" if org else stack


def review_stack_name(pr_number: str | int) -> str:
    text = str(pr_number).strip()
    if not text.isdigit() or int(text) <= 0:
        raise StackError(f"--pr {pr_number!r} is not a pull request number: a positive whole number is allowed")
    return f"pr-{int(text)}"


def review_stack_config(root: Path, stack: str, source: str = "dev") -> dict[str, Any]:
    """The `Pulumi.<stack>.yaml` document of a review stack, made from the `source` stack's file."""
    source_file = root / f"Pulumi.{source}.yaml"
    if not source_file.is_file():
        raise StackError(f"review stacks copy {source_file.name}, which does not exist")
    import yaml  # only review stacks need it: `python -m ci stacks` runs on a bare runner's python3

    document = yaml.safe_load(source_file.read_text()) or {}
    config = dict(document.get("config") or {})
    for key in REVIEW_DROPPED_KEYS:
        config.pop(key, None)
    tags = dict(config.get(f"{PROJECT}:tags") or {})
    tags["reviewStack"] = stack
    config[f"{PROJECT}:tags"] = tags
    return {"config": config}


def write_review_stack_file(root: Path, stack: str, source: str = "dev") -> Path:
    if not REVIEW_STACK.match(stack):
        raise StackError(f"review stack name {stack!r} is not valid: pr-<number> is allowed")
    path = root / f"Pulumi.{stack}.yaml"
    header = f"# Review stack {stack}: made by `python -m ci review up` from Pulumi.{source}.yaml; not committed.\n"
    import yaml

    path.write_text(header + yaml.safe_dump(review_stack_config(root, stack, source), sort_keys=False))
    return path
