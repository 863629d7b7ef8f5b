"""Who runs `pulumi up`: the deploying identity's object id and principal type, known before any resource.

The azure-native provider's client config gives the object id but not the type. The type is in the
identity's own ARM access token (`authorization.get_client_token`): Microsoft Entra ID sets `idtyp` to
`user` or `app`; a token without it is delegated (a user's) when it carries `scp`, app-only otherwise. A
managed identity and a workload-identity (OIDC) login in CI both get app-only tokens: service principals.
The token is decoded here to read those claims and is never stored, logged or exported.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from pulumi_azure_native import authorization

from components.settings import BY_INPUT, NAMESPACE, SettingsError

KEY = BY_INPUT["deployer_principal_type"].key


@dataclass(frozen=True)
class Deployer:
    object_id: str
    principal_type: str


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified (the token is the deployer's own, fresh from its credential)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def principal_type_of(claims: dict[str, Any]) -> tuple[str | None, str]:
    """(`User` | `ServicePrincipal` | None, the evidence), from an access token's claims."""
    kind = claims.get("idtyp")
    if kind == "user":
        return "User", "token claim idtyp=user"
    if kind == "app":
        evidence = "token claim idtyp=app" + (", a managed identity (xms_mirid)" if "xms_mirid" in claims else "")
        return "ServicePrincipal", evidence
    if "scp" in claims:
        return "User", "a delegated token (scp claim, no idtyp)"
    if claims.get("oid") and ("appid" in claims or "azp" in claims):
        return "ServicePrincipal", "an app-only token (no scp claim, no idtyp)"
    return None, "neither an idtyp nor an scp claim in its token"


def resolve_principal_type(configured: str, object_id: str, claims: dict[str, Any]) -> str:
    """The type to grant the deployer: the derived one, or `configured` when it agrees (or cannot be checked
    because the token says nothing). Raises SettingsError naming both and the fix when they disagree."""
    derived, evidence = principal_type_of(claims)
    set_it = f"pulumi config set {NAMESPACE}:{KEY}"
    if derived is None:
        if configured == "auto":
            raise SettingsError(
                [
                    f"{KEY}=auto cannot be derived: the identity deploying (object id {object_id}) has {evidence}; "
                    f"run `{set_it} User` or `{set_it} ServicePrincipal`"
                ]
            )
        return configured
    if configured not in ("auto", derived):
        raise SettingsError(
            [
                f"{KEY}={configured} contradicts the identity deploying: object id {object_id} signs in as a "
                f"{derived} ({evidence}); run `{set_it} {derived}`, or `pulumi config rm {NAMESPACE}:{KEY}` "
                "to derive it on every deploy"
            ]
        )
    return derived


def current_deployer(configured: str) -> Deployer:
    """Asks the azure-native provider who is deploying, synchronously, so that a contradiction stops the
    deployment before the group, the pool or any grant is declared."""
    client = authorization.get_client_config()
    claims = token_claims(authorization.get_client_token().token)
    return Deployer(client.object_id, resolve_principal_type(configured, client.object_id, claims))
