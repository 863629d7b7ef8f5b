"""`--verify`: after the hello-world, does Azure hold what the stack declared, and does egress behave so?

Two parts. The egress probe runs in the hello-world's session, before it is released. Then the pool
and the role assignments at its scope are read through Azure Resource Manager and compared with the
stack's outputs. ARM's own failures get the smoke's waits: 401/403 for up to --rbac-wait (a new Reader
assignment propagates like any other), 429 after its Retry-After, 5xx with backoff, a pool whose
provisioning is still under way read again until it settles; all within --timeout.
"""

import argparse
import time
from dataclasses import asdict
from typing import Any

from dynamic_sessions.client.arm import DEFAULT_ENDPOINT, ArmReader, PoolState
from dynamic_sessions.client.client import SessionsClient
from dynamic_sessions.client.errors import (
    AccessDenied,
    ConfigurationError,
    ConnectFailed,
    NotFound,
    RequestRejected,
    SessionsError,
    Throttled,
    UnexpectedResponse,
)
from dynamic_sessions.smoke import egress
from dynamic_sessions.smoke.check import Progress, SmokePolicy, run_in_session
from dynamic_sessions.smoke.compare import ON_OFF, Comparison, compare_grants, compare_pool
from dynamic_sessions.smoke.declared import Declaration
from dynamic_sessions.smoke.report import ACCESS_DENIED, DIFFERS, UNAVAILABLE, USAGE, WRONG_RESULT, Report, Verdict

READER_RIGHTS = (
    "--verify reads the pool and the role assignments at its scope (Microsoft.App/sessionPools/read, "
    "Microsoft.Authorization/roleAssignments/read): the Reader role on the pool is enough"
)


def arm_endpoint(args: argparse.Namespace) -> str:
    return args.arm_endpoint or DEFAULT_ENDPOINT


def probe_target(args: argparse.Namespace) -> egress.Target:
    """--egress-probe-url, else Resource Manager's host: a sovereign cloud's pool probes its own cloud."""
    return egress.target_of(args.egress_probe_url or arm_endpoint(args))


class ArmPolicy(SmokePolicy):
    """The smoke's waits, told as waits for Azure Resource Manager."""

    WAITS_FOR_ACCESS = "waiting for read access to the pool in Azure Resource Manager"
    UNANSWERED = "no good answer from Azure Resource Manager yet"

    def throttled(self, error: Throttled) -> str:
        return f"Azure Resource Manager is throttling reads ({error.status} {error.error_code or ''})".rstrip()


def probe_egress(
    client: SessionsClient, identifier: str, container_type: str, target: egress.Target, declared: Declaration
) -> tuple[dict[str, Any], Comparison]:
    """Runs the probe in the session `identifier`; the comparison holds its difference, if any."""
    started = time.monotonic()
    result = run_in_session(client, container_type, egress.probe_code(container_type, target), identifier)
    took_ms = round((time.monotonic() - started) * 1000)
    outcome = egress.outcome_of(result)
    if outcome is None:
        first = (result.stderr.strip().splitlines() or [repr(result.stdout[:120])])[0]
        raise Verdict(WRONG_RESULT, f"the egress probe printed no outcome (status {result.status}): {first}")
    reached = outcome == "connected"
    found = Comparison()
    want = declared.egress_enabled
    if want is not None:
        found.compared.append("egress probe")
        if reached != want:
            what = (
                f"session code connected to {target}"
                if reached
                else f"session code could not connect to {target} ({outcome})"
            )
            found.differ("egress probe", ON_OFF[want], outcome, f"egress probe: declared {ON_OFF[want]}, but {what}")
    probe = {
        "target": str(target),
        "outcome": outcome,
        "reached": reached,
        "declared": None if want is None else ON_OFF[want],
        "ms": took_ms,
    }
    return probe, found


def read_back_and_compare(
    args: argparse.Namespace,
    declared: Declaration,
    probed: Comparison,
    source: str,
    progress: Progress,
    deadline: float,
    report: Report,
) -> str:
    """After the probe (`probed`): the read-back and the verdict. Returns the passing message; raises a Verdict."""
    try:
        held, unread = read_back(args, declared, progress, deadline, report), ""
    except Verdict as failed:
        if not probed.differences:
            raise
        # A difference already found is the verdict; why the rest could not be compared goes with it.
        held, unread = Comparison(), f"; Azure Resource Manager could not be read: {failed.message}"
    conclude(merge(probed, held), declared, source, report, unread)
    compared = len(report.compared or [])
    message = f"hello-world ran on the pool, and Azure holds what {source} declares ({compared} values compared)"
    if declared.unknown:
        names = ", ".join(line.split(":", 1)[0] for line in declared.unknown)
        message += f"; not compared, the stack does not say: {names}"
    return message


def read_back(
    args: argparse.Namespace, declared: Declaration, progress: Progress, deadline: float, report: Report
) -> Comparison:
    """The pool and its grants from Resource Manager, compared with the declaration; a Verdict when it gives
    no answer."""
    assert declared.pool_id is not None
    policy = ArmPolicy(args, progress)
    started = time.monotonic()
    try:
        arm = ArmReader(arm_endpoint(args), retry=policy)
    except ConfigurationError as bad:
        raise Verdict(USAGE, str(bad)) from None
    arm.deadline = deadline
    report.armEndpoint = arm.endpoint
    found = Comparison()
    try:
        try:
            pool = _settled_pool(arm, declared, policy, progress, deadline)
        except NotFound as missing:
            found.compared.append("pool")
            found.differ(
                "pool",
                declared.pool_id,
                None,
                f"pool: declared {declared.pool_id}, Azure has no such resource ({missing})",
            )
            return found
        compare_pool(declared, pool, found)
        if declared.grants is not None:
            compare_grants(declared, arm.role_assignments(declared.pool_id), found)
        return found
    except SessionsError as error:
        raise _arm_unanswered(error, arm, policy, declared) from None
    finally:
        report.armCalls = arm.calls
        report.armMs = round((time.monotonic() - started) * 1000)
        arm.close()


def _settled_pool(
    arm: ArmReader, declared: Declaration, policy: SmokePolicy, progress: Progress, deadline: float
) -> PoolState:
    """The pool once its provisioning state stops changing (Succeeded, Failed, ...), read again while it is not."""
    assert declared.pool_id is not None
    attempt = 0
    while True:
        pool = arm.get_pool(declared.pool_id, declared.pool_api_version)
        if pool.settled or pool.provisioning_state is None:
            return pool
        attempt += 1
        pause = policy.backoff(attempt)
        left = deadline - time.monotonic()
        if pause >= left:
            raise Verdict(
                UNAVAILABLE,
                f"the pool is still {pool.provisioning_state} in Azure Resource Manager at the deadline; "
                "run the smoke again once the deployment has finished",
            )
        progress.say(
            f"the pool is {pool.provisioning_state} in Azure Resource Manager; reading it again in {pause:.1f} s, "
            f"{left:.0f} s left before the deadline"
        )
        time.sleep(pause)


def _arm_unanswered(error: SessionsError, arm: ArmReader, policy: SmokePolicy, declared: Declaration) -> Verdict:
    if isinstance(error, AccessDenied):
        return Verdict(
            ACCESS_DENIED,
            f"Azure Resource Manager refused to read {declared.pool_id} after {policy.denied_for():.0f} s ({error}). "
            f"{READER_RIGHTS}; a new assignment can take ~10 minutes.",
        )
    if isinstance(error, Throttled):
        return Verdict(UNAVAILABLE, f"Azure Resource Manager kept throttling reads until the deadline ({error})")
    if isinstance(error, ConnectFailed) and not arm.remote:
        return Verdict(UNAVAILABLE, f"nothing is listening at --arm-endpoint {arm.endpoint} ({error})")
    if isinstance(error, ConfigurationError):
        return Verdict(USAGE, f"--verify: {error}")
    if isinstance(error, RequestRejected):
        return Verdict(
            USAGE,
            f"Azure Resource Manager refused the read ({error}); check the stack's poolId and poolApiVersion "
            f"({declared.pool_api_version})",
        )
    if isinstance(error, UnexpectedResponse):
        return Verdict(WRONG_RESULT, f"Azure Resource Manager's answer is unreadable: {error}")
    return Verdict(UNAVAILABLE, f"Azure Resource Manager is unreachable or failing after the deadline ({error})")


def conclude(found: Comparison, declared: Declaration, source: str, report: Report, unread: str = "") -> None:
    """Writes the comparison into the report; a Verdict with DIFFERS when anything differs (`unread` says what
    could not be compared, and why)."""
    report.differences = [asdict(d) for d in found.differences]
    report.compared = found.compared
    report.unknown = declared.unknown
    report.otherGrants = found.other_grants
    report.inheritedGrants = found.inherited_grants
    report.verified = not found.differences
    if found.differences:
        listed = "; ".join(d.message for d in found.differences)
        count = len(found.differences)
        raise Verdict(
            DIFFERS,
            f"Azure differs from {source}'s declaration ({count} difference{'s' * (count > 1)}): {listed}{unread}",
        )


def merge(*parts: Comparison) -> Comparison:
    merged = Comparison()
    for part in parts:
        merged.differences += part.differences
        merged.compared += part.compared
        merged.other_grants += part.other_grants
        merged.inherited_grants += part.inherited_grants
    return merged
