"""The deploying identity's principal type, read from its token's claims: every kind of sign-in, directly."""

import pytest

from components.deployer import principal_type_of, token_claims
from tests.pulumi_harness import (
    DEPLOYER,
    MANAGED_IDENTITY_CLAIMS,
    OIDC_CI_CLAIMS,
    SERVICE_PRINCIPAL_CLAIMS,
    USER_CLAIMS,
    jwt_with,
)


@pytest.mark.parametrize(
    ("who", "claims", "expected"),
    [
        ("az login as a person", USER_CLAIMS, "User"),
        ("a service principal with a secret", SERVICE_PRINCIPAL_CLAIMS, "ServicePrincipal"),
        ("a managed identity", MANAGED_IDENTITY_CLAIMS, "ServicePrincipal"),
        ("OIDC in CI", OIDC_CI_CLAIMS, "ServicePrincipal"),
        ("a delegated token without idtyp", {"oid": DEPLOYER, "scp": "user_impersonation"}, "User"),
        ("an app-only token without idtyp", {"oid": DEPLOYER, "appid": "client-id", "roles": []}, "ServicePrincipal"),
    ],
)
def test_the_type_is_derived_from_the_tokens_claims(who, claims, expected):
    kind, evidence = principal_type_of(token_claims(jwt_with(claims)))
    assert kind == expected, who
    assert evidence


def test_claims_are_read_from_the_token_and_garbage_gives_none():
    assert token_claims(jwt_with(MANAGED_IDENTITY_CLAIMS)) == MANAGED_IDENTITY_CLAIMS
    assert token_claims("not-a-jwt") == {} and token_claims("a.b!.c") == {}
    assert principal_type_of({}) == (None, "neither an idtyp nor an scp claim in its token")
