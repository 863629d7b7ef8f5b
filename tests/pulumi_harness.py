"""Runs the Pulumi program under the mock runtime with a committed (or given) stack config."""

import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
import yaml

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "dynamic-sessions"
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
DEPLOYER = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


class AzureMocks(pulumi.runtime.Mocks):
    """Answers as ARM would: ids, the pool's endpoint (with a trailing slash, as some API versions do)."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        self.resources.append(args)
        state = dict(args.inputs)
        if args.typ == "azure-native:resources:ResourceGroup":
            name = args.inputs.get("resourceGroupName") or f"{args.name}1a2b3c4d"
            state["name"] = name
            return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{name}", state
        if args.typ == "azure-native:app:ContainerAppsSessionPool":
            group, name = args.inputs["resourceGroupName"], args.inputs["sessionPoolName"]
            path = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/sessionPools/{name}"
            state["name"] = name
            state["poolManagementEndpoint"] = f"https://{args.inputs['location']}.dynamicsessions.io{path}/"
            return (
                f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.App/sessionPools/{name}",
                state,
            )
        if args.typ == "azure-native:authorization:RoleAssignment":
            name = args.inputs["roleAssignmentName"]
            state["name"] = name
            return f"{args.inputs['scope']}/providers/Microsoft.Authorization/roleAssignments/{name}", state
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        if args.token == "azure-native:authorization:getClientConfig":
            return {
                "clientId": "client-id",
                "objectId": DEPLOYER,
                "subscriptionId": SUBSCRIPTION,
                "tenantId": "tenant-id",
            }, []
        raise NotImplementedError(args.token)

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]


def _as_config_string(value: Any) -> str:
    # The CLI hands every value to the program as a string; objects and lists as JSON.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def stack_config(stack: str) -> dict[str, str]:
    """The config the CLI would give the program: Pulumi.yaml's defaults and values, then the stack file."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    config: dict[str, str] = {}
    for key, spec in (project.get("config") or {}).items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(spec, dict) and ("default" in spec or "value" in spec):
            config[full] = _as_config_string(spec.get("value", spec.get("default")))
    stack_file = ROOT / f"Pulumi.{stack}.yaml"
    if stack_file.exists():
        for key, value in (yaml.safe_load(stack_file.read_text()).get("config") or {}).items():
            config[key] = _as_config_string(value)
    return config


def run_program(
    config: dict[str, str], stack: str = "dev", mocks: AzureMocks | None = None
) -> tuple[AzureMocks, dict[str, Any], dict[str, Any]]:
    """Runs __main__.py under fresh mocks; returns the mocks, the exports and the program's globals."""
    return run_pulumi_program(ROOT / "__main__.py", PROJECT, config, stack, mocks)


def run_pulumi_program(
    program: Path, project: str, config: dict[str, str], stack: str = "dev", mocks: AzureMocks | None = None
) -> tuple[AzureMocks, dict[str, Any], dict[str, Any]]:
    """Runs a Pulumi Python program file under fresh mocks, as `pulumi up` would with that project and stack."""
    mocks = mocks or AzureMocks()
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False)
    pulumi.runtime.set_all_config(config)
    exports: dict[str, Any] = {}
    original = pulumi.export
    pulumi.export = lambda name, value: exports.__setitem__(name, value)  # type: ignore[assignment]
    try:
        globals_ = runpy.run_path(str(program), run_name="__main__")
    finally:
        pulumi.export = original  # type: ignore[assignment]
    return mocks, exports, globals_


def pool_stack_outputs(stack: str, config: dict[str, str] | None = None) -> dict[str, Any]:
    """The values a committed pool stack exports, as `pulumi stack output --json` would show them after an up
    under these mocks: what a StackReference to that stack reads."""
    values: dict[str, Any] = {}

    @pulumi.runtime.test
    def collect() -> pulumi.Output:
        _, exports, _ = run_program(config or stack_config(stack), stack=stack)
        names = sorted(exports)
        return pulumi.Output.all(*(exports[n] for n in names)).apply(
            lambda resolved: values.update(zip(names, resolved, strict=True))
        )

    collect()
    return values
