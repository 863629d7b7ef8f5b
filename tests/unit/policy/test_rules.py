"""Each rule of the policy pack called directly on a resource's inputs: what passes, what is reported, and the
config that changes it."""

from typing import Any

import pytest

from policy import rules
from policy.regions import SESSION_REGIONS
from policy.resources import GENERIC_RESOURCE, LOCK_AT_RESOURCE, LOCK_BY_SCOPE, ROLE_ASSIGNMENT, TYPED_POOL, UNKNOWN
from policy.roles import SESSION_EXECUTOR, SESSION_POOLS_CONTRIBUTOR
from policy.rules import RULES, Subject

POOL_ID = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.App/sessionPools/pool1"
RULE = {rule.id: rule for rule in RULES}


def generic_pool(urn: str = "urn:pool", protect: bool = False, api_version: str = "2025-10-02-preview", **props: Any):
    properties = {
        "containerType": "NodeLTS",
        "scaleConfiguration": {"maxConcurrentSessions": 5},
        "sessionNetworkConfiguration": {"status": "EgressDisabled"},
        **props,
    }
    inputs = {
        "apiVersion": api_version,
        "resourceProviderNamespace": "Microsoft.App",
        "resourceType": "sessionPools",
        "parentResourcePath": "",
        "resourceGroupName": "rg",
        "resourceName": "pool1",
        "location": "westus2",
        "properties": properties,
    }
    return Subject(GENERIC_RESOURCE, "pool", inputs, urn=urn, protect=protect)


def typed_pool(**props: Any) -> Subject:
    inputs = {"resourceGroupName": "rg", "sessionPoolName": "pool1", "location": "westus2", **props}
    return Subject(TYPED_POOL, "typed", inputs, urn="urn:typed")


def grant(role: str = SESSION_EXECUTOR, scope: Any = POOL_ID, deps: tuple[str, ...] = (), **props: Any) -> Subject:
    inputs = {
        "scope": scope,
        "principalId": "p",
        "principalType": "ServicePrincipal",
        "roleDefinitionId": f"/subscriptions/sub/providers/Microsoft.Authorization/roleDefinitions/{role}",
        **props,
    }
    return Subject(ROLE_ASSIGNMENT, "grant", inputs, urn="urn:grant", property_dependencies={"scope": list(deps)})


def lock(scope: Any = POOL_ID, level: Any = "CanNotDelete", deps: tuple[str, ...] = ()) -> Subject:
    return Subject(
        LOCK_BY_SCOPE, "lock", {"scope": scope, "level": level}, urn="urn:lock", property_dependencies={"scope": deps}
    )


def found(rule_id: str, subject: Subject, stack: str = "prod", **config: Any) -> list[tuple[str, Any, str]]:
    rule = RULE[rule_id]
    return [(v.property, v.value, v.config_key) for v in rule.check(subject, rule.settings(config), stack)]


def found_in_stack(rule_id: str, subjects: list[Subject], stack: str = "prod", **config: Any) -> list[Any]:
    rule = RULE[rule_id]
    return [(s.name, v.property, v.value) for s, v in rule.check(subjects, rule.settings(config), stack)]


# egress


def test_egress_enabled_is_reported_in_a_stack_not_allowed():
    pool = generic_pool(sessionNetworkConfiguration={"status": "EgressEnabled"})
    assert found(rules.EGRESS_ID, pool) == [
        ("properties.sessionNetworkConfiguration.status", "EgressEnabled", "allowedStacks")
    ]


def test_egress_enabled_in_the_typed_resource_is_reported_at_its_own_path():
    pool = typed_pool(sessionNetworkConfiguration={"status": "EgressEnabled"})
    assert found(rules.EGRESS_ID, pool) == [("sessionNetworkConfiguration.status", "EgressEnabled", "allowedStacks")]


@pytest.mark.parametrize(
    ("stack", "config"),
    [("dev", {}), ("dev-eu", {}), ("prod", {"allowAllStacks": True}), ("staging", {"allowedStacks": ["stag*"]})],
)
def test_egress_is_allowed_where_the_config_allows_it(stack, config):
    pool = generic_pool(sessionNetworkConfiguration={"status": "EgressEnabled"})
    assert found(rules.EGRESS_ID, pool, stack, **config) == []


@pytest.mark.parametrize("network", [{"status": "EgressDisabled"}, {}, {"status": UNKNOWN}])
def test_egress_disabled_unset_or_unknown_passes(network):
    assert found(rules.EGRESS_ID, generic_pool(sessionNetworkConfiguration=network)) == []


def test_the_default_allows_egress_in_development_stacks_only():
    assert RULE[rules.EGRESS_ID].settings() == {"allowAllStacks": False, "allowedStacks": ["dev*"]}
    pool = generic_pool(sessionNetworkConfiguration={"status": "EgressEnabled"})
    assert found(rules.EGRESS_ID, pool, "production") != [] and found(rules.EGRESS_ID, pool, "develop") == []


def test_resources_that_are_no_pool_are_left_alone():
    other = Subject(
        GENERIC_RESOURCE, "vault", {"resourceProviderNamespace": "Microsoft.KeyVault", "resourceType": "vaults"}
    )
    nested = Subject(GENERIC_RESOURCE, "child", {**generic_pool().props, "parentResourcePath": "sessionPools/pool1"})
    egress = {"properties": {"sessionNetworkConfiguration": {"status": "EgressEnabled"}}}
    for subject in (other, nested):
        assert found(rules.EGRESS_ID, Subject(subject.type, subject.name, {**subject.props, **egress})) == []


# identity


def test_an_identity_with_lifecycle_main_is_reported_each_time():
    settings = [
        {"identity": "system", "lifecycle": "None"},
        {"identity": "/subscriptions/s/.../id", "lifecycle": "Main"},
        {"identity": "system", "lifecycle": "main"},
    ]
    assert found(rules.IDENTITY_ID, generic_pool(managedIdentitySettings=settings)) == [
        ("properties.managedIdentitySettings[1].lifecycle", "Main", "allowedStacks"),
        ("properties.managedIdentitySettings[2].lifecycle", "main", "allowedStacks"),
    ]


def test_identity_lifecycle_none_or_unset_passes_and_main_passes_where_allowed():
    assert found(rules.IDENTITY_ID, generic_pool(managedIdentitySettings=[{"identity": "system"}])) == []
    main = generic_pool(managedIdentitySettings=[{"identity": "system", "lifecycle": "Main"}])
    assert found(rules.IDENTITY_ID, main, "lab", allowedStacks=["lab"]) == []
    assert found(rules.IDENTITY_ID, main, "dev") != []  # no stack by default


# size


def test_max_sessions_over_the_ceiling_is_reported_and_at_it_passes():
    assert found(rules.MAX_SESSIONS_ID, generic_pool(scaleConfiguration={"maxConcurrentSessions": 101.0})) == [
        ("properties.scaleConfiguration.maxConcurrentSessions", 101, "maxSessions")
    ]
    assert found(rules.MAX_SESSIONS_ID, generic_pool(scaleConfiguration={"maxConcurrentSessions": 100})) == []
    assert found(rules.MAX_SESSIONS_ID, generic_pool(scaleConfiguration={"maxConcurrentSessions": 50}), maxSessions=20)


# region


def test_a_region_outside_the_list_is_reported_and_display_names_count_as_listed():
    assert found(rules.REGION_ID, Subject(TYPED_POOL, "p", {"location": "chinaeast2"})) == [
        ("location", "chinaeast2", "allowedRegions")
    ]
    assert found(rules.REGION_ID, Subject(TYPED_POOL, "p", {"location": "North Central US"})) == []
    assert found(rules.REGION_ID, Subject(TYPED_POOL, "p", {})) == []  # the group's region


def test_the_default_regions_are_microsofts_list_and_the_config_narrows_it():
    assert RULE[rules.REGION_ID].settings()["allowedRegions"] == list(SESSION_REGIONS)
    assert found(rules.REGION_ID, generic_pool(), allowedRegions=["swedencentral"]) != []


# API version


@pytest.mark.parametrize(
    ("version", "reported"),
    [
        ("2024-02-02-preview", True),
        ("2025-01-01", True),
        ("2025-02-02-preview", False),
        ("2025-07-01", False),
        ("2025-10-02-preview", False),
        ("latest", True),
    ],
)
def test_generic_pool_api_version_against_the_default_minimum(version, reported):
    assert bool(found(rules.API_VERSION_ID, generic_pool(api_version=version))) == reported


def test_a_preview_is_older_than_the_stable_version_of_its_date():
    pool = generic_pool(api_version="2025-07-01-preview")
    assert found(rules.API_VERSION_ID, pool, minimumApiVersion="2025-07-01") == [
        ("apiVersion", "2025-07-01-preview", "minimumApiVersion")
    ]
    assert found(rules.API_VERSION_ID, generic_pool(api_version="2025-07-01"), minimumApiVersion="2025-07-01") == []


def test_typed_pool_api_version_is_read_from_its_token():
    token = "azure-native:app/v20240802preview:ContainerAppsSessionPool"
    assert found(rules.API_VERSION_ID, Subject(token, "p", {})) == [("type", token, "minimumApiVersion")]
    assert found(rules.API_VERSION_ID, Subject(TYPED_POOL, "p", {})) == []
    assert found(rules.API_VERSION_ID, Subject(TYPED_POOL, "p", {}), minimumApiVersion="2025-07-01") != []


# grants


def test_session_executor_at_a_pool_with_a_principal_type_passes():
    assert found(rules.EXECUTOR_SCOPE_ID, grant()) == []
    assert found(rules.EXECUTOR_SCOPE_ID, grant(scope=UNKNOWN)) == []  # a preview of a pool still to be created


@pytest.mark.parametrize(
    "scope",
    [
        "/subscriptions/sub",
        "/subscriptions/sub/resourceGroups/rg",
        "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.App/managedEnvironments/env",
        POOL_ID + "/sessions/x",
    ],
)
def test_session_executor_anywhere_but_a_pool_is_reported(scope):
    assert found(rules.EXECUTOR_SCOPE_ID, grant(scope=scope)) == [("scope", scope, "enforcementLevel")]


def test_session_executor_without_a_principal_type_or_with_one_not_allowed_is_reported():
    untyped = grant()
    untyped = Subject(untyped.type, untyped.name, {k: v for k, v in untyped.props.items() if k != "principalType"})
    assert found(rules.EXECUTOR_SCOPE_ID, untyped) == [("principalType", None, "allowedPrincipalTypes")]
    assert found(rules.EXECUTOR_SCOPE_ID, grant(principalType="User"), allowedPrincipalTypes=["ServicePrincipal"])


def test_other_roles_are_not_the_executor_rules_business():
    reader = "af61e8fc-2633-4b95-bed3-421ad6826515"
    assert found(rules.EXECUTOR_SCOPE_ID, grant(role=reader, scope="/subscriptions/sub")) == []


def test_a_contributor_grant_is_reported_unless_allowed():
    contributor = grant(role=SESSION_POOLS_CONTRIBUTOR.upper())
    assert [key for _, _, key in found(rules.CONTRIBUTOR_ID, contributor)] == ["allowedStacks"]
    assert found(rules.CONTRIBUTOR_ID, contributor, "ops", allowedStacks=["ops"]) == []
    assert found(rules.CONTRIBUTOR_ID, grant()) == []


# stack rules


def test_a_production_pool_protected_and_locked_passes():
    subjects = [generic_pool(protect=True), lock(deps=("urn:pool",))]
    assert found_in_stack(rules.PRODUCTION_ID, subjects) == []


def test_a_production_pool_unprotected_or_unlocked_is_reported():
    assert found_in_stack(rules.PRODUCTION_ID, [generic_pool(protect=False), lock()]) == [("pool", "protect", False)]
    assert found_in_stack(rules.PRODUCTION_ID, [generic_pool(protect=True)]) == [("pool", "management lock", None)]
    other = lock(scope="/subscriptions/sub/resourceGroups/rg/providers/Microsoft.App/sessionPools/pool2")
    assert found_in_stack(rules.PRODUCTION_ID, [generic_pool(protect=True), other]) != []


def test_a_lock_at_a_level_not_listed_is_reported_with_its_key():
    rule = RULE[rules.PRODUCTION_ID]
    subjects = [generic_pool(protect=True), lock(level="ReadOnly")]
    violations = rule.check(subjects, rule.settings({"lockLevels": ["CanNotDelete"]}), "prod")
    assert [(v.value, v.config_key) for _, v in violations] == [("ReadOnly", "lockLevels")]


def test_a_lock_at_resource_level_counts_for_the_pool_it_names():
    at_resource = Subject(
        LOCK_AT_RESOURCE,
        "lock",
        {
            "resourceProviderNamespace": "Microsoft.App",
            "resourceType": "sessionPools",
            "parentResourcePath": "",
            "resourceName": "pool1",
            "level": "CanNotDelete",
        },
    )
    assert found_in_stack(rules.PRODUCTION_ID, [generic_pool(protect=True), at_resource]) == []


def test_only_production_stacks_need_protect_and_a_lock():
    assert found_in_stack(rules.PRODUCTION_ID, [generic_pool()], "dev") == []
    assert found_in_stack(rules.PRODUCTION_ID, [generic_pool()], "live", productionStacks=["live"]) != []
    assert found_in_stack(rules.PRODUCTION_ID, [generic_pool()], "production") != []  # prod* by default


def test_every_pool_needs_a_session_executor_grant_at_its_scope():
    pool = generic_pool()
    assert found_in_stack(rules.EXECUTOR_PRESENT_ID, [pool]) == [("pool", "Session Executor grants", 0)]
    assert found_in_stack(rules.EXECUTOR_PRESENT_ID, [pool, grant()]) == []  # by the pool's name in its id
    assert found_in_stack(rules.EXECUTOR_PRESENT_ID, [pool, grant(scope=UNKNOWN, deps=("urn:pool",))]) == []
    contributor_only = grant(role=SESSION_POOLS_CONTRIBUTOR)
    assert found_in_stack(rules.EXECUTOR_PRESENT_ID, [pool, contributor_only]) != []
    assert found_in_stack(rules.EXECUTOR_PRESENT_ID, [pool], minimumGrants=0) == []


def test_settings_take_the_defaults_and_ignore_keys_of_no_rule():
    rule = RULE[rules.MAX_SESSIONS_ID]
    assert rule.settings({"maxSessions": 7, "enforcementLevel": "advisory"}) == {"maxSessions": 7}
    assert rule.settings(None) == {"maxSessions": 100}


def test_every_rule_has_an_id_a_description_a_level_and_documented_settings():
    assert len({rule.id for rule in RULES}) == len(RULES) == 9
    for rule in RULES:
        assert rule.id.startswith("azurenative-") and rule.description and rule.protects
        assert rule.enforcement in (rules.MANDATORY, rules.ADVISORY)
        assert rule.config and all("default" in spec and spec["description"] for spec in rule.config.values())


def test_a_pool_as_its_outputs_show_it_to_a_stack_policy_is_recognised():
    # Once created, the engine hands stack policies a resource's outputs: ARM's type and name, not the inputs.
    outputs = {
        "type": "Microsoft.App/sessionPools",
        "name": "pool1",
        "location": "westus2",
        "azureApiVersion": "2025-10-02-preview",
        "properties": {"sessionNetworkConfiguration": {"status": "EgressDisabled"}},
    }
    pool = Subject(GENERIC_RESOURCE, "pool", outputs, urn="urn:pool")
    assert found_in_stack(rules.EXECUTOR_PRESENT_ID, [pool]) == [("pool", "Session Executor grants", 0)]
    assert found_in_stack(rules.EXECUTOR_PRESENT_ID, [pool, grant()]) == []  # its id ends in the pool's name
    assert found_in_stack(rules.PRODUCTION_ID, [pool, lock()], "prod") == [("pool", "protect", False)]
    assert found(rules.API_VERSION_ID, pool, minimumApiVersion="2026-01-01") != []
