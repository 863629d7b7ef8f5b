"""The consumer example is what a Python program of your own writes: its requirements, the package Pulumi.yaml
records for `pulumi package add`, and the generated SDK's API, with no `sys.path` edits."""

import ast
import inspect
import json
import re

import yaml

from tests import generated_sdk_stand_in
from tests.pulumi_harness import ROOT

CONSUMER = ROOT / "examples" / "consumer-app"
SCHEMA = json.loads((ROOT / "tests" / "snapshots" / "schema.json").read_text())


def _requirements(path):
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def test_the_example_edits_no_import_path_and_imports_the_generated_sdk():
    tree = ast.parse((CONSUMER / "__main__.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "sys" not in imported and not any(name.startswith("components") for name in imported)
    assert generated_sdk_stand_in.MODULE in imported


def test_the_example_records_the_package_and_pins_the_programs_ranges():
    project = yaml.safe_load((CONSUMER / "Pulumi.yaml").read_text())
    assert (CONSUMER / project["packages"]["dynamic-sessions"]).resolve() == ROOT / "provider"
    assert SCHEMA["name"] == "dynamic-sessions"
    wanted = _requirements(CONSUMER / "requirements.txt")
    assert wanted == [*_requirements(ROOT / "requirements.txt"), "-e sdks/dynamic-sessions"]


def test_the_stand_in_takes_the_keyword_arguments_the_schema_gives_the_generated_sdk():
    for token, cls in (
        ("dynamic-sessions:index:SessionExecutorGrant", generated_sdk_stand_in.SessionExecutorGrant),
        ("dynamic-sessions:index:SessionPool", generated_sdk_stand_in.SessionPool),
    ):
        inputs = {_snake(name) for name in SCHEMA["resources"][token]["inputProperties"]}
        parameters = inspect.signature(cls.__init__).parameters
        named = {n for n, p in parameters.items() if p.kind is p.KEYWORD_ONLY}
        assert named <= inputs and (named == inputs or "inputs" in parameters), token
        assert {_snake(n) for n in SCHEMA["resources"][token].get("requiredInputs", [])} <= named | {
            "location",
            "pool_name",
        }
