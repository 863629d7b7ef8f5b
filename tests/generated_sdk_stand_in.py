"""Stands in for `pulumi_dynamic_sessions`, the Python SDK `pulumi package add <repository>/provider` generates
from the package schema (which needs the Pulumi CLI, absent here).

Each class has the generated SDK's shape (the resource name, then `opts`, then the schema's inputs as keyword
arguments in snake_case) and builds the component the provider process would build, so a consumer program
written against the generated SDK runs under the mock runtime as it would under `pulumi up`.
`tests/contract/test_consumer_requirements.py` holds the keyword arguments to the committed schema.
"""

import sys
import types
from typing import Any

import pulumi

from components.executor_grant import SessionExecutorGrant as _Grant
from components.session_pool import SessionPool as _Pool

MODULE = "pulumi_dynamic_sessions"


class SessionExecutorGrant(_Grant):
    def __init__(
        self,
        resource_name: str,
        opts: pulumi.ResourceOptions | None = None,
        *,
        pool_id: Any,
        principal_id: Any,
        principal_type: Any,
        grant_contributor: bool | None = None,
    ) -> None:
        args: dict[str, Any] = {"pool_id": pool_id, "principal_id": principal_id, "principal_type": principal_type}
        if grant_contributor is not None:
            args["grant_contributor"] = grant_contributor
        super().__init__(resource_name, args, opts)  # type: ignore[arg-type]


class SessionPool(_Pool):
    def __init__(self, resource_name: str, opts: pulumi.ResourceOptions | None = None, **inputs: Any) -> None:
        super().__init__(resource_name, {k: v for k, v in inputs.items() if v is not None}, opts)  # type: ignore[arg-type]


def install() -> None:
    """Makes `import pulumi_dynamic_sessions` find this stand-in."""
    module = types.ModuleType(MODULE, __doc__)
    module.SessionExecutorGrant = SessionExecutorGrant  # type: ignore[attr-defined]
    module.SessionPool = SessionPool  # type: ignore[attr-defined]
    sys.modules[MODULE] = module
