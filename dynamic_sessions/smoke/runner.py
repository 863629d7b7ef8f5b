"""The post-deploy check's steps, run in order: hello-world on the pool, then with --verify the egress probe in
the same session and the read-back from Azure Resource Manager. No step imports this module back.

`python -m smoke --mcp` runs the MCP step (`dynamic_sessions.smoke.mcp_check`) instead, chosen by the command
line because it needs another extra."""

import argparse
import os
import sys
import time
from typing import TextIO

from dynamic_sessions.client.client import SessionsClient
from dynamic_sessions.client.errors import ConfigurationError, SessionsError
from dynamic_sessions.smoke import verify
from dynamic_sessions.smoke.check import (
    HELLO,
    Progress,
    SmokePolicy,
    api_version,
    check_arguments,
    container_type,
    judge,
    run_in_session,
    unanswered,
)
from dynamic_sessions.smoke.declared import Declaration, from_outputs
from dynamic_sessions.smoke.endpoint import EndpointNotFound, Found, find_endpoint, from_stack
from dynamic_sessions.smoke.report import PASSED, USAGE, WRONG_RESULT, Report, Verdict, print_report

RELEASE_BUDGET_S = 15.0


def _release(client: SessionsClient, identifier: str, report: Report) -> None:
    client.deadline = time.monotonic() + RELEASE_BUDGET_S
    try:
        report.sessionReleased = client.release(identifier)
    except SessionsError as error:
        report.sessionReleased = False
        report.message += f" (the session was not released: {error}; it ends after the pool's cooldown)"


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    started = time.monotonic()

    report = Report(passed=False, exitCode=USAGE, message="", apiVersion=args.api_version)
    progress = Progress(err, quiet=args.json)
    policy = SmokePolicy(args, progress)
    client: SessionsClient | None = None
    identifier = f"smoke-{os.urandom(8).hex()}"
    reached = released = False
    try:
        check_arguments(args)
        found = from_stack(args.stack) if args.verify else find_endpoint(args.endpoint, args.stack)
        report.endpointSource = found.source
        report.containerType = container_type(args.container_type, found)
        report.apiVersion = api_version(args.api_version, report.containerType)
        declared = _declaration(found) if args.verify else None
        try:
            client = SessionsClient(found.endpoint, api_version=report.apiVersion, retry=policy)
        except ConfigurationError as bad:
            raise Verdict(USAGE, f"{found.source}: {bad}") from None
        report.endpoint = client.endpoint
        client.deadline = started + args.timeout
        try:
            result = run_in_session(client, report.containerType, HELLO[report.containerType], identifier)
            reached = True
            judge(result, report)
            if declared is not None:
                report.egressProbe, probed = verify.probe_egress(
                    client, identifier, report.containerType, verify.probe_target(args), declared
                )
        except SessionsError as error:
            raise unanswered(error, client, policy, args.emulator_command) from None
        finally:
            report.attempts = policy.waits + 1
        if declared is not None:
            if not args.keep_session:
                _release(client, identifier, report)
            released = True
            report.message = verify.read_back_and_compare(
                args, declared, probed, found.source, progress, started + args.timeout, report
            )
        else:
            report.message = "hello-world ran on the pool"
        report.passed, report.exitCode = True, PASSED
    except EndpointNotFound as missing:
        report.exitCode, report.message = USAGE, str(missing)
    except Verdict as verdict:
        report.exitCode, report.message = verdict.exit_code, verdict.message
        reached = reached or verdict.exit_code == WRONG_RESULT
    finally:
        progress.done()
    if client is not None:
        if reached and not released and not args.keep_session:
            _release(client, identifier, report)
        client.close()
    report.wallMs = round((time.monotonic() - started) * 1000)
    print_report(report, args.json, out)
    return report.exitCode


def _declaration(found: Found) -> Declaration:
    declared = from_outputs(found.outputs, found.source)
    if declared.pool_id is None:
        raise Verdict(
            USAGE,
            f"--verify needs {found.source}'s poolId output to read the pool from Azure Resource Manager; "
            "run `pulumi up` with this version of the program first",
        )
    return declared
