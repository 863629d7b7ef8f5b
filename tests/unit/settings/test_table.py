"""What is derived from the settings table, checked against it: the keys and defaults, the component's
arguments and inputs, the outputs for --verify, `Pulumi.yaml`'s `config:` block and the docs' settings table."""

import json
import typing

import yaml

from components import settings_docs
from components.session_pool import SessionPoolArgs
from components.settings import BY_KEY, DEFAULTS, INPUT_KEYS, PROJECT_KEYS, SETTINGS, with_defaults
from tests.unit.settings.helpers import GUID, parsed

PYTHON_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list, "object": dict}


def test_each_setting_has_one_key_one_input_and_the_schema_spells_the_input_as_the_key():
    assert len({s.key for s in SETTINGS}) == len({s.input for s in SETTINGS}) == len(SETTINGS)
    assert all(s.schema_name == s.key for s in SETTINGS if s.in_project)
    assert BY_KEY["azure-native:location"].schema_name == "location"
    assert INPUT_KEYS["max_sessions"] == "maxSessions"
    assert PROJECT_KEYS[:2] == ("containerType", "maxSessions") and "azure-native:location" not in PROJECT_KEYS
    assert {s.key: s.default for s in SETTINGS if s.in_project} == DEFAULTS


def test_every_default_passes_its_own_rules_and_every_bound_holds_its_default():
    for s in SETTINGS:
        if s.choices:
            assert s.default in s.choices, s.key
        if s.bounds and s.default is not None:
            assert s.bounds[0] <= s.default <= s.bounds[1], s.key
        if s.default is not None:
            assert isinstance(s.default, PYTHON_TYPES[s.type]), s.key


def test_session_pool_args_declares_each_setting_once_with_its_type():
    hints = SessionPoolArgs.__annotations__
    assert set(hints) == {s.input for s in SETTINGS}
    assert SessionPoolArgs.__required_keys__ == {s.input for s in SETTINGS if s.required}
    for s in SETTINGS:
        # NotRequired[pulumi.Input[T]]: T is among the arguments, at some depth (list[...] and dict[...] by origin).
        assert PYTHON_TYPES[s.type] in _held(hints[s.input]), s.input


def _held(hint: object) -> set[object]:
    return {typing.get_origin(hint) or hint}.union(*(_held(arg) for arg in typing.get_args(hint)))


def test_the_component_gets_every_setting_that_is_set_in_its_inputs_shape():
    args = parsed({"executors": json.dumps([{"principalId": GUID, "principalType": "User"}]), "readySessions": "2"})
    given = args.component_args()
    assert given["executors"] == [{"principal_id": GUID, "principal_type": "User"}]
    assert given["ready_sessions"] == 2 and given["identity"] == [] and given["tags"] == {}
    assert "resource_group_name" not in given and "existing_resource_group" not in given
    assert set(given) == {s.input for s in SETTINGS} - {"resource_group_name", "existing_resource_group"}


def test_an_input_not_given_takes_the_tables_default_and_the_table_keeps_its_own():
    given = with_defaults({"location": "x", "pool_name": "p", "max_sessions": 9})
    assert given["max_sessions"] == 9 and given["cooldown_seconds"] == 300 and given["ready_sessions"] is None
    given["tags"]["changed"] = "yes"
    assert BY_KEY["tags"].default == {}


def test_the_outputs_for_verify_are_the_exported_settings_each_only_when_set():
    assert parsed({}).declared_outputs() == {
        "maxSessions": 5,
        "cooldownSeconds": 300,
        "egressEnabled": False,
        "lifecycleType": "Timed",
    }
    assert parsed({"readySessions": "1"}).declared_outputs()["readySessions"] == 1


def test_pulumi_yaml_declares_the_table_between_its_markers():
    assert settings_docs.config_block_in() == settings_docs.config_block(), (
        "Pulumi.yaml's settings differ from components/settings.py: run .venv/bin/python -m components.settings_docs"
    )
    declared = yaml.safe_load(settings_docs.PULUMI_YAML.read_text())["config"]
    assert set(declared) == {s.key for s in SETTINGS if s.in_project and s.default is not None}
    for key, spec in declared.items():
        s = BY_KEY[key]
        assert (spec["type"], spec["default"], spec["description"]) == (s.type, s.default, s.description), key
        assert spec.get("items") == ({"type": s.items} if s.items else None), key
    unset = [s.key for s in SETTINGS if s.default is None]
    assert unset == ["azure-native:location", "readySessions", "poolName", "resourceGroupName", "existingResourceGroup"]
    assert all(f"#   {key} " in settings_docs.config_block() for key in unset)


def test_the_docs_hold_the_settings_table_once_as_the_table_writes_it():
    (page,) = settings_docs.docs_pages_with_table()
    assert settings_docs.docs_table_in(page) == settings_docs.markdown_table(), (
        f"{page.name}'s settings table differs from components/settings.py: "
        "run .venv/bin/python -m components.settings_docs"
    )
    rows = settings_docs.markdown_table().splitlines()[2:]
    assert [row.split("`")[1] for row in rows] == [s.key for s in SETTINGS]
    assert "| `maxSessions` | integer | `5` | 1..600 |" in rows
    assert "| `readySessions` | integer | unset (Azure's default) | 0..`maxSessions` |" in rows
