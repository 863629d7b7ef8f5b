"""Runs the Pulumi program under the mock runtime with a committed (or given) stack config."""

import base64
import json
import runpy
from pathlib import Path
from typing import Any

import pulumi

from policy.stack_run import stack_config

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "dynamic-sessions"
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
DEPLOYER = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
POOL_IDENTITY = "bce8c037-3d10-44a4-a970-25f799611fc6"
POOL_TYPE = "azure-native:resources:Resource"

# The claims each way of signing in puts in the deployer's ARM token (what getClientToken returns).
USER_CLAIMS = {"oid": DEPLOYER, "idtyp": "user", "scp": "user_impersonation", "upn": "dev@example.com"}
"""`az login` as a person."""
SERVICE_PRINCIPAL_CLAIMS = {"oid": DEPLOYER, "idtyp": "app", "appid": "client-id", "appidacr": "1"}
"""A service principal with a secret or certificate (ARM_CLIENT_ID/ARM_CLIENT_SECRET)."""
MANAGED_IDENTITY_CLAIMS = {
    "oid": DEPLOYER,
    "idtyp": "app",
    "appid": "client-id",
    "xms_mirid": f"/subscriptions/{SUBSCRIPTION}/resourcegroups/ops/providers/Microsoft.ManagedIdentity/"
    "userAssignedIdentities/deployer",
}
"""A managed identity (a build agent's VM, or ARM_USE_MSI)."""
OIDC_CI_CLAIMS = {"oid": DEPLOYER, "idtyp": "app", "appid": "client-id", "appidacr": "2"}
"""GitHub Actions' workload identity federation: a federated credential's client assertion (ARM_USE_OIDC)."""


def jwt_with(claims: dict[str, Any]) -> str:
    """An unsigned token carrying `claims`, as the deployer's credential would hand it to the provider."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.signature"


def pool_response(inputs: dict[str, Any], location: str) -> tuple[str, dict[str, Any]]:
    """The pool's id and ARM's answer at the pool's API version to a PUT of these generic-resource inputs: the
    properties sent, plus what the service adds (endpoint, provisioning state, MCP endpoint, identity ids)."""
    group, name = inputs["resourceGroupName"], inputs["resourceName"]
    pool_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.App/sessionPools/{name}"
    properties = as_json_numbers(inputs["properties"])
    properties["provisioningState"] = "Succeeded"
    properties["nodeCount"] = 0
    # A trailing slash, as some API versions answer: the component strips it.
    path = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/sessionPools/{name}"
    properties["poolManagementEndpoint"] = f"https://{location}.dynamicsessions.io{path}/"
    if properties.get("mcpServerSettings", {}).get("isMcpServerEnabled"):
        properties["mcpServerSettings"]["mcpServerEndpoint"] = f"https://{location}.dynamicsessions.io{path}/mcp"
    body: dict[str, Any] = {
        "id": pool_id,
        "name": name,
        "type": "Microsoft.App/sessionPools",
        "location": location,
        "tags": inputs.get("tags", {}),
        "properties": properties,
    }
    if "identity" in inputs:
        kind = inputs["identity"]["type"]
        identity: dict[str, Any] = {"type": kind}
        if "SystemAssigned" in kind:
            identity.update(principalId=POOL_IDENTITY, tenantId="72f988bf-86f1-41af-91ab-2d7cd011db47")
        if inputs["identity"].get("userAssignedIdentities"):
            identity["userAssignedIdentities"] = {
                uid: {"principalId": POOL_IDENTITY, "clientId": POOL_IDENTITY}
                for uid in inputs["identity"]["userAssignedIdentities"]
            }
        body["identity"] = identity
    return pool_id, body


def as_json_numbers(value: Any) -> Any:
    """Numbers as the provider writes them: the engine carries every number as a double, and Go's JSON
    encoder writes a whole double without a fraction (5.0 goes out as 5)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: as_json_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json_numbers(v) for v in value]
    return value


def arm_request_body(inputs: dict[str, Any]) -> dict[str, Any]:
    """The PUT body the azure-native provider sends for the generic pool resource's inputs: the envelope's
    fields as given, and the identity's list of user-assigned ids as ARM's map of id -> {}."""
    body: dict[str, Any] = {"location": inputs["location"], "properties": as_json_numbers(inputs["properties"])}
    if "tags" in inputs:
        body["tags"] = inputs["tags"]
    if "identity" in inputs:
        identity = {"type": inputs["identity"]["type"]}
        if inputs["identity"].get("userAssignedIdentities"):
            identity["userAssignedIdentities"] = {uid: {} for uid in inputs["identity"]["userAssignedIdentities"]}
        body["identity"] = identity
    return body


class AzureMocks(pulumi.runtime.Mocks):
    """Answers as ARM would: ids, the pool's endpoint (with a trailing slash, as some API versions do)."""

    def __init__(self, deployer_claims: dict[str, Any] | None = None) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []
        self.deployer_claims = USER_CLAIMS if deployer_claims is None else deployer_claims
        self.calls: list[str] = []
        self.options: dict[str, dict[str, Any]] = {}
        """Per resource name, the options the engine received with its registration."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        self.resources.append(args)
        state = dict(args.inputs)
        if args.typ == "azure-native:resources:ResourceGroup":
            name = args.inputs.get("resourceGroupName") or f"{args.name}1a2b3c4d"
            state["name"] = name
            return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{name}", state
        if args.typ == POOL_TYPE:
            pool_id, body = pool_response(args.inputs, args.inputs["location"])
            return pool_id, {**state, **body, "azureApiVersion": args.inputs["apiVersion"]}
        if args.typ == "azure-native:authorization:ManagementLockByScope":
            name = args.inputs["lockName"]
            state["name"] = name
            return f"{args.inputs['scope']}/providers/Microsoft.Authorization/locks/{name}", state
        if args.typ == "azure-native:authorization:RoleAssignment":
            name = args.inputs["roleAssignmentName"]
            state["name"] = name
            return f"{args.inputs['scope']}/providers/Microsoft.Authorization/roleAssignments/{name}", state
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        self.calls.append(args.token)
        if args.token == "azure-native:authorization:getClientToken":
            return {"token": jwt_with(self.deployer_claims)}, []
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


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """The mock engine, also keeping the resource options each registration carries (protect, aliases...)."""

    def __init__(self, mocks: AzureMocks) -> None:
        super().__init__(mocks)
        self.azure = mocks

    def RegisterResource(self, request):
        self.azure.options[request.name] = {
            "protect": request.protect,
            "deleteBeforeReplace": request.deleteBeforeReplace,
            "replaceOnChanges": list(request.replaceOnChanges),
            "retainOnDelete": request.retainOnDelete,
            "aliases": [str(alias) for alias in request.aliases],
            "dependencies": list(request.dependencies),
            "type": request.type,
            "parent": request.parent,
        }
        return super().RegisterResource(request)


def use_mocks(mocks: AzureMocks, project: str, stack: str) -> None:
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=RecordingMonitor(mocks))


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
    use_mocks(mocks, project, stack)
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
