"""One role assignment on a pool, named by the rule both components share, so a grant has one name
whichever stack declares it (the pool's own, or a consuming app's)."""

import pulumi
from pulumi_azure_native import authorization

from components.roles import PRINCIPAL_TYPES, role_assignment_name, role_definition_id, subscription_of


def check_principal_type(value: str) -> str:
    """The principal type itself, or a ValueError naming it and what ARM accepts."""
    if value not in PRINCIPAL_TYPES:
        raise ValueError(f"principalType={value!r} is not allowed: one of {', '.join(PRINCIPAL_TYPES)}")
    return value


def assign_role(
    resource_name: str,
    *,
    scope: pulumi.Input[str],
    principal_id: pulumi.Input[str],
    principal_type: pulumi.Input[str],
    role_guid: str,
    description: str,
    parent: pulumi.Resource,
    protect: bool = False,
) -> authorization.RoleAssignment:
    """Grants `role_guid` to the principal at `scope` (a pool's id).

    The assignment's name is derived from (scope, principal, role), so every deploy of the owning stack names
    it alike. A second owner would not share it: the provider refuses to create an assignment that already
    exists ("cannot create already existing resource"), so each grant has one declaring stack, and an
    assignment whose state was lost is adopted with `pulumi import`. The role definition lives in the
    scope's subscription, which may differ from the deployer's.
    """
    scope_output = pulumi.Output.from_input(scope)
    return authorization.RoleAssignment(
        resource_name,
        role_assignment_name=pulumi.Output.all(scope_output, principal_id).apply(
            lambda parts: role_assignment_name(parts[0], parts[1], role_guid)
        ),
        scope=scope_output,
        principal_id=principal_id,
        # Without it the SDK sends `User`, which fails for service principals and new identities.
        principal_type=pulumi.Output.from_input(principal_type).apply(check_principal_type),
        role_definition_id=scope_output.apply(lambda pool_id: role_definition_id(subscription_of(pool_id), role_guid)),
        description=description,
        opts=pulumi.ResourceOptions(parent=parent, protect=protect),
    )
