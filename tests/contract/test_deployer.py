"""The deployer's grant carries the principal type of whoever runs `pulumi up`, or nothing is declared."""

import json

import pulumi
import pytest

from tests.pulumi_harness import (
    DEPLOYER,
    MANAGED_IDENTITY_CLAIMS,
    OIDC_CI_CLAIMS,
    PROJECT,
    SERVICE_PRINCIPAL_CLAIMS,
    USER_CLAIMS,
    AzureMocks,
    jwt_with,
    run_program,
    stack_config,
)

ASSIGNMENT = "azure-native:authorization:RoleAssignment"
SILENT = {"oid": DEPLOYER}


def _deployer_grant(claims: dict, overrides: dict[str, str], stack: str = "dev") -> pulumi.Output:
    mocks = AzureMocks(claims)
    config = {**stack_config(stack), **{f"{PROJECT}:{k}": v for k, v in overrides.items()}}
    _, exports, program = run_program(config, stack=stack, mocks=mocks)
    ids = [a.id for a in program["pool"].role_assignments]
    return pulumi.Output.all(exports["grants"], *ids).apply(
        lambda values: (values[0], [a.inputs for a in mocks.of_type(ASSIGNMENT) if a.inputs["principalId"] == DEPLOYER])
    )


@pytest.mark.parametrize(
    ("who", "claims", "expected"),
    [
        # Every kind of token, read directly: tests/unit/settings/test_deployer_claims.py.
        ("az login as a person", USER_CLAIMS, "User"),
        ("OIDC in CI", OIDC_CI_CLAIMS, "ServicePrincipal"),
    ],
)
@pulumi.runtime.test
def test_the_type_is_derived_from_the_identity_deploying(who, claims, expected):
    def check(values):
        exported, (sent,) = values
        assert sent["principalType"] == expected, who
        assert [g["principalType"] for g in exported if g["principalId"] == DEPLOYER] == [expected]

    return _deployer_grant(claims, {}).apply(check)


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pulumi.runtime.test
def test_a_committed_stack_deploys_from_a_laptop_and_from_ci_alike(stack):
    laptop = _deployer_grant(USER_CLAIMS, {}, stack)
    ci = _deployer_grant(OIDC_CI_CLAIMS, {"deployerPrincipalType": "ServicePrincipal"}, stack)

    def check(values):
        (_, (on_laptop,)), (_, (in_ci,)) = values
        assert (on_laptop["principalType"], in_ci["principalType"]) == ("User", "ServicePrincipal")

    return pulumi.Output.all(laptop, ci).apply(check)


@pytest.mark.parametrize(
    ("configured", "claims", "derived", "evidence"),
    [
        ("ServicePrincipal", USER_CLAIMS, "User", "token claim idtyp=user"),
        ("User", SERVICE_PRINCIPAL_CLAIMS, "ServicePrincipal", "token claim idtyp=app"),
        ("User", MANAGED_IDENTITY_CLAIMS, "ServicePrincipal", "a managed identity"),
        ("User", OIDC_CI_CLAIMS, "ServicePrincipal", "token claim idtyp=app"),
    ],
)
def test_a_type_the_identity_contradicts_is_refused_before_any_resource(configured, claims, derived, evidence):
    mocks = AzureMocks(claims)
    config = {**stack_config("dev"), f"{PROJECT}:deployerPrincipalType": configured}
    with pytest.raises(pulumi.RunError) as raised:
        run_program(config, mocks=mocks)
    message = str(raised.value)
    assert f"deployerPrincipalType={configured} contradicts the identity deploying" in message
    assert f"object id {DEPLOYER} signs in as a {derived}" in message and evidence in message
    assert f"pulumi config set {PROJECT}:deployerPrincipalType {derived}" in message
    assert f"pulumi config rm {PROJECT}:deployerPrincipalType" in message
    assert mocks.resources == []


def test_a_type_that_cannot_be_derived_must_be_set():
    mocks = AzureMocks(SILENT)
    with pytest.raises(pulumi.RunError) as raised:
        run_program(stack_config("dev"), mocks=mocks)
    assert "deployerPrincipalType=auto cannot be derived" in str(raised.value)
    assert f"pulumi config set {PROJECT}:deployerPrincipalType User" in str(raised.value)
    assert mocks.resources == []


@pulumi.runtime.test
def test_a_set_type_is_used_when_the_token_says_nothing():
    return _deployer_grant(SILENT, {"deployerPrincipalType": "ServicePrincipal"}).apply(
        lambda values: _only_type(values, "ServicePrincipal")
    )


def _only_type(values, expected: str) -> None:
    _, (sent,) = values
    assert sent["principalType"] == expected


@pulumi.runtime.test
def test_without_the_deployer_grant_no_token_is_asked_for():
    mocks = AzureMocks(SILENT)
    config = {**stack_config("dev"), f"{PROJECT}:grantDeployer": "false"}
    _, exports, _ = run_program(config, mocks=mocks)

    def check(grants):
        assert grants == []
        assert "azure-native:authorization:getClientToken" not in mocks.calls

    return exports["grants"].apply(check)


@pulumi.runtime.test
def test_the_token_is_in_no_output_nor_any_input():
    token = jwt_with(USER_CLAIMS)
    mocks = AzureMocks(USER_CLAIMS)
    _, exports, _ = run_program(stack_config("dev"), mocks=mocks)
    names = sorted(exports)

    def check(values):
        everything = json.dumps([values, [r.inputs for r in mocks.resources]], default=str)
        assert "azure-native:authorization:getClientToken" in mocks.calls
        assert token not in everything and token.split(".")[1] not in everything

    return pulumi.Output.all(*(exports[n] for n in names)).apply(check)
