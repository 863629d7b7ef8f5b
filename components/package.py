"""The multi-language package: its name, its components, its version and the schema Pulumi infers.

Regenerate the committed schema snapshot after changing a component's inputs, outputs or docs:
    .venv/bin/python -m components.package tests/snapshots/schema.json
"""

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from pulumi.provider.experimental.component import ComponentProvider

from components.executor_grant import SessionExecutorGrant
from components.session_pool import SessionPool
from components.settings import NAMESPACE

PACKAGE_NAME = NAMESPACE
COMPONENTS = [SessionPool, SessionExecutorGrant]
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def package_version() -> str:
    """The distribution's version, read from pyproject.toml: the one place it is written."""
    with PYPROJECT.open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


def build_schema() -> dict[str, Any]:
    """The package schema exactly as the provider process serves it (GetSchema)."""
    provider = ComponentProvider(COMPONENTS, PACKAGE_NAME, version=package_version())
    schema: dict[str, Any] = json.loads(provider.schema or "{}")
    return schema


def schema_text() -> str:
    return json.dumps(build_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m components.package <schema.json to write>")
    Path(sys.argv[1]).write_text(schema_text())
