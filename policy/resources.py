"""What the rules look at: session pools, their role assignments and their locks, however a program declares them.

A pool is declared in one of three ways, each recognised here from the type token and the inputs the engine
hands a policy:
- azure-native's typed resource, `azure-native:app:ContainerAppsSessionPool` (or a versioned token such as
  `azure-native:app/v20241002preview:ContainerAppsSessionPool`, from a local SDK of another API version);
- azure-native's generic resource, `azure-native:resources:Resource`, of `Microsoft.App/sessionPools`, at any
  API version (what a program converted from Bicep or ARM declares);
- this project's `SessionPool` component, which declares its pool as that generic resource.

Values a preview cannot know yet arrive as `UNKNOWN`: a rule never reports one.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from policy.roles import SESSION_EXECUTOR, SESSION_POOLS_CONTRIBUTOR


class _Unknown:
    """A value the engine does not know yet (during a preview, an output of a resource still to be created)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()

TYPED_POOL = "azure-native:app:ContainerAppsSessionPool"
TYPED_POOL_API_VERSION = "2025-02-02-preview"
"""The API version azure-native 3.x sends for the typed pool (its SDK docs: 'Uses Azure REST API version
2025-02-02-preview'); a versioned token names its own."""
GENERIC_RESOURCE = "azure-native:resources:Resource"
POOL_NAMESPACE = "microsoft.app"
POOL_RESOURCE_TYPE = "sessionpools"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
LOCK_BY_SCOPE = "azure-native:authorization:ManagementLockByScope"
LOCK_AT_RESOURCE = "azure-native:authorization:ManagementLockAtResourceLevel"
_VERSIONED_TYPED_POOL = re.compile(r"^azure-native:app/v(\d{4})(\d{2})(\d{2})(preview)?:ContainerAppsSessionPool$")
_POOL_SCOPE = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.App/sessionPools/[^/]+$", re.IGNORECASE
)


def lookup(props: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, None where a key is missing, UNKNOWN where a value is not known yet."""
    value: Any = props
    for key in path.split("."):
        if value is UNKNOWN:
            return UNKNOWN
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


@dataclass(frozen=True)
class Pool:
    """A session pool's settings the rules read, with where each sits in the resource's inputs."""

    api_version: Any
    prefix: str
    """Where the pool's ARM `properties` sit in the inputs: `properties.` in the generic resource, top level in
    the typed one."""
    props: Mapping[str, Any]

    def get(self, path: str) -> Any:
        return lookup(self.props, self.prefix + path)

    def path(self, path: str) -> str:
        return self.prefix + path


def typed_api_version(resource_type: str) -> str | None:
    """The API version a typed pool's token stands for, None when the token is not a typed pool's."""
    if resource_type == TYPED_POOL:
        return TYPED_POOL_API_VERSION
    match = _VERSIONED_TYPED_POOL.match(resource_type)
    if match is None:
        return None
    year, month, day, preview = match.groups()
    return f"{year}-{month}-{day}" + ("-preview" if preview else "")


def is_generic_pool(resource_type: str, props: Mapping[str, Any]) -> bool:
    """A generic resource of `Microsoft.App/sessionPools`: by its inputs (what a resource policy sees), or by ARM's
    `type` in its outputs (what a stack policy sees once the resource exists)."""
    if resource_type != GENERIC_RESOURCE:
        return False
    arm_type = lookup(props, "type")
    if isinstance(arm_type, str) and arm_type.lower() == f"{POOL_NAMESPACE}/{POOL_RESOURCE_TYPE}":
        return True
    namespace, kind = lookup(props, "resourceProviderNamespace"), lookup(props, "resourceType")
    return (
        isinstance(namespace, str)
        and isinstance(kind, str)
        and namespace.lower() == POOL_NAMESPACE
        and kind.lower() == POOL_RESOURCE_TYPE
        and not lookup(props, "parentResourcePath")
    )


def pool_of(resource_type: str, props: Mapping[str, Any]) -> Pool | None:
    """The pool a resource declares, or None when it is not a session pool."""
    version = typed_api_version(resource_type)
    if version is not None:
        return Pool(api_version=version, prefix="", props=props)
    if is_generic_pool(resource_type, props):
        version = lookup(props, "apiVersion")
        return Pool(
            api_version=lookup(props, "azureApiVersion") if version is None else version,
            prefix="properties.",
            props=props,
        )
    return None


def pool_name(resource_type: str, props: Mapping[str, Any]) -> Any:
    """The pool's Azure name: `resourceName` of the generic resource, `sessionPoolName` of the typed one, or ARM's
    `name` in the outputs."""
    name = lookup(props, "resourceName" if resource_type == GENERIC_RESOURCE else "sessionPoolName")
    return lookup(props, "name") if name is None else name


def role_guid(props: Mapping[str, Any]) -> Any:
    """The role definition GUID a role assignment grants (the last segment of its roleDefinitionId), lowercase."""
    definition = lookup(props, "roleDefinitionId")
    if not isinstance(definition, str):
        return definition
    return definition.rstrip("/").rsplit("/", 1)[-1].lower()


def grants_role(resource_type: str, props: Mapping[str, Any], role: str) -> bool:
    return resource_type == ROLE_ASSIGNMENT and role_guid(props) == role


def is_executor_grant(resource_type: str, props: Mapping[str, Any]) -> bool:
    return grants_role(resource_type, props, SESSION_EXECUTOR)


def is_contributor_grant(resource_type: str, props: Mapping[str, Any]) -> bool:
    return grants_role(resource_type, props, SESSION_POOLS_CONTRIBUTOR)


def is_pool_scope(scope: str) -> bool:
    """Whether an ARM scope is one session pool (not its group, its subscription, nor a child of it)."""
    return _POOL_SCOPE.match(scope) is not None


def is_lock(resource_type: str) -> bool:
    return resource_type in (LOCK_BY_SCOPE, LOCK_AT_RESOURCE)
