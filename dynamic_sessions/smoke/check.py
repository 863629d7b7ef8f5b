"""The post-deploy check: hello-world on the pool, patient where Azure needs time, clear when it fails."""

import argparse
import json
import random
import secrets
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from dynamic_sessions.client.client import SessionsClient
from dynamic_sessions.client.errors import (
    AccessDenied,
    ConfigurationError,
    RequestRejected,
    ServiceUnavailable,
    SessionsError,
    Throttled,
    UnexpectedResponse,
    UnreachableError,
)
from dynamic_sessions.client.results import ExecutionResult
from dynamic_sessions.smoke.endpoint import EndpointNotFound, find_endpoint

HELLO = 'console.log("hello-world")'
EXPECTED_STDOUT = "hello-world\n"
PASSED, WRONG_RESULT, USAGE, ACCESS_DENIED, UNAVAILABLE = 0, 1, 2, 3, 4
BACKOFF_CAP_S = 30.0
RELEASE_BUDGET_S = 15.0


@dataclass
class Report:
    passed: bool
    exitCode: int
    message: str
    endpoint: str | None = None
    endpointSource: str | None = None
    apiVersion: str | None = None
    status: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    executionMs: int | None = None
    wallMs: int | None = None
    attempts: int = 0
    sessionReleased: bool | None = None


class Verdict(Exception):
    def __init__(self, exit_code: int, message: str):
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message


class Progress:
    """What the check waits for: one live line on a terminal, plain lines otherwise (CI logs)."""

    def __init__(self, stream: TextIO, quiet: bool):
        self.stream = stream
        self.live = stream.isatty()
        self.quiet = quiet
        self.dirty = False

    def say(self, text: str) -> None:
        if self.quiet and not self.live:
            return
        if self.live:
            self.stream.write(f"\r\033[K{text}")
            self.dirty = True
        else:
            self.stream.write(f"{text}\n")
        self.stream.flush()

    def done(self) -> None:
        if self.dirty:
            self.stream.write("\n")
            self.stream.flush()
            self.dirty = False


class Backoff:
    """Exponential delays with jitter, so many checks started together do not retry in step."""

    def __init__(self, first_s: float):
        self.first_s = first_s
        self.step = 0

    def next(self) -> float:
        delay = min(BACKOFF_CAP_S, self.first_s * 2**self.step)
        self.step += 1
        return delay * random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not a secret)


def _execute_patiently(
    client: SessionsClient, identifier: str, args: argparse.Namespace, progress: Progress, report: Report
) -> ExecutionResult:
    deadline = client.deadline or time.monotonic() + args.timeout
    backoff = Backoff(args.backoff)
    denied_since: float | None = None
    while True:
        report.attempts += 1
        try:
            return client.execute(HELLO, identifier)
        except AccessDenied as denied:
            now = time.monotonic()
            denied_since = denied_since or now
            waited = now - denied_since
            if waited >= args.rbac_wait or now >= deadline:
                raise Verdict(
                    ACCESS_DENIED,
                    f"access not granted after {waited:.0f} s ({denied}). The caller needs the "
                    "'Azure ContainerApps Session Executor' role on the pool; a new assignment can take ~10 minutes.",
                ) from None
            delay = min(backoff.next(), args.rbac_wait - waited)
            reason = f"{denied.status} {denied.error_code or ''}".strip()
            progress.say(
                f"waiting for the role assignment to take effect ({reason}): {waited:.0f} s of {args.rbac_wait:.0f} s"
            )
        except Throttled as busy:
            delay = busy.retry_after if busy.retry_after is not None else backoff.next()
            progress.say(f"the pool is full ({busy.status}); retrying in {delay:.1f} s")
            _check_time(deadline, delay, f"the pool stayed exhausted until the deadline ({busy})")
        except (ServiceUnavailable, UnreachableError) as failing:
            delay = backoff.next()
            progress.say(f"no good answer yet ({failing}); retrying in {delay:.1f} s")
            _check_time(deadline, delay, f"the pool is unreachable or failing after the deadline ({failing})")
        except RequestRejected as rejected:
            raise Verdict(
                USAGE, f"the pool refused the request ({rejected}); check the endpoint and --api-version"
            ) from None
        except UnexpectedResponse as unreadable:
            raise Verdict(WRONG_RESULT, f"the pool's answer is unreadable: {unreadable}") from None
        except ConfigurationError as config:
            raise Verdict(USAGE, str(config)) from None
        time.sleep(max(0.0, min(delay, deadline - time.monotonic())))


def _check_time(deadline: float, delay: float, message: str) -> None:
    if time.monotonic() + delay >= deadline:
        raise Verdict(UNAVAILABLE, message)


def _judge(result: ExecutionResult, report: Report) -> None:
    report.status, report.stdout, report.stderr = result.status, result.stdout, result.stderr
    report.executionMs = result.execution_ms
    if not result.succeeded:
        first = (result.stderr.strip().splitlines() or ["no stderr"])[0]
        raise Verdict(WRONG_RESULT, f"the code failed on the pool (status {result.status}): {first}")
    if result.stdout != EXPECTED_STDOUT:
        raise Verdict(WRONG_RESULT, f"stdout was {result.stdout!r}, expected {EXPECTED_STDOUT!r}")


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
    client: SessionsClient | None = None
    identifier = f"smoke-{secrets.token_hex(8)}"
    reached = False
    try:
        found = find_endpoint(args.endpoint, args.stack)
        report.endpointSource = found.source
        client = SessionsClient(found.endpoint, api_version=args.api_version)
        report.endpoint = client.endpoint
        client.deadline = started + args.timeout
        result = _execute_patiently(client, identifier, args, progress, report)
        reached = True
        _judge(result, report)
        report.passed, report.exitCode, report.message = True, PASSED, "hello-world ran on the pool"
    except EndpointNotFound as missing:
        report.exitCode, report.message = USAGE, str(missing)
    except ConfigurationError as config:
        report.exitCode, report.message = USAGE, str(config)
    except Verdict as verdict:
        report.exitCode, report.message = verdict.exit_code, verdict.message
        reached = reached or verdict.exit_code == WRONG_RESULT
    finally:
        progress.done()
    if client is not None:
        if reached and not args.keep_session:
            _release(client, identifier, report)
        client.close()
    report.wallMs = round((time.monotonic() - started) * 1000)
    _print(report, args.json, out)
    return report.exitCode


def _print(report: Report, as_json: bool, out: TextIO) -> None:
    if as_json:
        out.write(json.dumps(asdict(report)) + "\n")
        return
    lines = [f"{'PASS' if report.passed else 'FAIL'}  {report.message}"]
    facts: list[tuple[str, Any]] = [
        ("endpoint", report.endpoint and f"{report.endpoint} (from {report.endpointSource})"),
        ("api version", report.apiVersion),
        ("status", report.status),
        ("stdout", None if report.stdout is None else repr(report.stdout)),
        ("stderr", report.stderr or None),
        ("execution", None if report.executionMs is None else f"{report.executionMs} ms on the pool"),
        ("wall time", f"{report.wallMs} ms"),
        ("attempts", report.attempts or None),
        ("session", {True: "released", False: "not released", None: None}[report.sessionReleased]),
    ]
    lines += [f"  {name:<13}{value}" for name, value in facts if value is not None]
    out.write("\n".join(lines) + "\n")
