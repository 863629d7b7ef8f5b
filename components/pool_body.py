"""The session pool as Azure Resource Manager receives it, at the one API version the pool is declared at.

The pool is declared with azure-native's generic `resources.Resource`, which sends `properties` as given
and returns them as ARM answers: so the body here is written in the shape of API_VERSION's published spec
(`tests/vendor/azure-rest-api-specs/`), and the outputs are read from that version's response shape.
"""

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi_azure_native import resources

from components.settings import SYSTEM_IDENTITY
from dynamic_sessions import api_versions
from dynamic_sessions.azure_facts import EGRESS_STATUS

API_VERSION = api_versions.POOL_API_VERSION
"""Written once in `dynamic_sessions.api_versions`: the newest published `Microsoft.App/sessionPools` version whose
spec lists NodeLTS, Shell and `mcpServerSettings` (no GA version lists them); the SDK's typed pool sends
2025-02-02-preview, whose spec lists none of them. When it moves, and to what: docs/reference/how-it-works.md,
"Which API version the pool is sent at"."""
PROVIDER_NAMESPACE = "Microsoft.App"
RESOURCE_TYPE = "sessionPools"
REPLACED_ON_CHANGE = ("location", "properties.containerType", "properties.poolManagementType")
"""Inputs a change of which replaces the pool: ARM's spec for the pool marks them create-only (or the
service refuses their update), which the generic resource does not know."""
TYPED_POOL_TYPE = "azure-native:app:ContainerAppsSessionPool"
"""The type token the pool had before: an alias, so the engine diffs the pool instead of creating a second one."""


def egress_status(enabled: bool) -> str:
    return EGRESS_STATUS[enabled]


def lifecycle_configuration(lifecycle_type: str, cooldown: pulumi.Input[int]) -> dict[str, Any]:
    """Built-in pools are `Timed`: a session ends `cooldown` seconds after its last request."""
    return {"lifecycleType": lifecycle_type, "cooldownPeriodInSeconds": cooldown}


def _egress(enabled: pulumi.Input[bool]) -> pulumi.Input[str]:
    """The egress status: a value when the setting is known now, an Output when it is known at deploy time."""
    known: Any = enabled
    if isinstance(known, bool):
        return egress_status(known)
    return pulumi.Output.from_input(known).apply(egress_status)


def pool_properties(
    *,
    container_type: pulumi.Input[str],
    max_sessions: pulumi.Input[int],
    ready_sessions: pulumi.Input[int] | None,
    cooldown_seconds: pulumi.Input[int],
    egress_enabled: pulumi.Input[bool],
    lifecycle_type: str,
    identities: tuple[str, ...],
    identity_lifecycle: str,
    mcp_server: bool,
) -> dict[str, Any]:
    """ARM's `properties` of the pool; inputs may be Outputs, which the engine resolves inside the map. Every input
    is required: the defaults are the settings table's (`properties_of`)."""
    scale: dict[str, Any] = {"maxConcurrentSessions": max_sessions}
    if ready_sessions is not None:
        scale["readySessionInstances"] = ready_sessions
    properties: dict[str, Any] = {
        "containerType": container_type,
        "poolManagementType": "Dynamic",
        "scaleConfiguration": scale,
        "dynamicPoolConfiguration": {
            "lifecycleConfiguration": lifecycle_configuration(lifecycle_type, cooldown_seconds)
        },
        "sessionNetworkConfiguration": {"status": _egress(egress_enabled)},
    }
    if mcp_server:
        # Only when on: a PUT replaces the whole body, and the spec's default for a pool without it is off.
        properties["mcpServerSettings"] = {"isMcpServerEnabled": True}
    if identities:
        properties["managedIdentitySettings"] = [
            {"identity": identity, "lifecycle": identity_lifecycle} for identity in identities
        ]
    return properties


def properties_of(given: Mapping[str, Any]) -> dict[str, Any]:
    """The pool's `properties` for a `SessionPool`'s inputs, each given or its default
    (`components.settings.with_defaults`): where each setting lands in the body."""
    return pool_properties(
        container_type=given["container_type"],
        max_sessions=given["max_sessions"],
        ready_sessions=given["ready_sessions"],
        cooldown_seconds=given["cooldown_seconds"],
        egress_enabled=given["egress_enabled"],
        lifecycle_type=given["lifecycle_type"],
        identities=tuple(given["identity"]),
        identity_lifecycle=given["identity_lifecycle"],
        mcp_server=given["mcp_server"],
    )


def identity_type(identities: tuple[str, ...]) -> str | None:
    """ARM's identity type for the pool (the v5 common-types spelling), None when it has no identity."""
    system = SYSTEM_IDENTITY in identities
    user = any(identity != SYSTEM_IDENTITY for identity in identities)
    if system and user:
        return "SystemAssigned,UserAssigned"
    return "SystemAssigned" if system else "UserAssigned" if user else None


def user_assigned(identities: tuple[str, ...]) -> list[str]:
    return [identity for identity in identities if identity != SYSTEM_IDENTITY]


def identity_args(identities: tuple[str, ...]) -> resources.IdentityArgs | None:
    """The generic resource's identity input; the provider sends its list of ids as ARM's map of id -> {}."""
    kind = identity_type(identities)
    if kind is None:
        return None
    return resources.IdentityArgs(type=kind, user_assigned_identities=user_assigned(identities) or None)
