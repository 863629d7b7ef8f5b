"""The components as a multi-language package: the schema Pulumi infers, its committed snapshot, and the
provider process started the way the Pulumi CLI starts it, answering over gRPC on loopback."""

import importlib.metadata
import json
import subprocess
import sys
from concurrent import futures

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2
from pulumi.provider.experimental.analyzer import Analyzer
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from components.executor_grant import SessionExecutorGrant
from components.package import COMPONENTS, PACKAGE_NAME, build_schema, package_version, schema_text
from components.session_pool import SessionPool
from tests.pulumi_harness import ROOT

SNAPSHOT = ROOT / "tests" / "snapshots" / "schema.json"
REGENERATE = "regenerate it with: .venv/bin/python -m components.package tests/snapshots/schema.json"


def test_component_passes_pulumis_component_analyzer():
    result = Analyzer("dynamic-sessions").analyze([SessionPool])
    component = result["component_definitions"]["SessionPool"]
    assert set(component.inputs) == {
        "location",
        "poolName",
        "containerType",
        "maxSessions",
        "cooldownSeconds",
        "readySessions",
        "egressEnabled",
        "grantDeployer",
        "deployerPrincipalType",
        "grantContributor",
        "executors",
        "tags",
        "protect",
        "lock",
        "resourceGroupName",
        "existingResourceGroup",
        "identity",
        "identityLifecycle",
        "lifecycleType",
        "mcpServer",
    }
    assert set(component.outputs) == {
        "poolManagementEndpoint",
        "poolName",
        "poolId",
        "resourceGroupName",
        "location",
        "tokenScope",
        "containerType",
        "executorRoleDefinitionId",
        "poolApiVersion",
        "grants",
        "mcpServerEndpoint",
        "poolIdentityPrincipalId",
    }
    assert {name for name, prop in component.outputs.items() if prop.optional} == {
        "mcpServerEndpoint",
        "poolIdentityPrincipalId",
    }
    assert {name for name, prop in component.inputs.items() if not prop.optional} == {"location", "poolName"}
    assert all(prop.description for prop in component.inputs.values())
    assert all(prop.description for prop in component.outputs.values())
    assert {"ExecutorArgs", "GrantOutput"} <= set(result["type_definitions"])


def test_grant_component_takes_pool_principal_and_type_all_required():
    result = Analyzer("dynamic-sessions").analyze([SessionExecutorGrant])
    component = result["component_definitions"]["SessionExecutorGrant"]
    assert {name for name, prop in component.inputs.items() if not prop.optional} == {
        "poolId",
        "principalId",
        "principalType",
    }
    assert set(component.outputs) == {"roleAssignmentId", "roleAssignmentName", "roleDefinitionId"}
    assert all(prop.description for prop in [*component.inputs.values(), *component.outputs.values()])


def _properties(schema: dict) -> list[tuple[str, dict]]:
    found = []
    for token, resource in schema["resources"].items():
        for kind in ("inputProperties", "properties"):
            found += [(f"{token}.{kind}.{name}", spec) for name, spec in resource[kind].items()]
    for token, type_spec in schema["types"].items():
        found += [(f"{token}.{name}", spec) for name, spec in type_spec["properties"].items()]
    return found


def test_schema_names_the_package_version_and_documents_every_property():
    schema = build_schema()
    assert schema["name"] == PACKAGE_NAME == "dynamic-sessions"
    assert schema["version"] == package_version() == importlib.metadata.version("dynamic-sessions")
    assert set(schema["resources"]) == {f"dynamic-sessions:index:{c.__name__}" for c in COMPONENTS}
    assert all(resource["isComponent"] and resource["description"] for resource in schema["resources"].values())
    for name, spec in _properties(schema):
        assert spec.get("description"), name
        # No unions: every property has exactly one type (or one reference to a named type).
        assert ("type" in spec) != ("$ref" in spec) and "oneOf" not in spec, name


def test_schema_equals_the_committed_snapshot():
    assert SNAPSHOT.read_text() == schema_text(), f"the package schema changed; review the diff and {REGENERATE}"


@pytest.fixture
def engine_address():
    # The CLI passes its engine's address; the provider dials it only for logging, so a bare gRPC server
    # on loopback stands in for it.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)


@pytest.fixture
def provider_port(engine_address, tmp_path):
    # As the Python language host runs a plugin: `python <plugin directory> <flags> <engine address>`, from
    # the consuming project's directory (here an empty one), reading the port from the first stdout line.
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "provider"), "--logtostderr", engine_address],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.strip().isdigit():
            process.kill()
            _, stderr = process.communicate(timeout=30)
            pytest.fail(f"the provider printed {line!r} instead of its port; stderr:\n{stderr}")
        yield int(line)
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_provider_process_serves_its_version_and_the_schema_over_grpc(provider_port):
    with grpc.insecure_channel(f"127.0.0.1:{provider_port}") as channel:
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        info = stub.GetPluginInfo(empty_pb2.Empty(), timeout=60)
        served = stub.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=60)
    assert info.version == package_version() == "0.2.0"
    assert json.loads(served.schema) == json.loads(SNAPSHOT.read_text())


def test_plugin_manifest_runs_python_with_the_repositorys_pinned_requirements():
    manifest = yaml.safe_load((ROOT / "provider" / "PulumiPlugin.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert manifest["requiredPulumiVersion"] == project["requiredPulumiVersion"]
    lines = [line.strip() for line in (ROOT / "provider" / "requirements.txt").read_text().splitlines()]
    assert "-r ../requirements.txt" in lines
    assert {"pulumi", "pulumi-azure-native"} <= {
        line.split(">")[0].split("=")[0] for line in (ROOT / "requirements.txt").read_text().splitlines()
    }
