"""`python -m smoke`: does the deployed pool run code? Exit 0 only when hello-world comes back."""

import argparse
import math
import sys
from typing import NoReturn

from dynamic_sessions.api_versions import DEFAULT_API_VERSION, SHELL_API_VERSIONS, SUPPORTED_API_VERSIONS
from dynamic_sessions.azure_facts import ARM_ENDPOINT, SCOPE
from dynamic_sessions.client.errors import MissingExtra
from dynamic_sessions.extras import extra_needed
from dynamic_sessions.smoke.report import USAGE, Report, print_report

INSTALLED_PROG = "dynamic-sessions-smoke"
# The emulator's command that matches the way the smoke was started: installed script, package module, clone.
EMULATOR_COMMANDS = {
    INSTALLED_PROG: "dynamic-sessions-emulator",
    "python -m dynamic_sessions.smoke": "python -m dynamic_sessions.emulator",
}
EPILOG = f"""\
The endpoint comes from --endpoint, else --stack's outputs (`pulumi stack output --json`),
else $POOL_MANAGEMENT_ENDPOINT, else the selected stack's outputs: a flag always wins over the
environment, and the report names the source. The container type comes from --container-type,
else the stack's containerType output, else NodeLTS: console.log("hello-world") for NodeLTS,
print("hello-world") for PythonLTS, the shell command `echo hello-world` for Shell (at
--api-version {SHELL_API_VERSIONS[0]} unless given a later one). https endpoints get a token from
azure-identity (DefaultAzureCredential, scope {SCOPE}); loopback http endpoints
(the emulator) get a locally minted one. A refused connection on loopback fails at once
(start the emulator); remote endpoints are retried until the deadline.

--verify (after the hello-world): reads the stack's pool and the role assignments at its scope
through Azure Resource Manager (scope {ARM_ENDPOINT}/.default, or --arm-endpoint's)
and compares them with the stack's outputs: container type, egress, lifecycle, cooldown, max and
ready sessions, provisioning state, endpoint, location, and each declared grant (principal, type,
role); other grants at the pool are reported, not failed. In the same session, an egress probe
connects to --egress-probe-url's host: it must fail when egress is declared off, succeed when on.
It needs the Reader role on the pool (pool and role assignments read). The stack is --stack, else
the selected one; --endpoint and $POOL_MANAGEMENT_ENDPOINT are not used with it.

Supported API versions: {", ".join(SUPPORTED_API_VERSIONS)}.

exit codes:
  0  passed: status success and stdout exactly "hello-world\\n"
  1  the pool answered but the result is wrong (code or command failed, wrong stdout, unreadable body)
  2  usage or configuration (no endpoint, bad flag, --endpoint with --stack, unsupported version or container
     type, no Azure credential, request refused)
  3  access not granted after waiting (401/403: the Session Executor role is missing or still propagating;
     with --verify, also Resource Manager's 401/403: read access to the pool, such as Reader, is missing)
  4  the pool is unreachable, exhausted (429, "pool full") or failing (5xx, timeouts) after the deadline;
     or nothing listens on a loopback endpoint (at once); with --verify, also Resource Manager, or a pool
     still provisioning at the deadline
  5  --verify: Azure differs from what the stack declared, or the egress probe contradicts it (each
     difference named, and listed under --json as "differences")"""


def _seconds(text: str) -> float:
    """argparse names the flag; this names the value and what is allowed."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: a number of seconds, 0 or more, such as 600")
    return value


class _Parser(argparse.ArgumentParser):
    """Under --json a bad flag is still one JSON object on stdout, so a caller that parses it learns why."""

    json_report = False

    def error(self, message: str) -> NoReturn:
        if self.json_report:
            print_report(Report(passed=False, exitCode=USAGE, message=f"{self.prog}: {message}"), True, sys.stdout)
        super().error(message)


def parse_args(argv: list[str] | None, prog: str = "python -m smoke") -> argparse.Namespace:
    parser = _Parser(
        prog=prog,
        description="Run the interpreter's hello-world on a dynamic-sessions pool and check its stdout.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--endpoint", help="the pool management endpoint (default: see below)")
    parser.add_argument("--stack", help="Pulumi stack whose poolManagementEndpoint output to use")
    parser.add_argument(
        "--container-type",
        metavar="TYPE",
        help="the pool's container type, NodeLTS, PythonLTS or Shell (default: the stack's containerType output, "
        "else NodeLTS)",
    )
    parser.add_argument(
        "--api-version",
        help=f"data-plane API version, which picks the contract (default {DEFAULT_API_VERSION}; "
        f"{SHELL_API_VERSIONS[0]} for Shell pools)",
    )
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object instead of a summary")
    parser.add_argument(
        "--mcp",
        action="store_true",
        help="run the hello-world through the pool's MCP server instead: --endpoint is then the MCP endpoint "
        "(default $MCP_SERVER_ENDPOINT, else the stack's mcpServerEndpoint); the key from --mcp-api-key, "
        "$MCP_SERVER_API_KEY, else the ARM action fetchMcpServerCredentials on the stack's poolId",
    )
    parser.add_argument("--mcp-api-key", metavar="KEY", help="the MCP server's key (the emulator prints its own)")
    parser.add_argument("--keep-session", action="store_true", help="do not release the session (it bills hourly)")
    parser.add_argument(
        "--rbac-wait",
        type=_seconds,
        default=600.0,
        metavar="SECONDS",
        help="how long 401/403 may last while a new role assignment propagates (default %(default).0f)",
    )
    parser.add_argument(
        "--timeout", type=_seconds, default=900.0, metavar="SECONDS", help="overall deadline (default %(default).0f)"
    )
    parser.add_argument(
        "--backoff",
        type=_seconds,
        default=1.0,
        metavar="SECONDS",
        help="first retry delay; it doubles, with jitter, up to 30 s (default %(default).0f)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="after the hello-world, compare what Azure holds with what the stack declared (see below)",
    )
    parser.add_argument(
        "--arm-endpoint",
        metavar="URL",
        help=f"Azure Resource Manager for --verify and --mcp's key (default {ARM_ENDPOINT}; "
        "sovereign clouds: their own, such as https://management.usgovcloudapi.net)",
    )
    parser.add_argument(
        "--egress-probe-url",
        metavar="URL",
        help="what --verify's egress probe connects to, host and port (default: the Resource Manager endpoint)",
    )
    # The hint for a loopback endpoint nobody listens on names the emulator as this smoke was started.
    parser.set_defaults(emulator_command=EMULATOR_COMMANDS.get(prog, "python -m emulator"))
    parser.json_report = "--json" in (sys.argv[1:] if argv is None else argv)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, prog: str = "python -m smoke") -> int:
    args = parse_args(argv, prog)
    # The HTTP stack loads only once there is something to do; without it, the report names the extra to install.
    try:
        if args.mcp:
            with extra_needed(f"{prog} --mcp", "mcp"):
                from dynamic_sessions.smoke.mcp_check import run
        else:
            with extra_needed(prog, "client"):
                from dynamic_sessions.smoke.runner import run
    except MissingExtra as missing:
        print_report(Report(passed=False, exitCode=USAGE, message=str(missing)), args.json, sys.stdout)
        return USAGE
    return run(args)


def cli() -> None:
    """The console script's entry point: its usage lines name the script."""
    sys.exit(main(prog=INSTALLED_PROG))


if __name__ == "__main__":
    sys.exit(main(prog="python -m dynamic_sessions.smoke"))
