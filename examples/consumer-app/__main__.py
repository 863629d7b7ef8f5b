"""An app's own stack that calls a dynamic-sessions pool deployed by another stack.

Reads the pool stack's outputs, creates a user-assigned managed identity for the app, grants it the
Session Executor role on the pool from this side (the pool's stack needs no edit, so neither stack
depends on the other in a circle), and exports the settings the app runs with.

This stack owns the grant: the pool stack must not list the same identity in its `executors`, or the
second of the two `pulumi up`s fails ("cannot create already existing resource"), and destroying either
stack would delete the assignment the other one declared.
"""

import pulumi
import pulumi_dynamic_sessions as dynamic_sessions
from pulumi_azure_native import managedidentity, resources

# pulumi_dynamic_sessions is the SDK `pulumi package add` generated from this repository's provider/ (recorded
# under `packages:` in Pulumi.yaml; `pulumi install` generates it again in a fresh clone).

config = pulumi.Config()
pool = pulumi.StackReference(config.require("poolStack"))
# require_output: a missing output fails the update by name instead of handing the app None.
endpoint = pool.require_output("poolManagementEndpoint")
pool_id = pool.require_output("poolId")
location = pool.require_output("location")

group = resources.ResourceGroup("app-rg", location=location)
identity = managedidentity.UserAssignedIdentity(
    "app-identity",
    resource_group_name=group.name,
    location=group.location,
)
grant = dynamic_sessions.SessionExecutorGrant(
    "app-runs-code",
    pool_id=pool_id,
    principal_id=identity.principal_id,
    # A managed identity is a service principal; without the type a new identity may not be found yet.
    principal_type="ServicePrincipal",
)

# The app's settings: the endpoint to call, and the identity DefaultAzureCredential should use.
pulumi.export("POOL_MANAGEMENT_ENDPOINT", endpoint)
pulumi.export("AZURE_CLIENT_ID", identity.client_id)
pulumi.export("identityId", identity.id)
pulumi.export("roleAssignmentId", grant.role_assignment_id)
