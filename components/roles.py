"""Built-in Azure roles this package grants, and idempotent role-assignment names."""

import uuid

BUILT_IN_ROLES = {
    "Azure ContainerApps Session Executor": "0fb8eba5-a2bb-4abe-b1c1-49dfad359bb0",
    "Container Apps SessionPools Contributor": "f7669afb-68b2-44b4-9c5f-6d2a47fddda0",
    "Container Apps SessionPools Reader": "af61e8fc-2633-4b95-bed3-421ad6826515",
}
"""Role name -> role definition GUID. Executors get only the Session Executor role (least privilege)."""

SESSION_EXECUTOR = BUILT_IN_ROLES["Azure ContainerApps Session Executor"]
SESSION_POOLS_CONTRIBUTOR = BUILT_IN_ROLES["Container Apps SessionPools Contributor"]
"""Opt-in only: manages pools (create, update, delete); some Microsoft pages ask callers for it too."""

PRINCIPAL_TYPES = ("User", "Group", "ServicePrincipal")
"""What ARM accepts as a role assignment's principalType (managed identities are service principals)."""

# A fixed namespace makes the assignment name a pure function of its inputs, like Bicep's guid().
_NAMESPACE = uuid.UUID("6f1f3c52-5d0e-4f0b-9a51-3f8f2b1c9d77")


def role_definition_id(subscription_id: str, role_guid: str) -> str:
    """The subscription-scoped id ARM expects for a built-in role definition."""
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"


def subscription_of(resource_id: str) -> str:
    """The subscription id in an ARM resource id, such as a pool's (`/subscriptions/<id>/resourceGroups/...`)."""
    parts = resource_id.strip("/").split("/")
    if len(parts) < 2 or parts[0].lower() != "subscriptions" or not parts[1]:
        raise ValueError(f"not an ARM resource id with a subscription: {resource_id!r}")
    return parts[1]


def role_assignment_name(scope: str, principal_id: str, role_guid: str) -> str:
    """A GUID derived from (scope, principal, role): the same inputs give the same name on every deploy, so
    a second `pulumi up` changes nothing and `pulumi import` after a lost state knows which id to adopt."""
    key = "|".join(part.strip().lower() for part in (scope, principal_id, role_guid))
    return str(uuid.uuid5(_NAMESPACE, key))
