"""Every Pulumi project file here passes Pulumi's own project schema (vendored from pulumi/pulumi) and the
CLI's config rules for each committed stack, and the YAML example uses the package as its schema says."""

import json
import re
from typing import Any

import jsonschema
import pytest
import yaml

from tests.pulumi_harness import ROOT

SCHEMA = json.loads((ROOT / "tests" / "vendor" / "pulumi" / "project.json").read_text())
PROJECT_FILES = sorted([ROOT / "Pulumi.yaml", *(ROOT / "examples").glob("*/Pulumi.yaml")])
PACKAGE_SCHEMA = json.loads((ROOT / "tests" / "snapshots" / "schema.json").read_text())
YAML_APP = ROOT / "examples" / "yaml-app" / "Pulumi.yaml"
# The first CLI that reads `object` config values (pulumi/pulumi#20132, released in 3.187.0).
OBJECT_CONFIG_SINCE = (3, 187, 0)


def _load(path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


@pytest.mark.parametrize("path", PROJECT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_project_file_passes_pulumis_project_schema(path):
    jsonschema.validate(_load(path), SCHEMA, cls=jsonschema.Draft202012Validator)


def test_the_vendored_schema_still_refuses_what_the_cli_refuses():
    # An unknown type and a misspelt attribute are refused: the schema really checks config declarations.
    for bad in ({"type": "map"}, {"type": "integer", "defualt": 5}):
        project = {"name": "p", "runtime": "python", "config": {"key": bad}}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(project, SCHEMA, cls=jsonschema.Draft202012Validator)


def _matches_type(spec: dict[str, Any], value: Any) -> bool:
    # pulumi/pulumi sdk/go/common/workspace/project.go ValidateConfigValue, for YAML-loaded values.
    kind = spec["type"]
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value) is not None
        )
    if kind == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if kind == "object":
        return isinstance(value, dict)
    return isinstance(value, list) and "items" in spec and all(_matches_type(spec["items"], v) for v in value)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.fullmatch(r">=(\d+)\.(\d+)\.(\d+)", text).groups())  # type: ignore[union-attr]


@pytest.mark.parametrize("path", PROJECT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_committed_stack_satisfies_the_clis_config_rules(path):
    project = _load(path)
    declared = project.get("config") or {}
    uses_objects = False
    for key, spec in declared.items():
        if ":" in key:
            continue  # another namespace: only a value, checked by the schema
        uses_objects |= "object" in json.dumps(spec)
        if "default" in spec:
            assert _matches_type(spec, spec["default"]), f"{key}: default is not a {spec['type']}"
    if uses_objects:
        assert _version(project["requiredPulumiVersion"]) >= OBJECT_CONFIG_SINCE

    # pkg/workspace/config.go: a declared key of the project's namespace with neither default nor value is
    # required in every stack, and every stack value must have the declared type.
    name = project["name"]
    required = {
        key for key, spec in declared.items() if ":" not in key and "default" not in spec and "value" not in spec
    }
    stacks = sorted(path.parent.glob("Pulumi.*.yaml"))
    assert stacks or not required, "a project with required config needs a committed stack file to show it"
    for stack_file in stacks:
        values = (_load(stack_file) or {}).get("config") or {}
        missing = {key for key in required if f"{name}:{key}" not in values}
        assert not missing, f"{stack_file.name} lacks required {sorted(missing)}"
        for key, spec in declared.items():
            if ":" not in key and f"{name}:{key}" in values and "type" in spec:
                assert _matches_type(spec, values[f"{name}:{key}"]), f"{stack_file.name}: {key} is not a {spec['type']}"


def test_yaml_example_uses_the_package_as_its_schema_declares():
    program = _load(YAML_APP)
    plugin_dir = (YAML_APP.parent / program["packages"]["dynamic-sessions"]).resolve()
    assert (plugin_dir / "PulumiPlugin.yaml").is_file()

    resources = program["resources"]
    ours = {name: r for name, r in resources.items() if r["type"].startswith("dynamic-sessions:")}
    assert {r["type"] for r in ours.values()} == set(PACKAGE_SCHEMA["resources"])
    for name, resource in ours.items():
        spec = PACKAGE_SCHEMA["resources"][resource["type"]]
        given = set(resource.get("properties") or {})
        assert given <= set(spec["inputProperties"]), f"{name}: unknown inputs {given - set(spec['inputProperties'])}"
        assert set(spec.get("requiredInputs", [])) <= given, f"{name}: missing required inputs"

    # Every `${resource.property}` read from one of the package's components names one of its outputs.
    text = YAML_APP.read_text()
    for resource_name, prop in re.findall(r"\$\{([\w-]+)\.(\w+)\}", text):
        if resource_name in ours:
            assert prop in PACKAGE_SCHEMA["resources"][ours[resource_name]["type"]]["properties"], prop
