"""The same rules for a `SessionPool` given typed inputs directly (by another program, in any language): each
value is checked as given, with no round trip through config text, and named as the package schema names it."""

import pytest

from components.checks import check_inputs
from tests.unit.settings.helpers import GUID, USER_IDENTITY, input_problems


class DeployTime:
    """An input known only at deploy time, as an Output is: Azure judges it then."""


ACCEPTED = [
    {},
    {"container_type": "Shell", "mcp_server": True, "lifecycle_type": "Timed"},
    {"max_sessions": 600, "ready_sessions": 600, "cooldown_seconds": 3600},
    {"executors": [{"principal_id": GUID, "principal_type": "Group"}]},
    {"identity": ["system", USER_IDENTITY], "identity_lifecycle": "Main"},
    {"tags": {"team": "agents"}, "lock": "ReadOnly", "protect": True},
    {"existing_resource_group": "platform-shared", "grant_deployer": False},
    # Known only at deploy time: not judged now, and no rule that reads them refuses the rest.
    {"max_sessions": DeployTime(), "ready_sessions": 600},
    {"identity": DeployTime(), "identity_lifecycle": "Main"},
    {"location": DeployTime(), "pool_name": DeployTime(), "tags": {"team": DeployTime()}},
]


@pytest.mark.parametrize("inputs", ACCEPTED)
def test_good_inputs_are_accepted(inputs):
    check_inputs({"location": "northcentralus", "pool_name": "apppool", **inputs})


REFUSED = [
    ({"lock": "Always"}, "lock=Always is not allowed: one of none, CanNotDelete, ReadOnly"),
    ({"identity": ["nope"]}, "identity[0]=nope is not allowed: 'system', or a user-assigned identity's resource id"),
    (
        {"container_type": "Shell", "lifecycle_type": "OnContainerExit"},
        "lifecycleType=OnContainerExit is not allowed: Timed (OnContainerExit is for custom-container pools",
    ),
    ({"max_sessions": 601}, "maxSessions=601 is out of range: 1..600"),
    ({"max_sessions": True}, "maxSessions=true is not allowed: an integer in 1..600"),
    ({"max_sessions": "5"}, 'maxSessions="5" is not allowed: an integer in 1..600'),
    ({"cooldown_seconds": 30.5}, "cooldownSeconds=30.5 is not allowed: an integer in 300..3600"),
    ({"egress_enabled": "true"}, 'egressEnabled="true" is not allowed: true or false'),
    ({"protect": 1}, "protect=1 is not allowed: true or false"),
    ({"ready_sessions": 6}, "readySessions=6 is out of range: 0..5 (at most maxSessions=5)"),
    (
        {"max_sessions": DeployTime(), "ready_sessions": 601},
        "readySessions=601 is out of range: 0..600 (at most maxSessions)",
    ),
    ({"location": "West Europe"}, "location=West Europe is not allowed: an Azure region name"),
    ({"pool_name": "My-Pool"}, "poolName=My-Pool is not allowed: 3..32 lowercase letters and digits"),
    ({"executors": [{"principalId": GUID, "principalType": "User"}]}, "executors[0]="),
    (
        {"executors": [{"principal_id": "x", "principal_type": "User"}]},
        "executors[0].principalId=x is not allowed: an object id (GUID)",
    ),
    (
        {"executors": [{"principal_id": GUID, "principal_type": "Robot"}]},
        "executors[0].principalType=Robot is not allowed",
    ),
    ({"tags": {"a/b": "x"}}, "tags.a/b=a/b is not allowed"),
    ({"identity_lifecycle": "Main"}, "identityLifecycle=Main is not allowed: None while identity is empty"),
    (
        {"resource_group_name": "a", "existing_resource_group": "b"},
        "resourceGroupName and existingResourceGroup are both set",
    ),
    (
        {"deployer_principal_type": "Group"},
        "deployerPrincipalType=Group is not allowed: one of auto, User, ServicePrincipal",
    ),
]


@pytest.mark.parametrize(("inputs", "message"), REFUSED, ids=[m.split(" ")[0][:40] for _, m in REFUSED])
def test_a_bad_input_is_refused_by_its_schema_name(inputs, message):
    assert any(problem.startswith(message) for problem in input_problems(inputs))


def test_every_bad_input_is_reported_at_once():
    problems = input_problems({"lock": "x", "protect": "y", "max_sessions": 0})
    assert [p.split("=")[0] for p in problems] == ["maxSessions", "protect", "lock"]
