"""The policy pack as the Pulumi engine runs it: started the way the Python language host starts a policy pack
(`python -u -m pulumi.policy <engine address> <pack directory>`, from that directory, with the stack in its
environment), and driven over the Analyzer gRPC protocol on loopback: GetAnalyzerInfo, Configure with the schema's
defaults (as the engine sends them), Analyze for each resource, AnalyzeStack for all of them.

The resources fed are what this project's program registers for each committed stack under the mock runtime
(they pass), and variants of them that each break one rule (reported with that rule's id, and only it)."""

import copy
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy import rules
from policy.pack import PACK_NAME
from policy.resources import GENERIC_RESOURCE, LOCK_BY_SCOPE, ROLE_ASSIGNMENT, TYPED_POOL, pool_of
from policy.roles import SESSION_POOLS_CONTRIBUTOR
from policy.rules import RULES, Subject
from policy.stack_run import committed_stacks, registrations
from tests.pulumi_harness import ROOT

PACK_DIR = ROOT / "policy"
LEVELS = {
    analyzer_pb2.EnforcementLevel.ADVISORY: "advisory",
    analyzer_pb2.EnforcementLevel.MANDATORY: "mandatory",
}


class Analyzer:
    """The engine's side of the protocol, for one running pack."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.stub = analyzer_pb2_grpc.AnalyzerStub(channel)
        self.info = self.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=60)

    def configure(self, overrides: dict[str, dict[str, Any]] | None = None) -> None:
        """As the engine does: each policy's level, and every key of its schema with its default unless set."""
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for policy in self.info.policies:
            schema = json_format.MessageToDict(policy.configSchema.properties)
            values = {key: spec["default"] for key, spec in schema.items() if "default" in spec}
            values.update((overrides or {}).get(policy.name, {}))
            config = analyzer_pb2.PolicyConfig(enforcementLevel=policy.enforcementLevel)
            config.properties.update(values)
            request.policyConfig[policy.name].CopyFrom(config)
        self.stub.Configure(request, timeout=60)

    def analyze(self, subject: Subject) -> list[analyzer_pb2.AnalyzeDiagnostic]:
        request = analyzer_pb2.AnalyzeRequest(
            type=subject.type,
            properties=_struct(subject.props),
            urn=subject.urn,
            name=subject.name,
            options=analyzer_pb2.AnalyzerResourceOptions(protect=subject.protect),
        )
        response = self.stub.Analyze(request, timeout=60)
        assert not response.not_applicable
        return list(response.diagnostics)

    def analyze_stack(self, subjects: list[Subject]) -> list[analyzer_pb2.AnalyzeDiagnostic]:
        request = analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(
                    type=s.type,
                    properties=_struct(s.props),
                    urn=s.urn,
                    name=s.name,
                    options=analyzer_pb2.AnalyzerResourceOptions(protect=s.protect),
                    propertyDependencies={
                        key: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(urns))
                        for key, urns in s.property_dependencies.items()
                    },
                )
                for s in subjects
            ]
        )
        return list(self.stub.AnalyzeStack(request, timeout=60).diagnostics)

    def all_diagnostics(self, subjects: list[Subject]) -> list[analyzer_pb2.AnalyzeDiagnostic]:
        found = [d for s in subjects for d in self.analyze(s)]
        return found + self.analyze_stack(subjects)


def _struct(props: Any) -> struct_pb2.Struct:
    return json_format.ParseDict(props, struct_pb2.Struct())


@pytest.fixture(scope="module")
def engine_address() -> Iterator[str]:
    # The engine's address is handed to the pack; a bare gRPC server on loopback stands in for it.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)


@pytest.fixture(scope="module")
def start_pack(engine_address) -> Iterator[Callable[..., Analyzer]]:
    """Starts the pack for a stack (once per stack and directory), as the language host does: the stack, project
    and dry-run flag in its environment, the pack's directory as its working directory; reads the port it prints."""
    running: dict[tuple[str, Path], tuple[subprocess.Popen, grpc.Channel]] = {}

    def start(stack: str, pack_dir: Path = PACK_DIR) -> Analyzer:
        if (stack, pack_dir) not in running:
            env = {**os.environ, "PULUMI_PROJECT": "dynamic-sessions", "PULUMI_STACK": stack, "PULUMI_DRY_RUN": "true"}
            env["PULUMI_ORGANIZATION"] = "organization"
            process = subprocess.Popen(
                [sys.executable, "-u", "-m", "pulumi.policy", engine_address, str(pack_dir)],
                cwd=pack_dir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line.strip().isdigit():
                process.kill()
                _, stderr = process.communicate(timeout=30)
                pytest.fail(f"the pack printed {line!r} instead of its port; stderr:\n{stderr}")
            running[stack, pack_dir] = (process, grpc.insecure_channel(f"127.0.0.1:{int(line)}"))
        analyzer = Analyzer(running[stack, pack_dir][1])
        analyzer.configure()
        return analyzer

    yield start
    for process, channel in running.values():
        channel.close()
        process.terminate()
        process.communicate(timeout=30)


@pytest.fixture(scope="module")
def stack_resources() -> dict[str, list[Subject]]:
    return {stack: registrations(stack) for stack in committed_stacks()}


def test_pack_serves_its_name_plugin_version_and_every_rule_with_level_and_config(start_pack):
    analyzer = start_pack("dev")
    assert analyzer.info.name == PACK_NAME
    assert analyzer.info.supportsConfig
    assert analyzer.stub.GetPluginInfo(empty_pb2.Empty(), timeout=60).version
    assert [p.name for p in analyzer.info.policies] == [rule.id for rule in RULES]
    for policy, rule in zip(analyzer.info.policies, RULES, strict=True):
        assert policy.description == rule.description
        assert LEVELS[policy.enforcementLevel] == rule.enforcement
        kind = analyzer_pb2.PolicyType.POLICY_TYPE_STACK if rule.stack else analyzer_pb2.PolicyType.POLICY_TYPE_RESOURCE
        assert policy.policy_type == kind
        schema = json_format.MessageToDict(policy.configSchema.properties)
        assert schema and all("default" in spec and spec.get("description") for spec in schema.values())
        assert {key: spec["default"] for key, spec in schema.items()} == rule.settings()


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_committed_stack_passes_under_the_default_config(start_pack, stack_resources, stack):
    assert stack in committed_stacks()
    subjects = stack_resources[stack]
    kinds = {s.type for s in subjects}
    assert {GENERIC_RESOURCE, ROLE_ASSIGNMENT} <= kinds
    assert (LOCK_BY_SCOPE in kinds) == (stack == "prod")
    assert [(d.policyName, d.message) for d in start_pack(stack).all_diagnostics(subjects)] == []


def _pool(subjects: list[Subject]) -> Subject:
    return next(s for s in subjects if pool_of(s.type, s.props) is not None)


def _replace(subjects: list[Subject], old: Subject, **changes: Any) -> list[Subject]:
    new = Subject(**{**old.__dict__, **changes})
    return [new if s is old else s for s in subjects]


def _with_pool_properties(subjects: list[Subject], change: Callable[[dict[str, Any]], None]) -> list[Subject]:
    pool = _pool(subjects)
    props = copy.deepcopy(dict(pool.props))
    change(props)
    return _replace(subjects, pool, props=props)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(props: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = props
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = value

    return change


def _grant(subjects: list[Subject]) -> Subject:
    return next(s for s in subjects if s.type == ROLE_ASSIGNMENT)


def _with_grant_props(subjects: list[Subject], **changes: Any) -> list[Subject]:
    grant = _grant(subjects)
    props = {**grant.props, **changes}
    return _replace(subjects, grant, props={k: v for k, v in props.items() if v is not None})


def _group_scope(subjects: list[Subject]) -> str:
    """The pool's resource group: the scope above the pool."""
    return _grant(subjects).props["scope"].split("/providers/")[0]


def _typed_pool(subjects: list[Subject], type_token: str = TYPED_POOL) -> list[Subject]:
    """The stack's pool declared with azure-native's typed resource instead (as a program converted from Bicep)."""
    pool = _pool(subjects)
    typed = {
        "resourceGroupName": pool.props["resourceGroupName"],
        "sessionPoolName": pool.props["resourceName"],
        "location": pool.props["location"],
        **{key: value for key, value in pool.props["properties"].items() if key != "poolManagementEndpoint"},
    }
    return _replace(subjects, pool, type=type_token, props=typed)


def _contributor(subjects: list[Subject]) -> list[Subject]:
    grant = _grant(subjects)
    definition = grant.props["roleDefinitionId"].rsplit("/", 1)[0] + "/" + SESSION_POOLS_CONTRIBUTOR
    extra = Subject(ROLE_ASSIGNMENT, "contributor", {**grant.props, "roleDefinitionId": definition}, urn="urn:c")
    return [*subjects, extra]


VARIANTS: list[tuple[str, str, Callable[[list[Subject]], list[Subject]]]] = [
    (
        rules.EGRESS_ID,
        "prod",
        lambda s: _with_pool_properties(s, _set("properties.sessionNetworkConfiguration.status", "EgressEnabled")),
    ),
    (
        rules.EGRESS_ID,
        "prod",
        lambda s: _with_pool_properties(_typed_pool(s), _set("sessionNetworkConfiguration.status", "EgressEnabled")),
    ),
    (
        rules.IDENTITY_ID,
        "dev",
        lambda s: _with_pool_properties(
            s, _set("properties.managedIdentitySettings", [{"identity": "system", "lifecycle": "Main"}])
        ),
    ),
    (
        rules.MAX_SESSIONS_ID,
        "prod",
        lambda s: _with_pool_properties(s, _set("properties.scaleConfiguration.maxConcurrentSessions", 600)),
    ),
    (rules.REGION_ID, "dev", lambda s: _with_pool_properties(s, _set("location", "chinaeast2"))),
    (rules.API_VERSION_ID, "dev", lambda s: _with_pool_properties(s, _set("apiVersion", "2024-02-02-preview"))),
    (
        rules.API_VERSION_ID,
        "dev",
        lambda s: _typed_pool(s, "azure-native:app/v20241002preview:ContainerAppsSessionPool"),
    ),
    (rules.EXECUTOR_SCOPE_ID, "dev", lambda s: _with_grant_props(s, scope=_group_scope(s))),
    (rules.EXECUTOR_SCOPE_ID, "dev", lambda s: _with_grant_props(s, principalType=None)),
    (rules.CONTRIBUTOR_ID, "dev", _contributor),
    (rules.PRODUCTION_ID, "prod", lambda s: _replace(s, _pool(s), protect=False)),
    (rules.PRODUCTION_ID, "prod", lambda s: [r for r in s if r.type != LOCK_BY_SCOPE]),
    (rules.EXECUTOR_PRESENT_ID, "dev", lambda s: [r for r in s if r.type != ROLE_ASSIGNMENT]),
]


@pytest.mark.parametrize(
    ("rule", "stack", "variant"), VARIANTS, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(VARIANTS)]
)
def test_a_variant_breaking_one_rule_is_reported_with_its_id_alone(start_pack, stack_resources, rule, stack, variant):
    diagnostics = start_pack(stack).all_diagnostics(variant(stack_resources[stack]))
    assert diagnostics, f"{rule} reported nothing"
    assert {d.policyName for d in diagnostics} == {rule}
    assert all(d.policyPackName == PACK_NAME and f"policy config: {rule}." in d.message for d in diagnostics)


def test_every_rule_has_a_breaking_variant():
    assert {rule for rule, _, _ in VARIANTS} == {rule.id for rule in RULES}


def test_a_typed_pool_declared_as_the_committed_one_passes(start_pack, stack_resources):
    subjects = _typed_pool(stack_resources["prod"])
    assert [d.message for s in subjects for d in start_pack("prod").analyze(s)] == []


def test_config_the_engine_sends_changes_what_passes(start_pack, stack_resources):
    analyzer = start_pack("dev")
    analyzer.configure({rules.EGRESS_ID: {"allowedStacks": ["staging"]}})
    try:
        diagnostics = analyzer.analyze(_pool(stack_resources["dev"]))
    finally:
        analyzer.configure()
    assert [d.policyName for d in diagnostics] == [rules.EGRESS_ID]
    assert "EgressEnabled" in diagnostics[0].message and "staging" in diagnostics[0].message


def test_a_preview_with_a_scope_not_known_yet_reports_nothing(start_pack, stack_resources):
    grant = _grant(stack_resources["dev"])
    unknown = Subject(grant.type, grant.name, {**grant.props, "scope": UNKNOWN_STRING_VALUE}, urn=grant.urn)
    assert [(d.policyName, d.message) for d in start_pack("dev").analyze(unknown)] == []


def test_the_pack_as_published_runs_from_its_own_directory_alone(start_pack, stack_resources, tmp_path):
    # `pulumi policy publish` uploads the directory with links followed (roles.py becomes a copy of
    # components/roles.py); Pulumi Cloud unpacks it under a directory named after the version, far from this
    # repository.
    published = tmp_path / "dynamic-sessions-pools" / "0.1.0"
    shutil.copytree(PACK_DIR, published, symlinks=False, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    assert not (published / "roles.py").is_symlink()
    analyzer = start_pack("prod", published)
    assert [p.name for p in analyzer.info.policies] == [rule.id for rule in RULES]
    subjects = [s for s in stack_resources["prod"] if s.type != LOCK_BY_SCOPE]
    assert {d.policyName for d in analyzer.all_diagnostics(subjects)} == {rules.PRODUCTION_ID}
