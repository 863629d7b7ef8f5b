"""Runs one tree's Pulumi program for one stack under Pulumi's mock runtime and prints, as JSON, every resource it
registers: its URN, type, name, parent, inputs and the options that decide a replacement (aliases,
replaceOnChanges).

    python ci/upgrade_record.py <tree> <stack>...

Run as a script by `python -m ci upgrade-check`, once per tree, each tree in a process of its own: the program
imports its own `components` from <tree>, so two trees' programs never share a module. It prints one JSON object,
each stack's list of resources. It imports
nothing from this repository itself, so the same recorder reads an old tree and the working tree alike.
It needs no Pulumi CLI and no Azure: the mocks answer as Azure Resource Manager would, in shape only.
"""

import base64
import json
import os
import runpy
import sys
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DEPLOYER = "00000000-0000-0000-0000-0000000000d1"
GENERIC_RESOURCE = "azure-native:resources:Resource"
TYPED_POOL = "azure-native:app:ContainerAppsSessionPool"
"""How the pool was declared before it moved to the generic resource: older trees still declare it so."""


def _unsigned_token(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.x"


class ArmShapes(pulumi.runtime.Mocks):
    """Ids and answers in Azure Resource Manager's shapes: enough for a program's outputs to resolve."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        state = dict(args.inputs)
        inputs = args.inputs
        if args.typ == "azure-native:resources:ResourceGroup":
            state["name"] = inputs.get("resourceGroupName") or f"{args.name}0000"
            return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{state['name']}", state
        if args.typ == GENERIC_RESOURCE:
            group, name = inputs.get("resourceGroupName"), inputs.get("resourceName")
            namespace, kind = inputs.get("resourceProviderNamespace"), inputs.get("resourceType")
            resource_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/{namespace}/{kind}/{name}"
            properties = dict(inputs.get("properties") or {})
            endpoint = f"https://{inputs.get('location')}.dynamicsessions.io/{group}/{name}"
            properties.setdefault("poolManagementEndpoint", endpoint)
            if (properties.get("mcpServerSettings") or {}).get("isMcpServerEnabled"):
                properties["mcpServerSettings"] = {**properties["mcpServerSettings"], "mcpServerEndpoint": endpoint}
            identity = inputs.get("identity")
            if identity:
                identity = {**identity, "principalId": DEPLOYER}
            state.update(name=name, properties=properties, identity=identity, azureApiVersion=inputs.get("apiVersion"))
            return resource_id, state
        if args.typ == TYPED_POOL:
            group, name = inputs.get("resourceGroupName"), inputs.get("sessionPoolName")
            state.update(
                name=name, poolManagementEndpoint=f"https://{inputs.get('location')}.dynamicsessions.io/{name}"
            )
            return (
                f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.App/sessionPools/{name}",
                state,
            )
        for key in ("roleAssignmentName", "lockName"):
            if key in inputs:
                state["name"] = inputs[key]
                return f"{inputs.get('scope')}/{args.typ.rsplit(':', 1)[-1]}/{inputs[key]}", state
        return f"/subscriptions/{SUBSCRIPTION}/{args.typ}/{args.name}", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        if args.token == "azure-native:authorization:getClientToken":  # noqa: S105 (a function's name)
            return {"token": _unsigned_token({"oid": DEPLOYER, "idtyp": "user"})}, []
        if args.token == "azure-native:authorization:getClientConfig":  # noqa: S105 (a function's name)
            ids = {"clientId": DEPLOYER, "objectId": DEPLOYER, "subscriptionId": SUBSCRIPTION, "tenantId": DEPLOYER}
            return ids, []
        return {}, []


def alias_urn(alias: Any, own_type: str, own_name: str, own_parent: str, stack: str, project: str) -> str:
    """The URN an alias names, its unset parts taken from the resource itself (as the engine does)."""
    if alias.urn:
        return str(alias.urn)
    spec = alias.spec
    parent = "" if spec.noParent else (spec.parentUrn or own_parent)
    return make_urn(parent, spec.type or own_type, spec.name or own_name, spec.stack or stack, spec.project or project)


def make_urn(parent: str, type_: str, name: str, stack: str, project: str) -> str:
    """A URN as the mock monitor makes it (the parent's type, then the resource's)."""
    if parent:
        type_ = parent.split("::")[2].split("$")[-1] + "$" + type_
    return "urn:pulumi:" + "::".join([stack, project, type_, name])


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: ArmShapes, stack: str, project: str) -> None:
        super().__init__(mocks)
        self.stack, self.project = stack, project
        self.records: list[dict[str, Any]] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        self.records.append(
            {
                "urn": response.urn,
                "type": request.type,
                "name": request.name,
                "parent": request.parent,
                "custom": bool(request.custom),
                "inputs": pulumi_mocks.rpc.deserialize_properties(request.object),
                "aliases": sorted(
                    {
                        alias_urn(alias, request.type, request.name, request.parent, self.stack, self.project)
                        for alias in request.aliases
                    }
                    | set(request.aliasURNs)
                ),
                "replaceOnChanges": list(request.replaceOnChanges),
                "protect": bool(request.protect),
            }
        )
        return response


def stack_config(tree: Path, stack: str, project: str) -> dict[str, str]:
    """The config the CLI hands the program: Pulumi.yaml's defaults, then the stack file's values, as strings."""

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return json.dumps(value) if isinstance(value, (dict, list)) else str(value)

    config: dict[str, str] = {}
    declared = yaml.safe_load((tree / "Pulumi.yaml").read_text()).get("config") or {}
    for key, spec in declared.items():
        if isinstance(spec, dict) and ("default" in spec or "value" in spec):
            config[key if ":" in key else f"{project}:{key}"] = text(spec.get("value", spec.get("default")))
    stack_file = tree / f"Pulumi.{stack}.yaml"
    if stack_file.exists():
        for key, value in (yaml.safe_load(stack_file.read_text()).get("config") or {}).items():
            config[key] = text(value)
    return config


def record(tree: Path, stack: str) -> list[dict[str, Any]]:
    project = str(yaml.safe_load((tree / "Pulumi.yaml").read_text())["name"])
    monitor = RecordingMonitor(ArmShapes(), stack, project)
    pulumi.runtime.set_mocks(monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(stack_config(tree, stack, project))
    if str(tree) not in sys.path:
        sys.path.insert(0, str(tree))
    os.chdir(tree)

    @pulumi.runtime.test
    def run() -> pulumi.Output:
        exports: dict[str, Any] = {}
        pulumi.export = lambda name, value: exports.__setitem__(name, value)  # type: ignore[assignment]
        runpy.run_path(str(tree / "__main__.py"), run_name="__main__")
        return pulumi.Output.all(*exports.values())

    run()
    return monitor.records


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python ci/upgrade_record.py <tree> <stack>...")
    tree = Path(sys.argv[1]).resolve()
    print(json.dumps({stack: record(tree, stack) for stack in sys.argv[2:]}, default=str, sort_keys=True))
