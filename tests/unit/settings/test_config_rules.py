"""Each rule of the stack settings, called with config text as the Pulumi CLI hands it over: one case a line,
each refusal naming the key, the value and what is allowed."""

import json

import pytest

from components.checks import default_pool_name, unknown_keys
from components.settings import POOL_NAME_PATTERN, Executor
from tests.unit.settings.helpers import GUID, PROJECT, USER_IDENTITY, config_problems, parsed


def entries(*ids: str, kind: str = "ServicePrincipal") -> str:
    return json.dumps([{"principalId": i, "principalType": kind} for i in ids])


DEFAULTS = [
    ("containerType", "NodeLTS"),
    ("maxSessions", 5),
    ("cooldownSeconds", 300),
    ("readySessions", None),
    ("egressEnabled", False),
    ("poolName", "dynamicsessionsdev"),
    ("grantDeployer", True),
    ("deployerPrincipalType", "auto"),
    ("grantContributor", False),
    ("executors", ()),
    ("tags", {}),
    ("protect", False),
    ("lock", "none"),
    ("resourceGroupName", None),
    ("existingResourceGroup", None),
    ("identity", ()),
    ("identityLifecycle", "None"),
    ("lifecycleType", "Timed"),
    ("mcpServer", False),
]


@pytest.mark.parametrize(("key", "default"), DEFAULTS, ids=[key for key, _ in DEFAULTS])
def test_an_unset_setting_takes_its_safe_default(key, default):
    assert parsed({})[key] == default


ALLOWED = [
    ("containerType", "NodeLTS", "NodeLTS"),
    ("containerType", "PythonLTS", "PythonLTS"),
    ("containerType", "Shell", "Shell"),
    ("maxSessions", "1", 1),
    ("maxSessions", "600", 600),
    ("maxSessions", " 50 ", 50),
    ("cooldownSeconds", "300", 300),
    ("cooldownSeconds", "3600", 3600),
    ("readySessions", "0", 0),
    ("readySessions", "5", 5),
    ("egressEnabled", "true", True),
    ("egressEnabled", "False", False),
    ("grantDeployer", "false", False),
    ("grantContributor", "TRUE", True),
    ("protect", "true", True),
    ("mcpServer", "true", True),
    ("deployerPrincipalType", "auto", "auto"),
    ("deployerPrincipalType", "User", "User"),
    ("deployerPrincipalType", "ServicePrincipal", "ServicePrincipal"),
    ("lock", "none", "none"),
    ("lock", "CanNotDelete", "CanNotDelete"),
    ("lock", "ReadOnly", "ReadOnly"),
    ("lifecycleType", "Timed", "Timed"),
    ("identityLifecycle", "None", "None"),
    ("poolName", "abc", "abc"),
    ("poolName", "a" + "0" * 31, "a" + "0" * 31),
    ("resourceGroupName", "rg-sessions_(dev).1", "rg-sessions_(dev).1"),
    ("existingResourceGroup", "a" * 90, "a" * 90),
    ("identity", json.dumps(["system", USER_IDENTITY]), ("system", USER_IDENTITY)),
    ("tags", json.dumps({"costCenter": "platform"}), {"costCenter": "platform"}),
    ("tags", json.dumps({f"k{i}": "v" for i in range(47)}), {f"k{i}": "v" for i in range(47)}),
    ("executors", entries(GUID.upper(), kind="Group"), (Executor(GUID, "Group"),)),
    ("executors", entries(GUID, kind="User"), (Executor(GUID, "User"),)),
]


@pytest.mark.parametrize(("key", "text", "value"), ALLOWED, ids=[f"{k}={t[:20]}" for k, t, _ in ALLOWED])
def test_an_allowed_value_is_taken_as_its_type(key, text, value):
    assert parsed({key: text})[key] == value


def test_identity_lifecycle_main_is_allowed_with_an_identity():
    settings = parsed({"identity": json.dumps(["system"]), "identityLifecycle": "Main"})
    assert settings["identityLifecycle"] == "Main"


REFUSED = [
    ({"maxSessions": "601"}, "maxSessions=601 is out of range: 1..600"),
    ({"maxSessions": "0"}, "maxSessions=0 is out of range: 1..600"),
    ({"maxSessions": "five"}, "maxSessions=five is not allowed: an integer in 1..600"),
    ({"cooldownSeconds": "299"}, "cooldownSeconds=299 is out of range: 300..3600"),
    ({"cooldownSeconds": "3601"}, "cooldownSeconds=3601 is out of range: 300..3600"),
    ({"cooldownSeconds": "5m"}, "cooldownSeconds=5m is not allowed: an integer in 300..3600"),
    ({"readySessions": "6"}, "readySessions=6 is out of range: 0..5 (at most maxSessions=5)"),
    ({"readySessions": "-1"}, "readySessions=-1 is out of range: 0..5 (at most maxSessions=5)"),
    ({"readySessions": "some"}, "readySessions=some is not allowed: an integer in 0..5"),
    ({"egressEnabled": "yes"}, "egressEnabled=yes is not allowed: true or false"),
    ({"grantDeployer": "1"}, "grantDeployer=1 is not allowed: true or false"),
    ({"grantContributor": "sure"}, "grantContributor=sure is not allowed: true or false"),
    ({"protect": "yes"}, "protect=yes is not allowed: true or false"),
    ({"mcpServer": "on"}, "mcpServer=on is not allowed: true or false"),
    ({"containerType": "Bash"}, "containerType=Bash is not allowed: one of NodeLTS, PythonLTS, Shell"),
    (
        {"deployerPrincipalType": "Group"},
        "deployerPrincipalType=Group is not allowed: one of auto, User, ServicePrincipal",
    ),
    ({"lock": "Always"}, "lock=Always is not allowed: one of none, CanNotDelete, ReadOnly"),
    ({"identityLifecycle": "Always"}, "identityLifecycle=Always is not allowed: one of None, Main"),
    ({"identityLifecycle": "Main"}, "identityLifecycle=Main is not allowed: None while identity is empty"),
    (
        {"lifecycleType": "OnContainerExit"},
        "lifecycleType=OnContainerExit is not allowed: Timed "
        "(OnContainerExit is for custom-container pools, which this component does not deploy)",
    ),
    ({"lifecycleType": "Forever"}, "lifecycleType=Forever is not allowed: Timed"),
    (
        {"poolName": "My-Pool"},
        "poolName=My-Pool is not allowed: 3..32 lowercase letters and digits, starting with a letter",
    ),
    ({"poolName": "ab"}, "poolName=ab is not allowed"),
    ({"poolName": "a" * 33}, "poolName=" + "a" * 33 + " is not allowed"),
    ({"poolName": "9lives"}, "poolName=9lives is not allowed"),
    ({"poolName": ""}, 'poolName="" is not allowed: 3..32 lowercase letters and digits'),
    (
        {"resourceGroupName": "rg."},
        "resourceGroupName=rg. is not allowed: 1..90 letters, digits, - _ . ( ), not ending in a period",
    ),
    ({"existingResourceGroup": "a" * 91}, "existingResourceGroup=" + "a" * 91 + " is not allowed"),
    (
        {"resourceGroupName": "a", "existingResourceGroup": "b"},
        "resourceGroupName and existingResourceGroup are both set: "
        "set resourceGroupName for a group this stack creates",
    ),
    (
        {"identity": json.dumps(["sys"])},
        "identity[0]=sys is not allowed: 'system', or a user-assigned identity's resource id",
    ),
    ({"identity": json.dumps(["system", "system"])}, "identity[1]=system is not allowed: each identity once"),
    (
        {"identity": json.dumps([USER_IDENTITY, USER_IDENTITY.upper()])},
        "identity[1]=" + USER_IDENTITY.upper() + " is not allowed: each identity once",
    ),
    ({"identity": json.dumps("system")}, "identity=system is not allowed: a list of 'system'"),
    (
        {"identity": "[system"},
        "identity=[system is not allowed: a YAML list or map in the stack file (JSON when set by CLI)",
    ),
    ({"executors": entries("not-a-guid")}, "executors[0].principalId=not-a-guid is not allowed: an object id (GUID)"),
    (
        {"executors": entries(GUID, kind="Robot")},
        "executors[0].principalType=Robot is not allowed: one of User, Group, ServicePrincipal",
    ),
    (
        {"executors": entries(GUID, GUID.upper())},
        f"executors[1].principalId={GUID.upper()} is not allowed: each principal once",
    ),
    (
        {"executors": json.dumps({"principalId": "x"})},
        'executors={"principalId": "x"} is not allowed: a list of {principalId, principalType}',
    ),
    (
        {"executors": json.dumps([{"principalId": GUID}])},
        "executors[0]="
        + json.dumps({"principalId": GUID})
        + " is not allowed: an object with exactly principalId and principalType",
    ),
    ({"executors": "[not json"}, "executors=[not json is not allowed: a YAML list or map"),
    ({"tags": json.dumps(["a"])}, 'tags=["a"] is not allowed: a map of string keys to string values'),
    ({"tags": json.dumps({"a/b": "x"})}, "tags.a/b=a/b is not allowed: a key of 1..512 characters without any of"),
    ({"tags": json.dumps({f"k{i}": "v" for i in range(51)})}, "tags=<51 tags> is not allowed: at most 50"),
    (
        {"tags": json.dumps({f"k{i}": "v" for i in range(48)})},
        "at most 50 tags with the defaults managedBy, stack, project",
    ),
    ({"tags": json.dumps({"k": "v" * 257})}, "is not allowed: a string of at most 256 characters"),
    ({"tags": json.dumps({"k" * 513: "v"})}, "is not allowed: a key of 1..512 characters"),
    ({"tags": json.dumps({"costCenter": 42})}, "tags.costCenter=42 is not allowed: a string"),
    (
        {"azure-native:location": None},
        "azure-native:location is not set: run `pulumi config set azure-native:location <region>`",
    ),
    ({"azure-native:location": ""}, "azure-native:location is not set"),
    (
        {"azure-native:location": "North Central US"},
        "azure-native:location=North Central US is not allowed: an Azure region name",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), REFUSED, ids=[m.split(" ")[0][:40] for _, m in REFUSED])
def test_a_bad_value_is_refused_by_name(overrides, message):
    assert any(problem.startswith(message) or message in problem for problem in config_problems(overrides))


def test_every_bad_setting_is_reported_at_once():
    problems = config_problems({"lock": "x", "protect": "y", "mcpServer": "z", "maxSessions": "0"})
    assert [p.split(" ")[0] for p in problems] == ["maxSessions=0", "protect=y", "lock=x", "mcpServer=z"]


RANGES = [
    # maxSessions itself invalid: readySessions is judged against maxSessions' own ceiling and says so.
    (
        {"maxSessions": "601", "readySessions": "700"},
        [
            "maxSessions=601 is out of range: 1..600",
            "readySessions=700 is out of range: 0..600 (at most maxSessions, which is itself invalid: 601)",
        ],
    ),
    # Under that ceiling nothing can be said about readySessions until maxSessions is fixed.
    ({"maxSessions": "601", "readySessions": "20"}, ["maxSessions=601 is out of range: 1..600"]),
    ({"maxSessions": "many", "readySessions": "20"}, ["maxSessions=many is not allowed: an integer in 1..600"]),
    # A valid maxSessions is the bound quoted.
    (
        {"maxSessions": "10", "readySessions": "11"},
        ["readySessions=11 is out of range: 0..10 (at most maxSessions=10)"],
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), RANGES)
def test_a_range_bound_by_another_key_never_quotes_an_invalid_bound(overrides, expected):
    assert config_problems(overrides) == expected


UNKNOWN = [
    (f"{PROJECT}:maxsessions", f"{PROJECT}:maxsessions is not a known setting: did you mean {PROJECT}:maxSessions?"),
    (f"{PROJECT}:egress", f"{PROJECT}:egress is not a known setting: did you mean {PROJECT}:egressEnabled?"),
    (f"{PROJECT}:colour", f"{PROJECT}:colour is not a known setting: it is not a setting of this project"),
    (
        f"{PROJECT}:config:cooldown",
        f"{PROJECT}:config:cooldown is not a known setting: did you mean {PROJECT}:cooldownSeconds?",
    ),
    (f"{PROJECT}:maxAliveSeconds", f"{PROJECT}:maxAliveSeconds is not a known setting"),
]


@pytest.mark.parametrize(("key", "message"), UNKNOWN, ids=[key for key, _ in UNKNOWN])
def test_an_unknown_key_is_refused_naming_the_closest_known_one(key, message):
    (problem,) = config_problems({}, keys=(key,))
    assert problem.startswith(message)
    assert problem.endswith("(and azure-native:location)") and "Known settings: containerType, maxSessions" in problem


def test_known_keys_in_either_form_the_cli_uses_and_other_namespaces_are_left_alone():
    keys = [f"{PROJECT}:maxSessions", f"{PROJECT}:config:maxSessions", "azure-native:location", "other-app:x"]
    assert unknown_keys(keys) == []


@pytest.mark.parametrize(
    ("project", "stack"),
    [("dynamic-sessions", "dev"), ("dynamic-sessions", "Prod_EU-2"), ("9lives", "x"), ("p" * 40, "staging")],
)
def test_derived_pool_names_are_valid_azure_names(project, stack):
    assert POOL_NAME_PATTERN.match(default_pool_name(project, stack))


def test_long_derived_names_stay_distinct_per_stack():
    assert default_pool_name("p" * 40, "staging") != default_pool_name("p" * 40, "staging2")


def test_an_unset_pool_name_is_derived_from_project_and_stack():
    assert parsed({}, stack="Prod_EU-2")["poolName"] == "dynamicsessionsprodeu2"
