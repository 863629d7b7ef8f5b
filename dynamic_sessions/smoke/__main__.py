"""`python -m smoke`: does the deployed pool run code? Exit 0 only when hello-world comes back."""

import argparse
import sys

from dynamic_sessions.client.versions import DEFAULT_API_VERSION, SUPPORTED_API_VERSIONS

EPILOG = f"""\
The endpoint comes from --endpoint, else --stack's outputs (`pulumi stack output --json`),
else $POOL_MANAGEMENT_ENDPOINT, else the selected stack's outputs: a flag always wins over the
environment, and the report names the source. The interpreter comes from --container-type, else
the stack's containerType output, else NodeLTS: console.log("hello-world") for NodeLTS,
print("hello-world") for PythonLTS. https endpoints get a token from azure-identity
(DefaultAzureCredential, scope https://dynamicsessions.io/.default); loopback http endpoints
(the emulator) get a locally minted one. A refused connection on loopback fails at once
(start the emulator); remote endpoints are retried until the deadline.

Supported API versions: {", ".join(SUPPORTED_API_VERSIONS)}.

exit codes:
  0  passed: status success and stdout exactly "hello-world\\n"
  1  the pool answered but the result is wrong (code failed, wrong stdout, unreadable body)
  2  usage or configuration (no endpoint, bad flag, unsupported version, no credential, request refused)
  3  access not granted after waiting (401/403: the Session Executor role is missing or still propagating)
  4  the pool is unreachable, exhausted or failing after the deadline"""


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m smoke",
        description="Run the interpreter's hello-world on a dynamic-sessions pool and check its stdout.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--endpoint", help="the pool management endpoint (default: see below)")
    parser.add_argument("--stack", help="Pulumi stack whose poolManagementEndpoint output to use")
    parser.add_argument(
        "--container-type",
        metavar="TYPE",
        help="the pool's interpreter, NodeLTS or PythonLTS (default: the stack's containerType output, else NodeLTS)",
    )
    parser.add_argument(
        "--api-version",
        default=DEFAULT_API_VERSION,
        help=f"data-plane API version, which picks the contract (default {DEFAULT_API_VERSION})",
    )
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object instead of a summary")
    parser.add_argument("--keep-session", action="store_true", help="do not release the session (it bills hourly)")
    parser.add_argument(
        "--rbac-wait",
        type=_seconds,
        default=600.0,
        metavar="SECONDS",
        help="how long 401/403 may last while a new role assignment propagates (default 600)",
    )
    parser.add_argument(
        "--timeout", type=_seconds, default=900.0, metavar="SECONDS", help="overall deadline (default 900)"
    )
    parser.add_argument(
        "--backoff",
        type=_seconds,
        default=1.0,
        metavar="SECONDS",
        help="first retry delay; it doubles, with jitter, up to 30 s (default 1)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from dynamic_sessions.smoke.check import run  # the HTTP stack loads only once there is something to do

    return run(args)


def cli() -> None:
    """The console script's entry point."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
