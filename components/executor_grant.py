"""The consumer-side grant: an app's own stack gives its identity the Session Executor role on a pool."""

from typing import NotRequired, TypedDict

import pulumi

from components.grants import assign_role, check_principal_type
from components.roles import SESSION_EXECUTOR, SESSION_POOLS_CONTRIBUTOR, role_definition_id, subscription_of
from components.settings import NAMESPACE


class SessionExecutorGrantArgs(TypedDict):
    """Inputs of a `SessionExecutorGrant`."""

    pool_id: pulumi.Input[str]
    """The pool's ARM resource id: the pool stack's `poolId` output (read it with a StackReference)."""
    principal_id: pulumi.Input[str]
    """The object id (a GUID) of the identity to grant, such as a user-assigned identity's `principalId`."""
    principal_type: pulumi.Input[str]
    """`User`, `Group` or `ServicePrincipal` (managed identities are service principals); sent as given."""
    grant_contributor: NotRequired[bool]
    """Also grant Container Apps SessionPools Contributor (manages the pool); default false, least privilege."""


class SessionExecutorGrant(pulumi.ComponentResource):
    """Grants one identity the Azure ContainerApps Session Executor role on a session pool.

    The app's own stack owns this grant: the pool stack must not also list the identity in `executors`.
    Both would name the assignment alike (pool id, principal id, role), and the second `pulumi up` to
    declare it fails with "cannot create already existing resource", as the provider refuses to adopt it.
    """

    role_assignment_id: pulumi.Output[str]
    """The ARM id of the Session Executor role assignment."""
    role_assignment_name: pulumi.Output[str]
    """The assignment's name: a GUID derived from (pool id, principal id, role)."""
    role_definition_id: pulumi.Output[str]
    """The Session Executor role definition id in the pool's subscription."""

    def __init__(self, name: str, args: SessionExecutorGrantArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{NAMESPACE}:index:SessionExecutorGrant", name, {}, opts)
        principal_type = args["principal_type"]
        if isinstance(principal_type, str):
            check_principal_type(principal_type)  # fails at once, before any resource, when it is known

        def grant(suffix: str, role_guid: str, description: str):
            return assign_role(
                f"{name}-{suffix}",
                scope=args["pool_id"],
                principal_id=args["principal_id"],
                principal_type=principal_type,
                role_guid=role_guid,
                description=description,
                parent=self,
            )

        executor = grant("executor", SESSION_EXECUTOR, "Run code in the dynamic-sessions pool")
        self.assignments = [executor]
        if args.get("grant_contributor", False):
            self.assignments.append(
                grant("contributor", SESSION_POOLS_CONTRIBUTOR, "Manage the dynamic-sessions pool (opt-in)")
            )

        self.role_assignment_id = executor.id
        self.role_assignment_name = executor.name
        self.role_definition_id = pulumi.Output.from_input(args["pool_id"]).apply(
            lambda pool_id: role_definition_id(subscription_of(pool_id), SESSION_EXECUTOR)
        )
        self.register_outputs(
            {
                "role_assignment_id": self.role_assignment_id,
                "role_assignment_name": self.role_assignment_name,
                "role_definition_id": self.role_definition_id,
            }
        )
