"""What the smoke reports, and how: its exit codes, the report (one JSON object under --json) and its summary.

Only the standard library: the report of a missing extra comes from here when the client cannot be imported.
"""

import json
from dataclasses import asdict, dataclass
from typing import Any, TextIO

PASSED, WRONG_RESULT, USAGE, ACCESS_DENIED, UNAVAILABLE, DIFFERS = 0, 1, 2, 3, 4, 5
VERDICTS = {
    PASSED: "passed",
    WRONG_RESULT: "the pool answered but the result is wrong",
    USAGE: "usage or configuration (no endpoint, no credential, request refused)",
    ACCESS_DENIED: "access not granted after waiting (Session Executor role missing or still propagating)",
    UNAVAILABLE: "the pool is unreachable, exhausted or failing",
    DIFFERS: "Azure differs from what the stack declared (--verify)",
}
"""What each exit code means, in a line (`--help` says it at length)."""


@dataclass
class Report:
    passed: bool
    exitCode: int
    message: str
    endpoint: str | None = None
    endpointSource: str | None = None
    apiVersion: str | None = None
    containerType: str | None = None
    status: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    executionMs: int | None = None
    wallMs: int | None = None
    attempts: int = 0
    sessionReleased: bool | None = None
    verified: bool | None = None
    """--verify only: True when Azure holds every declared value that could be compared."""
    differences: list[dict[str, Any]] | None = None
    compared: list[str] | None = None
    unknown: list[str] | None = None
    otherGrants: list[dict[str, str]] | None = None
    inheritedGrants: int | None = None
    egressProbe: dict[str, Any] | None = None
    armEndpoint: str | None = None
    armCalls: int | None = None
    armMs: int | None = None


class Verdict(Exception):
    def __init__(self, exit_code: int, message: str):
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message


def print_report(report: Report, as_json: bool, out: TextIO) -> None:
    if as_json:
        out.write(json.dumps(asdict(report)) + "\n")
        return
    lines = [f"{'PASS' if report.passed else 'FAIL'}  {report.message}"]
    facts: list[tuple[str, Any]] = [
        ("endpoint", report.endpoint and f"{report.endpoint} (from {report.endpointSource})"),
        ("api version", report.apiVersion),
        ("interpreter", report.containerType),
        ("status", report.status),
        ("stdout", None if report.stdout is None else repr(report.stdout)),
        ("stderr", report.stderr or None),
        ("execution", None if report.executionMs is None else f"{report.executionMs} ms on the pool"),
        ("wall time", None if report.wallMs is None else f"{report.wallMs} ms"),
        ("attempts", report.attempts or None),
        ("session", {True: "released", False: "not released", None: None}[report.sessionReleased]),
    ]
    facts += [("differs", d["message"]) for d in report.differences or []]
    facts += [("unknown", line) for line in report.unknown or []]
    facts += [
        ("other grant", f"{g['principalId']} ({g['principalType']}) {g['roleDefinitionId']}")
        for g in report.otherGrants or []
    ]
    if report.egressProbe is not None:
        probe = report.egressProbe
        facts.append(
            ("egress probe", f"{probe['target']}: {probe['outcome']} (declared {probe['declared'] or 'unknown'})")
        )
    if report.armEndpoint is not None:
        facts.append(("arm", f"{report.armEndpoint}, {report.armCalls} calls, {report.armMs} ms"))
    lines += [f"  {name:<13}{value}" for name, value in facts if value is not None]
    out.write("\n".join(lines) + "\n")
