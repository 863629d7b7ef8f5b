"""`python -m smoke --stack NAME --verify`: the real smoke, the real emulator for the data plane, a stand-in
`pulumi` for the stack's outputs and a stand-in of Azure Resource Manager on loopback for the read-back."""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dynamic_sessions.smoke.__main__ import main
from tests.arm_stand_in import (
    EXECUTOR_GUID,
    READER_GUID,
    SUBSCRIPTION,
    ArmStandIn,
    Assignment,
    Fault,
    pool_id,
    pool_properties,
    role_definition_id,
)
from tests.emulator_process import Emulator, serving
from tests.pulumi_stand_in import StandInPulumi
from tests.sandbox_support import FarHost

POOL = pool_id()
DEPLOYER = "22222222-2222-2222-2222-222222222222"
APP = "33333333-3333-3333-3333-333333333333"
OTHER = "44444444-4444-4444-4444-444444444444"
# TEST-NET-2: with egress off nothing answers there; FarHost listens there when a test needs a far host.
UNREACHED = "http://198.51.100.1:8443"
FAST = ["--backoff", "0.05"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_ambient_endpoint(monkeypatch):
    monkeypatch.delenv("POOL_MANAGEMENT_ENDPOINT", raising=False)


def outputs(endpoint: str, **changes) -> dict:
    """What the program exports for the pool the stand-in holds by default."""
    declared = {
        "poolManagementEndpoint": endpoint,
        "poolName": "devpool",
        "poolId": POOL,
        "resourceGroupName": "rg-dev",
        "location": "northcentralus",
        "containerType": "NodeLTS",
        "sessionExecutorRoleDefinitionId": role_definition_id(EXECUTOR_GUID),
        "maxSessions": 5,
        "cooldownSeconds": 300,
        "egressEnabled": False,
        "lifecycleType": "Timed",
        "poolApiVersion": "2026-03-02-preview",
        "grants": [
            {"principalId": DEPLOYER, "principalType": "User", "roleDefinitionId": role_definition_id(EXECUTOR_GUID)},
            {
                "principalId": APP,
                "principalType": "ServicePrincipal",
                "roleDefinitionId": role_definition_id(EXECUTOR_GUID),
            },
        ],
    }
    declared.update(changes)
    return {k: v for k, v in declared.items() if v is not None}


def granted() -> list[Assignment]:
    return [
        Assignment(DEPLOYER, "User", EXECUTOR_GUID, POOL),
        Assignment(APP, "ServicePrincipal", EXECUTOR_GUID, POOL),
    ]


def told(capsys, monkeypatch, tmp_path, stack_outputs: dict, arm: ArmStandIn, *flags: str) -> tuple[int, str, str]:
    """The smoke's summary and its progress lines (under --json it tells no waits on a non-terminal)."""
    StandInPulumi(tmp_path, {"dev": {"outputs": stack_outputs}})
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    argv = ["--stack", "dev", "--verify", "--arm-endpoint", arm.url, "--egress-probe-url", UNREACHED, *FAST, *flags]
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def verify(capsys, monkeypatch, tmp_path, stack_outputs: dict, arm: ArmStandIn, *flags: str) -> tuple[int, dict, str]:
    code, out, err = told(capsys, monkeypatch, tmp_path, stack_outputs, arm, *flags, "--json")
    captured = argparse.Namespace(out=out, err=err)
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1, captured.out
    return code, json.loads(lines[0]), captured.err


def test_all_equal_passes_with_two_arm_reads_at_the_stacks_versions(capsys, monkeypatch, tmp_path, emulator):
    with ArmStandIn(POOL, pool_properties(emulator.url), granted()) as arm:
        code, report, _ = verify(capsys, monkeypatch, tmp_path, outputs(emulator.url), arm)
    assert code == 0, report
    assert report["passed"] and report["verified"] and report["differences"] == []
    assert report["stdout"] == "hello-world\n" and report["sessionReleased"] is True
    assert report["armCalls"] == 2 and report["unknown"] == [] and report["otherGrants"] == []
    for name in (
        "container type",
        "egress",
        "cooldown",
        "max sessions",
        "lifecycle",
        "provisioning state",
        "egress probe",
    ):
        assert name in report["compared"]
    assert f"grant {DEPLOYER} Session Executor" in report["compared"]
    get_pool, listing = arm.requests
    assert get_pool.path == POOL and get_pool.query == {"api-version": ["2026-03-02-preview"]}
    assert listing.path == f"{POOL}/providers/Microsoft.Authorization/roleAssignments"
    assert listing.query == {"$filter": ["atScope()"], "api-version": ["2022-04-01"]}
    probe = report["egressProbe"]
    assert (probe["target"], probe["reached"], probe["declared"]) == ("198.51.100.1:8443", False, "off")
    assert probe["outcome"] != "connected" and isinstance(probe["ms"], int)


def test_human_summary_lists_each_difference_on_its_own_line(capsys, monkeypatch, tmp_path, emulator):
    props = pool_properties(emulator.url, sessionNetworkConfiguration={"status": "EgressEnabled"})
    with ArmStandIn(POOL, props, granted()) as arm:
        StandInPulumi(tmp_path, {"dev": {"outputs": outputs(emulator.url)}})
        monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
        code = main(["--stack", "dev", "--verify", "--arm-endpoint", arm.url, "--egress-probe-url", UNREACHED])
    out = capsys.readouterr().out
    assert code == 5 and out.startswith("FAIL")
    assert "\n  differs      egress: declared off, Azure has EgressEnabled\n" in out


@pytest.mark.parametrize(
    "held,declared,expected",
    [
        ({"containerType": "PythonLTS"}, {}, "container type: declared NodeLTS, Azure has PythonLTS"),
        (
            {"sessionNetworkConfiguration": {"status": "EgressEnabled"}},
            {},
            "egress: declared off, Azure has EgressEnabled",
        ),
        (
            {"sessionNetworkConfiguration": {"status": "EgressDisabled"}},
            {"egressEnabled": True},
            "egress: declared on, Azure has EgressDisabled",
        ),
        (
            {
                "dynamicPoolConfiguration": {
                    "lifecycleConfiguration": {"lifecycleType": "Timed", "cooldownPeriodInSeconds": 600}
                }
            },
            {},
            "cooldown: declared 300, Azure has 600",
        ),
        (
            {"scaleConfiguration": {"maxConcurrentSessions": 10, "readySessionInstances": 0}},
            {},
            "max sessions: declared 5, Azure has 10",
        ),
        ({}, {"readySessions": 2}, "ready sessions: declared 2, Azure has 0"),
        (
            {"scaleConfiguration": {"maxConcurrentSessions": 5}},
            {"readySessions": 2},
            "ready sessions: declared 2, Azure has none",
        ),
        (
            {
                "dynamicPoolConfiguration": {
                    "lifecycleConfiguration": {"lifecycleType": "OnContainerExit", "cooldownPeriodInSeconds": 300}
                }
            },
            {},
            "lifecycle: declared Timed, Azure has OnContainerExit",
        ),
        ({"provisioningState": "Failed"}, {}, "provisioning state: declared Succeeded, Azure has Failed"),
        (
            {
                "poolManagementEndpoint": "https://eastus.dynamicsessions.io/subscriptions/x/resourceGroups/y/sessionPools/z"
            },
            {},
            "endpoint: declared",
        ),
    ],
)
def test_each_property_that_differs_fails_with_exit_5_and_is_named(
    capsys, monkeypatch, tmp_path, emulator, held, declared, expected
):
    # The egress probe must agree with the declaration, so an "egress on" case probes nothing that could be reached.
    with ArmStandIn(POOL, pool_properties(emulator.url, **held), granted()) as arm:
        code, report, _ = verify(capsys, monkeypatch, tmp_path, outputs(emulator.url, **declared), arm)
    assert code == 5 and not report["passed"] and report["verified"] is False
    messages = [d["message"] for d in report["differences"] if d["property"] != "egress probe"]
    assert len(messages) == 1 and messages[0].startswith(expected), report["differences"]
    assert expected in report["message"]
    assert report["sessionReleased"] is True


def test_every_difference_is_listed_at_once(capsys, monkeypatch, tmp_path, emulator):
    held = pool_properties(
        emulator.url,
        sessionNetworkConfiguration={"status": "EgressEnabled"},
        scaleConfiguration={"maxConcurrentSessions": 10},
    )
    with ArmStandIn(POOL, held, granted()[:1]) as arm:
        code, report, _ = verify(capsys, monkeypatch, tmp_path, outputs(emulator.url), arm)
    assert code == 5
    assert [d["property"] for d in report["differences"]] == ["egress", "max sessions", f"grant {APP} Session Executor"]
    assert report["differences"][0] == {
        "property": "egress",
        "declared": "EgressDisabled",
        "azure": "EgressEnabled",
        "message": "egress: declared off, Azure has EgressEnabled",
    }


def test_a_missing_grant_fails_and_says_what_the_principal_has_instead(capsys, monkeypatch, tmp_path, emulator):
    held = [granted()[0], Assignment(APP, "ServicePrincipal", READER_GUID, POOL)]
    with ArmStandIn(POOL, pool_properties(emulator.url), held) as arm:
        code, report, _ = verify(capsys, monkeypatch, tmp_path, outputs(emulator.url), arm)
    assert code == 5
    (difference,) = report["differences"]
    assert difference["message"] == (
        f"grant {APP} Session Executor: declared, Azure has no such assignment on the pool "
        f"(it has role {READER_GUID} there)"
    )
    assert [g["principalId"] for g in report["otherGrants"]] == [APP]


def test_a_grant_with_the_wrong_principal_type_fails(capsys, monkeypatch, tmp_path, emulator):
    held = [Assignment(DEPLOYER, "ServicePrincipal", EXECUTOR_GUID, POOL), granted()[1]]
    with ArmStandIn(POOL, pool_properties(emulator.url), held) as arm:
        code, report, _ = verify(capsys, monkeypatch, tmp_path, outputs(emulator.url), arm)
    assert code == 5
    (difference,) = report["differences"]
    assert difference["message"] == f"grant {DEPLOYER} Session Executor: declared type User, Azure has ServicePrincipal"
    assert (difference["declared"], difference["azure"]) == ("User", "ServicePrincipal")


def test_grants_others_own_are_reported_not_failed_and_inherited_ones_are_counted(
    capsys, monkeypatch, tmp_path, emulator
):
    group = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-dev"
    held = [
        *granted(),
        Assignment(OTHER, "ServicePrincipal", EXECUTOR_GUID, POOL),
        Assignment(OTHER, "Group", READER_GUID, group),
        Assignment(OTHER, "User", READER_GUID, f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-other"),
    ]
    with ArmStandIn(POOL, pool_properties(emulator.url), held) as arm:
        code, report, _ = verify(capsys, monkeypatch, tmp_path, outputs(emulator.url), arm)
    assert code == 0, report["message"]
    assert [(g["principalId"], g["principalType"]) for g in report["otherGrants"]] == [(OTHER, "ServicePrincipal")]
    assert report["inheritedGrants"] == 1


def test_role_assignment_pages_are_all_read(capsys, monkeypatch, tmp_path, emulator):
    held = [Assignment(OTHER, "User", READER_GUID, POOL) for _ in range(3)] + granted()
    with ArmStandIn(POOL, pool_properties(emulator.url), held, page_size=2) as arm:
        code, report, _ = verify(capsys, monkeypatch, tmp_path, outputs(emulator.url), arm)
        listings = arm.calls("roleAssignments")
    assert code == 0, report["message"]
    assert len(listings) == 3 and report["armCalls"] == 4
    assert listings[-1].query["$skipToken"] == ["4"]


def test_403_is_waited_out_then_passes(capsys, monkeypatch, tmp_path, emulator):
    faults = {"pool": [Fault(403), Fault(403)]}
    with ArmStandIn(POOL, pool_properties(emulator.url), granted(), faults=faults) as arm:
        code, out, err = told(capsys, monkeypatch, tmp_path, outputs(emulator.url), arm)
    assert code == 0, out
    assert len(arm.requests) == 4 and "arm          " + arm.url + ", 4 calls" in out
    assert "waiting for read access to the pool in Azure Resource Manager (403 AuthorizationFailed)" in err


def test_403_after_the_wait_exits_3_naming_the_reader_role_and_never_the_token(capsys, monkeypatch, tmp_path, emulator):
    faults = {"roleAssignments": [Fault(403)] * 50}
    with ArmStandIn(POOL, pool_properties(emulator.url), granted(), faults=faults) as arm:
        code, report, err = verify(capsys, monkeypatch, tmp_path, outputs(emulator.url), arm, "--rbac-wait", "0.3")
        token = arm.requests[0].headers["authorization"].split()[1]
    assert code == 3 and not report["passed"]
    assert "AuthorizationFailed" in report["message"] and "Reader role on the pool" in report["message"]
    assert "Microsoft.Authorization/roleAssignments/read" in report["message"]
    assert "failure cause: gateway" in report["message"]
    assert token not in json.dumps(report) and token not in err


def test_404_fails_as_a_pool_azure_does_not_hold(capsys, monkeypatch, tmp_path, emulator):
    with ArmStandIn(POOL, None) as arm:
        code, report, _ = verify(capsys, monkeypatch, tmp_path, outputs(emulator.url), arm)
    assert code == 5
    (difference,) = report["differences"]
    assert difference["property"] == "pool" and difference["message"].startswith(
        f"pool: declared {POOL}, Azure has no such resource (HTTP 404 ResourceNotFound"
    )
    assert [r.path for r in arm.requests] == [POOL]  # no listing at a scope that does not exist


def test_429_waits_for_its_retry_after_then_passes(capsys, monkeypatch, tmp_path, emulator):
    faults = {"pool": [Fault(429, retry_after="1")]}
    with ArmStandIn(POOL, pool_properties(emulator.url), granted(), faults=faults) as arm:
        code, out, err = told(capsys, monkeypatch, tmp_path, outputs(emulator.url), arm)
    assert code == 0, out
    assert len(arm.requests) == 3
    assert "Azure Resource Manager is throttling reads (429 SubscriptionRequestsThrottled); retrying in 1.0 s" in err


def test_updating_then_succeeded_is_read_again_until_it_settles(capsys, monkeypatch, tmp_path, emulator):
    states = ["Updating", "InProgress", "Succeeded"]
    with ArmStandIn(POOL, pool_properties(emulator.url), granted(), states=states) as arm:
        code, out, err = told(capsys, monkeypatch, tmp_path, outputs(emulator.url), arm)
    assert code == 0, out
    assert len(arm.calls("pool")) == 3
    assert "the pool is Updating in Azure Resource Manager; reading it again in" in err
    assert "the pool is InProgress" in err


def test_a_pool_still_updating_at_the_deadline_exits_4(capsys, monkeypatch, tmp_path, emulator):
    with ArmStandIn(POOL, pool_properties(emulator.url), granted(), states=["Updating"]) as arm:
        code, report, _ = verify(
            capsys, monkeypatch, tmp_path, outputs(emulator.url), arm, "--timeout", "4", "--backoff", "0.2"
        )
    assert code == 4
    assert "the pool is still Updating in Azure Resource Manager at the deadline" in report["message"]


def test_the_pool_is_read_at_the_stacks_api_version_and_a_refused_one_is_named(capsys, monkeypatch, tmp_path, emulator):
    with ArmStandIn(POOL, pool_properties(emulator.url), granted()) as arm:
        code, report, _ = verify(capsys, monkeypatch, tmp_path, outputs(emulator.url, poolApiVersion="2023-05-01"), arm)
    assert code == 2
    assert arm.requests[0].query["api-version"] == ["2023-05-01"]
    assert "NoRegisteredProviderFound" in report["message"] and "poolApiVersion (2023-05-01)" in report["message"]


def test_an_older_stack_says_which_declared_values_are_unknown(capsys, monkeypatch, tmp_path, emulator):
    older = outputs(
        emulator.url,
        maxSessions=None,
        cooldownSeconds=None,
        egressEnabled=None,
        grants=None,
        lifecycleType=None,
        poolApiVersion=None,
    )
    with ArmStandIn(POOL, pool_properties(emulator.url), granted()) as arm:
        code, report, _ = verify(capsys, monkeypatch, tmp_path, older, arm)
    assert code == 0, report["message"]
    unknown = [line.split(":")[0] for line in report["unknown"]]
    assert unknown == ["egressEnabled", "lifecycleType", "cooldownSeconds", "maxSessions", "grants"]
    assert "stack dev has no maxSessions output" in " ".join(report["unknown"])
    assert "not compared, the stack does not say: egressEnabled" in report["message"]
    assert report["egressProbe"]["declared"] is None
    assert [r.path for r in arm.requests] == [POOL]  # no grants declared: nothing to list
    assert arm.requests[0].query["api-version"] == ["2026-03-02-preview"]


def test_an_ill_typed_output_is_unknown_not_a_crash(capsys, monkeypatch, tmp_path, emulator):
    with ArmStandIn(POOL, pool_properties(emulator.url), granted()) as arm:
        code, report, _ = verify(capsys, monkeypatch, tmp_path, outputs(emulator.url, maxSessions="5"), arm)
    assert code == 0
    assert report["unknown"] == ["maxSessions: stack dev's maxSessions output is '5', not an integer"]


def test_a_stack_without_pool_id_cannot_be_verified(capsys, monkeypatch, tmp_path, emulator):
    with ArmStandIn(POOL, pool_properties(emulator.url)) as arm:
        code, report, _ = verify(capsys, monkeypatch, tmp_path, outputs(emulator.url, poolId=None), arm)
    assert code == 2 and "needs stack dev's poolId output" in report["message"]
    assert arm.requests == []


def test_nothing_listening_at_a_loopback_arm_endpoint_fails_at_once(capsys, monkeypatch, tmp_path, emulator):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    arm = ArmStandIn(POOL, None)
    arm.url = f"http://127.0.0.1:{port}"
    code, report, _ = verify(capsys, monkeypatch, tmp_path, outputs(emulator.url), arm)
    assert code == 4 and f"nothing is listening at --arm-endpoint http://127.0.0.1:{port}" in report["message"]


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--endpoint", "http://127.0.0.1:9", "--verify"], "--endpoint http://127.0.0.1:9 names no stack"),
        (["--stack", "dev", "--arm-endpoint", "http://127.0.0.1:9"], "--arm-endpoint is read by --verify and --mcp"),
        (
            ["--stack", "dev", "--egress-probe-url", "https://example.com"],
            "--egress-probe-url is read by --verify only",
        ),
        (
            ["--stack", "dev", "--verify", "--arm-endpoint", "http://management.example.com"],
            "plain http on a non-loopback",
        ),
        (["--stack", "dev", "--verify", "--arm-endpoint", "https://management.azure.com/subscriptions"], "origin only"),
        (
            ["--stack", "dev", "--verify", "--egress-probe-url", "ftp://example.com"],
            "--egress-probe-url 'ftp://example.com'",
        ),
    ],
)
def test_bad_verify_flags_are_refused_before_anything_is_looked_up(capsys, monkeypatch, tmp_path, argv, expected):
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi: a lookup would fail differently
    code = main([*argv, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 2 and expected in report["message"], report["message"]


def test_bad_verify_flags_are_reported_together(capsys):
    code = main(["--stack", "dev", "--verify", "--arm-endpoint", "ftp://x", "--egress-probe-url", "nope", "--json"])
    message = json.loads(capsys.readouterr().out)["message"]
    assert code == 2 and "--arm-endpoint 'ftp://x'" in message and "--egress-probe-url 'nope'" in message


def test_help_documents_verify_and_exit_5(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "--verify" in text and "--arm-endpoint" in text and "--egress-probe-url" in text
    assert "  5  --verify: Azure differs from what the stack declared" in text


# --- the egress probe against the emulator, both ways ------------------------------------------

needs_slirp = pytest.mark.skipif(shutil.which("slirp4netns") is None, reason="slirp4netns is not installed")


def _host_address() -> str:
    done = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True)
    lines = done.stdout.splitlines()
    return lines[0].split()[3].split("/")[0] if lines else "127.0.0.1"


class Listener:
    """A TCP listener on the host that counts what it accepts: what the HOST sees, not what the session says."""

    def __init__(self, host: str):
        self.sock = socket.create_server((host, 0))
        self.sock.settimeout(0)
        self.url = f"http://{host}:{self.sock.getsockname()[1]}"

    def accepted(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, OSError):
                return count
            conn.close()
            count += 1


def test_egress_declared_off_and_blocked_passes_and_the_host_sees_nothing(capsys, monkeypatch, tmp_path, emulator):
    pool = emulator  # egress disabled, as declared
    listener = Listener(_host_address())
    with ArmStandIn(POOL, pool_properties(pool.url), granted()) as arm:
        code, report, _ = verify(
            capsys, monkeypatch, tmp_path, outputs(pool.url), arm, "--egress-probe-url", listener.url
        )
    assert code == 0, report["message"]
    assert report["egressProbe"]["reached"] is False and report["egressProbe"]["outcome"] != "connected"
    assert listener.accepted() == 0


@pytest.fixture(scope="module")
def open_pool() -> Iterator[Emulator]:
    """A pool whose sessions may reach out, which the egress-enabled tests share."""
    yield from serving("--egress", "enabled")


@needs_slirp
def test_egress_declared_on_and_open_passes_and_the_far_host_is_reached(capsys, monkeypatch, tmp_path, open_pool):
    pool = open_pool
    held = pool_properties(pool.url, sessionNetworkConfiguration={"status": "EgressEnabled"})
    with FarHost() as far, ArmStandIn(POOL, held, granted()) as arm:
        url = f"http://{far.address}:{far.port}"
        code, report, _ = verify(
            capsys, monkeypatch, tmp_path, outputs(pool.url, egressEnabled=True), arm, "--egress-probe-url", url
        )
        assert far.accepted()  # seen by the other host
    assert code == 0, report["message"]
    probe = report["egressProbe"]
    assert (probe["target"], probe["outcome"], probe["reached"], probe["declared"]) == (
        f"{far.address}:{far.port}",
        "connected",
        True,
        "on",
    )


@needs_slirp
def test_egress_declared_off_but_open_fails_with_exit_5(capsys, monkeypatch, tmp_path, open_pool):
    pool = open_pool  # Azure's settings say off, the sessions reach out anyway
    with FarHost() as far, ArmStandIn(POOL, pool_properties(pool.url), granted()) as arm:
        url = f"http://{far.address}:{far.port}"
        code, report, _ = verify(capsys, monkeypatch, tmp_path, outputs(pool.url), arm, "--egress-probe-url", url)
        assert far.accepted()
    assert code == 5
    assert [d["message"] for d in report["differences"]] == [
        f"egress probe: declared off, but session code connected to {far.address}:{far.port}"
    ]


def test_egress_declared_on_but_blocked_fails_with_exit_5(capsys, monkeypatch, tmp_path, emulator):
    pool = emulator
    held = pool_properties(pool.url, sessionNetworkConfiguration={"status": "EgressEnabled"})
    with ArmStandIn(POOL, held, granted()) as arm:
        code, report, _ = verify(capsys, monkeypatch, tmp_path, outputs(pool.url, egressEnabled=True), arm)
    assert code == 5
    (difference,) = report["differences"]
    assert difference["message"].startswith(
        "egress probe: declared on, but session code could not connect to 198.51.100.1:8443 ("
    )


def test_the_python_probe_runs_on_a_python_pool(capsys, monkeypatch, tmp_path, launch):
    # The probe imports the standard library alone, so the pool never waits for the preloaded set to be installed.
    pool = launch("--container-type", "PythonLTS", "--python-packages", "none")
    held = pool_properties(pool.url, containerType="PythonLTS")
    with ArmStandIn(POOL, held, granted()) as arm:
        code, report, _ = verify(capsys, monkeypatch, tmp_path, outputs(pool.url, containerType="PythonLTS"), arm)
    assert code == 0, report["message"]
    assert report["egressProbe"]["reached"] is False and report["egressProbe"]["outcome"]


def test_no_credential_for_resource_manager_is_one_line_naming_its_scope(tmp_path, emulator):
    home = tmp_path / "home"
    home.mkdir()
    StandInPulumi(tmp_path, {"dev": {"outputs": outputs(emulator.url)}})
    # No Azure sign-in of any kind: no variables, no az CLI on PATH, an empty home.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "MSI_", "IDENTITY_", "IMDS_"))}
    env.update(HOME=str(home), PATH=f"{tmp_path}:{os.path.dirname(sys.executable)}:/usr/bin:/bin")
    done = subprocess.run(
        [sys.executable, "-m", "smoke", "--stack", "dev", "--verify", "--arm-endpoint", "https://127.0.0.1:9",
         "--egress-probe-url", UNREACHED, "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=100, check=False,
    )  # fmt: skip
    report = json.loads(done.stdout)
    assert done.returncode == 2, report
    assert report["message"].startswith(
        "--verify: no Azure credential could get a token for https://127.0.0.1:9/.default"
    )
    assert report["stdout"] == "hello-world\n" and report["sessionReleased"] is True
    assert done.stderr == ""


@pytest.mark.parametrize(
    "held,declared,expected",
    [
        ({}, {"location": "West Europe"}, "location: declared West Europe, Azure has northcentralus"),
        (
            {"mcpServerSettings": {"isMcpServerEnabled": True, "mcpServerEndpoint": "https://a.example/mcp"}},
            {"mcpServerEndpoint": "https://b.example/mcp"},
            "mcp endpoint: declared https://b.example/mcp, Azure has https://a.example/mcp",
        ),
    ],
)  # fmt: skip
def test_location_and_mcp_endpoint_are_compared_too(capsys, monkeypatch, tmp_path, emulator, held, declared, expected):
    with ArmStandIn(POOL, pool_properties(emulator.url, **held), granted()) as arm:
        code, report, _ = verify(capsys, monkeypatch, tmp_path, outputs(emulator.url, **declared), arm)
    assert code == 5 and [d["message"] for d in report["differences"]] == [expected]


def test_a_display_name_location_and_a_role_id_without_subscription_are_the_same(
    capsys, monkeypatch, tmp_path, emulator
):
    unscoped = f"/providers/Microsoft.Authorization/roleDefinitions/{EXECUTOR_GUID.upper()}"
    grants = [{"principalId": DEPLOYER.upper(), "principalType": "User", "roleDefinitionId": unscoped}]
    with ArmStandIn(POOL, pool_properties(emulator.url), granted()[:1]) as arm:
        code, report, _ = verify(
            capsys, monkeypatch, tmp_path, outputs(emulator.url, location="North Central US", grants=grants), arm
        )
    assert code == 0, report["message"]
    assert "location" in report["compared"] and len([c for c in report["compared"] if c.startswith("grant")]) == 1


def test_the_probe_targets_the_resource_manager_endpoint_by_default(capsys, monkeypatch, tmp_path, emulator):
    StandInPulumi(tmp_path, {"dev": {"outputs": outputs(emulator.url)}})
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with ArmStandIn(POOL, pool_properties(emulator.url), granted()) as arm:
        code = main(["--stack", "dev", "--verify", "--arm-endpoint", arm.url, *FAST, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["message"]
    assert report["egressProbe"]["target"] == arm.url.removeprefix("http://")
    assert report["egressProbe"]["reached"] is False  # the session cannot see the host's loopback


def test_a_probe_that_prints_no_outcome_exits_1(capsys, monkeypatch, tmp_path):
    from tests.fault_server import RELEASED, FaultServer, legacy_ok

    with FaultServer(legacy_ok(), legacy_ok(stdout=""), RELEASED) as pool, ArmStandIn(POOL, None) as arm:
        code, report, _ = verify(capsys, monkeypatch, tmp_path, outputs(pool.url), arm, "--api-version",
                                 "2024-02-02-preview")  # fmt: skip
        probe = pool.requests[1].json()["properties"]["code"]
    assert code == 1 and report["message"].startswith("the egress probe printed no outcome")
    assert 'require("net").connect(8443, "198.51.100.1")' in probe
    assert report["sessionReleased"] is True and arm.requests == []


def test_an_unreadable_resource_manager_answer_exits_1(capsys, monkeypatch, tmp_path, emulator):
    from tests.fault_server import FaultServer, Reply

    with FaultServer(Reply(body="<html>maintenance</html>")) as arm:
        code, report, _ = verify(capsys, monkeypatch, tmp_path, outputs(emulator.url), arm)  # type: ignore[arg-type]
    assert code == 1 and "Azure Resource Manager's answer is unreadable" in report["message"]


# --- docs/verify.md holds to what the smoke does ------------------------------------------------

DOC = (ROOT / "docs" / "verify.md").read_text()


def _table(heading: str) -> list[list[str]]:
    section = DOC.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_the_docs_exit_codes_are_the_smokes():
    from dynamic_sessions.smoke import report
    from dynamic_sessions.smoke.__main__ import EPILOG

    documented = {row[0] for row in _table("## Exit codes")}
    assert documented == set(re.findall(r"^  (\d)  ", EPILOG, re.MULTILINE)) == {"0", "1", "2", "3", "4", "5"}
    assert report.DIFFERS == 5


def test_the_docs_flags_are_the_verify_flags_of_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    offered = set(re.findall(r"^  (--[a-z-]+)", capsys.readouterr().out, re.MULTILINE))
    documented = {row[0].split("`")[1].split()[0] for row in _table("## Flags")}
    assert documented == {"--verify", "--arm-endpoint", "--egress-probe-url"} and documented <= offered


def test_the_docs_json_fields_are_the_reports():
    from dataclasses import fields

    from dynamic_sessions.smoke.report import Report

    section = DOC.split("## Under `--json`", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(\w+)`", section.split("(each", 1)[0] + section.split("),", 1)[1]))
    verify_fields = {f.name for f in fields(Report)} - {f.name for f in fields(Report) if f.name in _PLAIN_FIELDS}
    assert named == verify_fields
    assert "{property, declared, azure, message}" in section and "{target, outcome,\nreached, declared, ms}" in section


_PLAIN_FIELDS = {
    "passed", "exitCode", "message", "endpoint", "endpointSource", "apiVersion", "containerType", "status", "stdout",
    "stderr", "executionMs", "wallMs", "attempts", "sessionReleased",
}  # fmt: skip


def test_a_probe_difference_still_fails_5_when_resource_manager_cannot_be_read(capsys, monkeypatch, tmp_path, emulator):
    faults = {"pool": [Fault(403)] * 50}
    with ArmStandIn(POOL, pool_properties(emulator.url), granted(), faults=faults) as arm:
        code, report, _ = verify(
            capsys, monkeypatch, tmp_path, outputs(emulator.url, egressEnabled=True), arm, "--rbac-wait", "0.2"
        )
    assert code == 5
    assert [d["property"] for d in report["differences"]] == ["egress probe"]
    assert "; Azure Resource Manager could not be read: Azure Resource Manager refused to read" in report["message"]
