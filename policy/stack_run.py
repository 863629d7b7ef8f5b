"""What the project's program registers for a committed stack, without the Pulumi CLI or Azure.

The program (`__main__.py`) runs in this process under Pulumi's mock runtime with the config the CLI would give
it (Pulumi.yaml's defaults, then `Pulumi.<stack>.yaml`). A stand-in answers for Azure: resource ids in one made-up
subscription, the pool's endpoint, and a deploying user. Each registration is kept as the engine would show it to
a policy: type, name, URN, inputs, `protect` and the property dependencies.
"""

import asyncio
import base64
import json
import runpy
import sys
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks, rpc

from policy.rules import Subject

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "__main__.py"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DEPLOYER = "00000000-0000-0000-0000-0000000000d1"
"""The stand-in deploying identity: a user, as `az login` gives."""
# The provider's functions the program calls to learn who deploys (names of functions, not secrets).
GET_CLIENT_TOKEN = "azure-native:authorization:getClientToken"  # noqa: S105
GET_CLIENT_CONFIG = "azure-native:authorization:getClientConfig"


class ProgramError(Exception):
    """The program refused the stack's config (or failed) before registering what the rules need."""


def project_name() -> str:
    name: str = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
    return name


def committed_stacks() -> list[str]:
    """The stacks with a `Pulumi.<stack>.yaml` beside the program."""
    return sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in ROOT.glob("Pulumi.*.yaml"))


def _as_config_string(value: Any) -> str:
    # The CLI hands every value to the program as a string; objects and lists as JSON.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def stack_config(stack: str) -> dict[str, str]:
    """The config the CLI gives the program: Pulumi.yaml's defaults and values, then the stack file's (when there is
    one)."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    config: dict[str, str] = {}
    for key, spec in (project.get("config") or {}).items():
        full = key if ":" in key else f"{project['name']}:{key}"
        if isinstance(spec, dict) and ("default" in spec or "value" in spec):
            config[full] = _as_config_string(spec.get("value", spec.get("default")))
    stack_file = ROOT / f"Pulumi.{stack}.yaml"
    if stack_file.exists():
        for key, value in (yaml.safe_load(stack_file.read_text()).get("config") or {}).items():
            config[key] = _as_config_string(value)
    return config


def _user_token() -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"oid": DEPLOYER, "idtyp": "user", "scp": "user_impersonation"}
    return f"{part({'alg': 'none'})}.{part(claims)}."


class StandInAzure(pulumi.runtime.Mocks):
    """ARM's answers, as far as the program reads them: ids, and the pool's endpoint."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        state = dict(args.inputs)
        inputs = args.inputs
        group_path = f"/subscriptions/{SUBSCRIPTION}/resourceGroups"
        if args.typ == "azure-native:resources:ResourceGroup":
            state["name"] = inputs.get("resourceGroupName") or f"{args.name}0000"
            return f"{group_path}/{state['name']}", state
        if args.typ == "azure-native:resources:Resource":
            group, name = inputs["resourceGroupName"], inputs["resourceName"]
            path = f"{inputs['resourceProviderNamespace']}/{inputs['resourceType']}/{name}"
            endpoint = f"https://{inputs.get('location')}.dynamicsessions.io/subscriptions/{SUBSCRIPTION}"
            properties = {**inputs.get("properties", {}), "poolManagementEndpoint": f"{endpoint}/{group}/{name}"}
            state.update(name=name, properties=properties)
            return f"{group_path}/{group}/providers/{path}", state
        if args.typ.startswith("azure-native:authorization:"):
            name = inputs.get("roleAssignmentName") or inputs.get("lockName") or args.name
            state["name"] = name
            kind = "roleAssignments" if args.typ.endswith(":RoleAssignment") else "locks"
            return f"{inputs.get('scope')}/providers/Microsoft.Authorization/{kind}/{name}", state
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        if args.token == GET_CLIENT_TOKEN:
            return {"token": _user_token()}, []
        if args.token == GET_CLIENT_CONFIG:
            return {"clientId": "", "objectId": DEPLOYER, "subscriptionId": SUBSCRIPTION, "tenantId": ""}, []
        raise NotImplementedError(f"the stand-in for Azure does not answer {args.token}")


_LOOPS: list[asyncio.AbstractEventLoop] = []


def _use_own_event_loop() -> None:
    """Makes this module's event loop the thread's current one: the mock runtime creates its futures on the
    current loop, and a caller (a test, an app) may have left none set."""
    if not _LOOPS or _LOOPS[0].is_closed():
        _LOOPS[:] = [asyncio.new_event_loop()]
    asyncio.set_event_loop(_LOOPS[0])


class _Recorder(mocks.MockMonitor):
    """The mock engine, keeping each registration as a policy would see it."""

    def __init__(self, azure: StandInAzure) -> None:
        super().__init__(azure)
        self.subjects: list[Subject] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.subjects.append(
                Subject(
                    request.type,
                    request.name,
                    rpc.deserialize_properties(request.object),
                    urn=response.urn,
                    protect=bool(request.protect),
                    property_dependencies={key: list(deps.urns) for key, deps in request.propertyDependencies.items()},
                )
            )
        return response


def registrations(stack: str, overrides: dict[str, str] | None = None) -> list[Subject]:
    """Runs the program for `stack` under the mock runtime, its config with `overrides` (full keys, string values
    as the CLI gives them) on top; returns every resource it registered, in order.

    Raises ProgramError with the program's message when it refuses the config."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # the program imports the components beside it
    _use_own_event_loop()
    recorder = _Recorder(StandInAzure())
    pulumi.runtime.set_mocks(recorder.mocks, project=project_name(), stack=stack, preview=False, monitor=recorder)
    pulumi.runtime.set_all_config({**stack_config(stack), **(overrides or {})})

    @pulumi.runtime.test
    def run() -> None:
        runpy.run_path(str(PROGRAM), run_name="__main__")

    try:
        run()
    except pulumi.RunError as error:
        raise ProgramError(str(error)) from None
    return recorder.subjects
