"""The hello-world step of the post-deploy check, and what every step shares: the progress line and the retry
policy, patient where Azure needs time. `dynamic_sessions.smoke.runner` runs the steps in order."""

import argparse
import time
from typing import TextIO

from dynamic_sessions.api_versions import DEFAULT_API_VERSION, SHELL_API_VERSIONS
from dynamic_sessions.azure_facts import DEFAULT_CONTAINER_TYPE
from dynamic_sessions.client.arm import normalize_arm_endpoint
from dynamic_sessions.client.client import SessionsClient, connect_failed_message
from dynamic_sessions.client.contracts import contract_for
from dynamic_sessions.client.errors import (
    AccessDenied,
    ConfigurationError,
    ConnectFailed,
    RequestRejected,
    ServiceUnavailable,
    SessionsError,
    Throttled,
    UnexpectedResponse,
    UnreachableError,
)
from dynamic_sessions.client.results import CommandResult, ExecutionResult
from dynamic_sessions.client.retries import RetryPolicy, Wait
from dynamic_sessions.smoke.egress import target_of
from dynamic_sessions.smoke.endpoint import Found
from dynamic_sessions.smoke.report import (
    ACCESS_DENIED,
    UNAVAILABLE,
    USAGE,
    WRONG_RESULT,
    Report,
    Verdict,
)

SHELL = "Shell"
HELLO = {"NodeLTS": 'console.log("hello-world")', "PythonLTS": 'print("hello-world")', SHELL: "echo hello-world"}
"""Each container type's hello-world: code for the interpreters (NodeLTS's is the tutorial's), a command for Shell."""
SHELL_API_VERSION = SHELL_API_VERSIONS[0]
"""A Shell pool's default: the first version with Shell commands, the one LangChain's SessionsBashTool speaks."""
EXPECTED_STDOUT = "hello-world\n"
BACKOFF_CAP_S = 30.0
EMPTY_FLAG_MEANS = {"--endpoint": "pool's management endpoint URL", "--stack": "name of a deployed stack"}


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


class SmokePolicy(RetryPolicy):
    """The client's retry policy, bounded by the smoke's deadline, plus the wait for a new role assignment.

    On top of the client's retries it waits out 401/403 for up to --rbac-wait seconds, and retries read
    timeouts (its own hello-world is harmless to run twice). Every pause is told on one progress line.
    """

    def __init__(self, args: argparse.Namespace, progress: Progress):
        super().__init__(attempts=None, timeout_s=None, backoff_s=args.backoff, backoff_max_s=BACKOFF_CAP_S)
        self.on_wait = self._tell
        self.rbac_wait_s: float = args.rbac_wait
        self.progress = progress
        self.denied_since: float | None = None
        self.waits = 0

    def denied_for(self) -> float:
        return 0.0 if self.denied_since is None else time.monotonic() - self.denied_since

    def delay(self, error: SessionsError, attempt: int, remote: bool) -> float | None:
        if isinstance(error, AccessDenied):
            self.denied_since = self.denied_since or time.monotonic()
            left = self.rbac_wait_s - self.denied_for()
            return min(self.backoff(attempt), left) if left > 0 else None
        if type(error) is UnreachableError:  # a read timeout or a dropped connection, not a refused one
            return self.backoff(attempt)
        return super().delay(error, attempt, remote)

    def _tell(self, wait: Wait) -> None:
        self.waits += 1
        left = "" if wait.left_s is None else f", {max(0.0, wait.left_s):.0f} s left before the deadline"
        self.progress.say(f"{self.describe(wait.error)}; retrying in {wait.delay_s:.1f} s{left}")

    # What each kind of pause waits for, in its progress line's words.
    WAITS_FOR_ACCESS = "waiting for the role assignment to take effect"
    UNANSWERED = "no good answer yet"

    def throttled(self, error: Throttled) -> str:
        return f"the pool is full ({error.status})"

    def describe(self, error: SessionsError) -> str:
        """What a pause waits for, as its progress line says it."""
        if isinstance(error, AccessDenied):
            reason = f"{error.status} {error.error_code or ''}".strip()
            return f"{self.WAITS_FOR_ACCESS} ({reason}): {self.denied_for():.0f} s of {self.rbac_wait_s:.0f} s"
        if isinstance(error, Throttled):
            return self.throttled(error)
        return f"{self.UNANSWERED} ({error})"


def check_arguments(args: argparse.Namespace) -> None:
    """Everything the flags alone can get wrong, before anything is looked up or called."""
    try:
        if args.api_version is not None:
            contract_for(args.api_version)
    except ConfigurationError as error:
        raise Verdict(USAGE, f"--api-version: {error}") from None
    if args.container_type is not None and args.container_type not in HELLO:
        raise Verdict(
            USAGE, f"--container-type {args.container_type!r} is not supported; use one of: {', '.join(HELLO)}"
        )
    for flag, value in (("--endpoint", args.endpoint), ("--stack", args.stack)):
        if value is not None and not value.strip():
            raise Verdict(USAGE, f"{flag} is empty; give the {EMPTY_FLAG_MEANS[flag]}, or leave the flag out")
    if args.endpoint and args.stack:
        raise Verdict(
            USAGE, f"--endpoint {args.endpoint} and --stack {args.stack} both name a pool; give only one of them"
        )
    _check_verify_flags(args)


def _check_verify_flags(args: argparse.Namespace) -> None:
    problems = []
    if not args.verify:
        if args.egress_probe_url is not None:
            problems.append("--egress-probe-url is read by --verify only; add --verify or drop --egress-probe-url")
        if args.arm_endpoint is not None and not args.mcp:
            problems.append(
                "--arm-endpoint is read by --verify and --mcp (its key) only; add one of them or drop --arm-endpoint"
            )
    elif args.endpoint:
        problems.append(
            f"--verify compares the pool with a stack's declaration, and --endpoint {args.endpoint} names no stack; "
            "give --stack NAME instead (or select the stack)"
        )
    if args.arm_endpoint is not None:
        try:
            normalize_arm_endpoint(args.arm_endpoint)
        except ConfigurationError as bad:
            problems.append(str(bad))
    if args.egress_probe_url is not None:
        try:
            target_of(args.egress_probe_url)
        except ValueError as bad:
            problems.append(str(bad))
    if problems:
        raise Verdict(USAGE, "; ".join(problems))


def container_type(flag: str | None, found: Found) -> str:
    if flag and found.container_type and flag != found.container_type:
        raise Verdict(
            USAGE,
            f"--container-type {flag} disagrees with {found.source}'s containerType output {found.container_type}; "
            "drop the flag or check the stack",
        )
    chosen = flag or found.container_type or DEFAULT_CONTAINER_TYPE
    if chosen not in HELLO:
        raise Verdict(USAGE, f"{found.source} says containerType {chosen!r}; the smoke knows only: {', '.join(HELLO)}")
    return chosen


def api_version(flag: str | None, chosen_type: str) -> str:
    """--api-version, else the default of the container type: Shell commands need a later one than the tutorial's."""
    if chosen_type == SHELL and flag is not None and flag not in SHELL_API_VERSIONS:
        raise Verdict(
            USAGE,
            f"--api-version {flag} has no Shell commands; a Shell pool runs them at {' or '.join(SHELL_API_VERSIONS)} "
            f"(drop the flag for {SHELL_API_VERSION})",
        )
    return flag or (SHELL_API_VERSION if chosen_type == SHELL else DEFAULT_API_VERSION)


def run_in_session(
    client: SessionsClient, chosen_type: str, source: str, identifier: str
) -> ExecutionResult | CommandResult:
    """Runs `source` in the session: as a shell command on a Shell pool, as code on the others."""
    if chosen_type == SHELL:
        return client.run_command(source, identifier)
    return client.execute(source, identifier)


def unanswered(error: SessionsError, client: SessionsClient, policy: SmokePolicy, emulator: str) -> Verdict:
    """The verdict when the pool never gave a usable answer; `emulator` is the command that starts one."""
    if isinstance(error, AccessDenied):
        return Verdict(
            ACCESS_DENIED,
            f"access not granted after {policy.denied_for():.0f} s ({error}). The caller needs the "
            "'Azure ContainerApps Session Executor' role on the pool; a new assignment can take ~10 minutes. "
            "If your environment also requires 'Container Apps SessionPools Contributor', as some Microsoft "
            "pages say, set dynamic-sessions:grantContributor=true and run pulumi up again.",
        )
    if isinstance(error, Throttled):
        return Verdict(UNAVAILABLE, f"the pool stayed exhausted until the deadline ({error})")
    if isinstance(error, ConnectFailed) and not client.remote:
        return Verdict(UNAVAILABLE, connect_failed_message(client.endpoint, error.reason, emulator))
    if isinstance(error, ServiceUnavailable | UnreachableError):
        return Verdict(UNAVAILABLE, f"the pool is unreachable or failing after the deadline ({error})")
    if isinstance(error, RequestRejected):
        return Verdict(USAGE, f"the pool refused the request ({error}); check the endpoint and --api-version")
    if isinstance(error, UnexpectedResponse):
        return Verdict(WRONG_RESULT, f"the pool's answer is unreadable: {error}")
    return Verdict(USAGE, str(error))


def judge(result: ExecutionResult | CommandResult, report: Report) -> None:
    report.status, report.stdout, report.stderr = result.status, result.stdout, result.stderr
    report.executionMs = result.execution_ms
    if isinstance(result, CommandResult) and not result.succeeded:
        why = (result.stderr.strip().splitlines() or [result.error_message or "no stderr"])[0]
        raise Verdict(
            WRONG_RESULT,
            f"the command failed on the pool (status {result.status}, exit code {result.exit_code}"
            f"{', ' + result.error_name if result.error_name else ''}): {why}",
        )
    if not result.succeeded:
        first = (result.stderr.strip().splitlines() or ["no stderr"])[0]
        raise Verdict(WRONG_RESULT, f"the code failed on the pool (status {result.status}): {first}")
    if result.stdout != EXPECTED_STDOUT:
        raise Verdict(WRONG_RESULT, f"stdout was {result.stdout!r}, expected {EXPECTED_STDOUT!r}")
