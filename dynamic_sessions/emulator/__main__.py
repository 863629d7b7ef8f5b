"""`python -m emulator`: serve a session pool's data plane on loopback, with real Node.js or Python sessions."""

import argparse
import atexit
import importlib
import logging
import os
import socket
import sys

from dynamic_sessions import api_versions, container
from dynamic_sessions.azure_facts import (
    AUDIENCE,
    DEFAULT_CONTAINER_TYPE,
    DEFAULT_OUTPUT_STREAMS_MAX_LENGTH,
    MCP_KEY_HEADER,
)
from dynamic_sessions.emulator.api import batches
from dynamic_sessions.emulator.sandbox.caps import GIB, MIB, Caps, parse_size, show_size
from dynamic_sessions.emulator.sandbox.launcher import SESSION_UID_BASE, Launcher, SandboxUnavailable, make_launcher
from dynamic_sessions.emulator.sandbox.scratch import ScratchUnusable
from dynamic_sessions.emulator.sessions.runtimes import (
    CONTAINER_TYPES,
    PRELOADED_PACKAGES,
    RuntimeUnavailable,
    make_runtime,
)
from dynamic_sessions.extras import missing_extra_message
from dynamic_sessions.loopback import is_loopback_host

INSTALLED_PROG = "dynamic-sessions-emulator"
MCP_KEY_VARIABLE = "MCP_SERVER_API_KEY"
# Every flag is also an environment variable: this prefix and the flag's name in capitals (--max-sessions:
# DYNAMIC_SESSIONS_MAX_SESSIONS), read where the command line does not give the flag.
ENV_PREFIX = "DYNAMIC_SESSIONS_"
# Flags without a variable of this form: the MCP key already has one of its own, $MCP_SERVER_API_KEY.
NO_VARIABLE = frozenset({"help", "mcp_api_key"})
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")
# Files a container engine leaves in each container's root: Docker's and Podman's.
CONTAINER_MARKERS = ("/.dockerenv", "/run/.containerenv")
CONTAINER_HOST = "0.0.0.0"  # noqa: S104 (inside a container's own network namespace, reached by a published port)
DESCRIPTION = f"""\
Serve the data plane of an Azure Container Apps dynamic-sessions pool (NodeLTS, or PythonLTS or Shell
with --container-type) on this machine. Every identifier gets its own Node.js or Python session, or
Linux shell, sandboxed with bubblewrap. Code interpreters speak both contracts, by API version:
  code/execute  {", ".join(api_versions.CODE_EXECUTE_VERSIONS)}
  executions    {", ".join(api_versions.EXECUTIONS_VERSIONS)}
Shell pools run commands at executions from {api_versions.SHELL_API_VERSIONS[0]}.

Auth: send 'Authorization: Bearer <JWT>' whose aud is {AUDIENCE} and whose exp
lies ahead. The signature is NOT checked: this is a local stand-in, bound to loopback only.

When ready it prints one line, POOL_MANAGEMENT_ENDPOINT=http://127.0.0.1:<port>, on stdout. With --mcp,
the pool's MCP server answers at <endpoint>/mcp (header {MCP_KEY_HEADER}) and two more lines follow:
MCP_SERVER_ENDPOINT=<url> and, unless --mcp-api-key or $MCP_SERVER_API_KEY set the key,
MCP_SERVER_API_KEY=<key generated now>.

Every flag can be set by an environment variable instead: {ENV_PREFIX} and the flag's name in
capitals, dashes as underscores (--max-sessions 3: {ENV_PREFIX}MAX_SESSIONS=3; a switch such
as --mcp: {ENV_PREFIX}MCP=1; --allow-principal: a comma-separated list). The command line wins."""

LIMITS = f"""\
Limits per tenant (besides the caps above):
  executions    16 running or waiting per session, 16 MiB of their code; 429 past that
  history       100 executions, 64 MiB per session, 256 MiB in all; freed when the session ends
  operation-id  1 to 128 printable ASCII characters; 400 otherwise
  answers       a kernel's answer is read up to 64 KiB + 12 bytes per character of the
                output limit and of the 1 MiB result limit, and cut to those by the emulator;
                a larger or malformed one ends the session
  bodies        JSON 4 MiB, uploads 128 MiB; after 10 s a body must average 16 KiB/s,
                with no pause of 30 s (408 otherwise)
  connections   256; the idle ones, then those with the slowest bodies, are closed first
  MCP batches   {batches.MAX_BATCH_MESSAGES} messages; no further message runs once a POST's answers reach
                {show_size(batches.MAX_REQUEST_ANSWER_BYTES)}, or all POSTs' \
{show_size(batches.MAX_ANSWER_BYTES_IN_TOTAL)}; a client that hangs up ends its calls
See docs/sandbox.md for what each mode guarantees."""


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def _size(text: str) -> int:
    try:
        value = parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if value < MIB:
        raise argparse.ArgumentTypeError(f"{text} is below the smallest cap, 1M")
    return value


def build_parser(prog: str = "python -m emulator") -> argparse.ArgumentParser:
    """The emulator's flags: the one table its command line and its environment variables are read from."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=LIMITS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host",
        default=None,
        help="loopback address to bind (default 127.0.0.1; with --container-mode, 0.0.0.0 of the container's own "
        f"network, which the engine publishes: docker run -p 127.0.0.1:{container.PORT}:{container.PORT})",
    )
    parser.add_argument(
        "--container-mode",
        action="store_true",
        help="inside a container image only (the image sets it): listen on the container's own interface, "
        "reached from the host through the port the engine publishes on the host's loopback",
    )
    parser.add_argument(
        "--port", type=int, default=container.PORT, help="port to bind; 0 picks a free one (default %(default)s)"
    )
    parser.add_argument(
        "--max-sessions", type=_positive, default=5, help="most live sessions at once (default %(default)s)"
    )
    parser.add_argument(
        "--cooldown", type=_seconds, default=300.0, help="idle seconds before a session ends (default %(default).0f)"
    )
    parser.add_argument(
        "--ready-sessions", type=_non_negative, default=0, help="sessions started ahead of demand (default %(default)s)"
    )
    parser.add_argument(
        "--egress",
        choices=("enabled", "disabled"),
        default="disabled",
        help="whether session code may use the network (default %(default)s, as in Azure)",
    )
    parser.add_argument(
        "--allow-principal",
        action="append",
        default=[],
        metavar="OID",
        help="accept only tokens with this oid (repeatable); others get 403, like a missing role assignment",
    )
    parser.add_argument(
        "--unsandboxed",
        action="store_true",
        help="run session code without bubblewrap, with your user's access to this machine (trusted code only)",
    )
    parser.add_argument(
        "--output-max-length",
        type=_positive,
        default=DEFAULT_OUTPUT_STREAMS_MAX_LENGTH,
        help="characters kept per output stream of one execution where a request sends no outputStreamsMaxLength; "
        "more is cut with a marker (default %(default)s, as Azure's)",
    )
    caps = parser.add_argument_group("per-session caps (what is in force is printed at start-up)")
    caps.add_argument(
        "--memory-limit", type=_size, default=GIB, metavar="SIZE", help="all memory of a session, /tmp too (1G)"
    )
    caps.add_argument(
        "--max-processes", type=_positive, default=256, metavar="N", help="tasks (processes, threads) per session (256)"
    )
    caps.add_argument(
        "--tmp-size", type=_size, default=256 * MIB, metavar="SIZE", help="size of /tmp, and of /dev/shm (256M)"
    )
    caps.add_argument("--data-size", type=_size, default=GIB, metavar="SIZE", help="size of /mnt/data (1G)")
    caps.add_argument("--no-caps", action="store_true", help="lift every cap above (to measure what they cost)")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    mcp = parser.add_argument_group("the pool's MCP server (Azure's platform-managed MCP server, preview)")
    mcp.add_argument("--mcp", action="store_true", help="serve the MCP endpoint at /mcp on the same port")
    mcp.add_argument(
        "--mcp-api-key",
        metavar="KEY",
        help=f"the key MCP clients send as x-ms-apikey (default: ${MCP_KEY_VARIABLE}, else one generated per "
        f"start, printed on stdout); prefer ${MCP_KEY_VARIABLE}: a flag's value is in the process list, which "
        "every user of the machine can read",
    )
    add_runtime_arguments(parser)
    return parser


def parse_args(argv: list[str] | None = None, prog: str = "python -m emulator") -> argparse.Namespace:
    parser = build_parser(prog)
    read_environment(parser, os.environ, sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.container_mode and not any(os.path.exists(marker) for marker in CONTAINER_MARKERS):
        parser.error(
            f"--container-mode (${ENV_PREFIX}CONTAINER_MODE) listens beyond loopback, so it runs only inside a "
            f"container (none of {', '.join(CONTAINER_MARKERS)} is here); outside one, leave it off"
        )
    if args.host is None:
        args.host = CONTAINER_HOST if args.container_mode else "127.0.0.1"
    if args.ready_sessions > args.max_sessions:
        parser.error(f"--ready-sessions {args.ready_sessions} exceeds --max-sessions {args.max_sessions}")
    if not args.container_mode and not is_loopback_host(args.host):
        parser.error(f"--host {args.host} is not a loopback address; the emulator does not check token signatures")
    if args.unsandboxed and args.egress == "disabled":
        parser.error("--unsandboxed cannot block the network: pass --egress enabled with it")
    if args.container_type != "PythonLTS" and (args.python_packages != PRELOADED_PACKAGES or args.python):
        parser.error(f"--python and --python-packages need --container-type PythonLTS, not {args.container_type}")
    if args.mcp_api_key is not None and not args.mcp:
        parser.error("--mcp-api-key sets the MCP server's key: pass --mcp with it")
    key_from = "--mcp-api-key"
    # Out of the process list, which other users of the machine can read, and the variable clients read too.
    if args.mcp and args.mcp_api_key is None and os.environ.get(MCP_KEY_VARIABLE):
        args.mcp_api_key, key_from = os.environ[MCP_KEY_VARIABLE], f"${MCP_KEY_VARIABLE}"
    if args.mcp_api_key is not None and not (16 <= len(args.mcp_api_key) <= 256 and args.mcp_api_key.isprintable()):
        parser.error(f"{key_from} must be 16..256 printable characters")
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together: pass both PEM files, or neither for plain http")
    return args


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--container-type",
        choices=CONTAINER_TYPES,
        default=DEFAULT_CONTAINER_TYPE,
        help="the pool's interpreter: NodeLTS (JavaScript, default), PythonLTS (Python) or Shell (bash/sh commands)",
    )
    parser.add_argument(
        "--python",
        metavar="PATH",
        help="PythonLTS: the interpreter for sessions (default /usr/bin/python3, else the emulator's own)",
    )
    parser.add_argument(
        "--python-packages",
        metavar="DIR",
        default=PRELOADED_PACKAGES,
        help="PythonLTS: the package set sessions may import, read-only: 'preloaded' (default: numpy, pandas, "
        "matplotlib and more, installed once into ~/.cache/dynamic-sessions), a folder (pip install --target DIR "
        "...), or 'none' for the standard library alone",
    )
    parser.add_argument("--tls-cert", metavar="PEM", help="serve https with this certificate (for https-only clients)")
    parser.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")


def variable_name(action: argparse.Action) -> str | None:
    """The environment variable of a flag, or None for the flags that have none."""
    if action.dest in NO_VARIABLE or not action.option_strings:
        return None
    return ENV_PREFIX + action.dest.upper()


def read_environment(
    parser: argparse.ArgumentParser, environ: "os._Environ[str] | dict[str, str]", argv: list[str]
) -> None:
    """Sets `parser`'s defaults from the flags' environment variables, each turned into its value as its flag
    is (type and choices checked, errors naming the variable); a flag on the command line `argv` wins."""
    given = {arg.split("=", 1)[0] for arg in argv if arg.startswith("--")}
    for action in parser._actions:
        name = variable_name(action)
        if name is None or name not in environ or given & set(action.option_strings):
            continue
        text = environ[name]
        try:
            value = _variable_value(action, text)
        except (ValueError, argparse.ArgumentTypeError) as error:
            parser.error(f"${name}={text!r}: {error}")
        parser.set_defaults(**{action.dest: value})


def _variable_value(action: argparse.Action, text: str) -> object:
    if isinstance(action, argparse._StoreTrueAction):
        if text.strip().lower() not in TRUE_WORDS + FALSE_WORDS:
            raise ValueError(f"a switch is one of {', '.join(repr(w) for w in TRUE_WORDS + FALSE_WORDS)}")
        return text.strip().lower() in TRUE_WORDS
    convert = action.type if callable(action.type) else str
    if isinstance(action, argparse._AppendAction):
        return [convert(item.strip()) for item in text.split(",") if item.strip()]
    value = convert(text)
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"must be one of {', '.join(map(str, action.choices))}")
    return value


log = logging.getLogger("emulator")


def report(launcher: Launcher) -> None:
    """Says on stderr how session code is confined here, and which caps hold (stdout is for the endpoint)."""
    if not launcher.sandboxed:
        log.warning("UNSANDBOXED: session code runs with this user's access to the machine, without caps")
        return
    if launcher.as_root:
        who = f"as root: each session runs as its own uid ({SESSION_UID_BASE} + slot), without capabilities"
    else:
        who = "as an ordinary user: sessions run as this user in their own user namespace, without capabilities"
    log.info("sandbox: bubblewrap %s", who)
    network = (
        (
            "its own network namespace, out through slirp4netns; unreachable: the host's loopback and own addresses, "
            "link-local metadata endpoints (169.254.0.0/16) and 168.63.129.16"
        )
        if launcher.egress
        else "none"
    )
    log.info("sandbox: network %s", network)
    if launcher.seccomp_filter is not None:
        log.info("sandbox: seccomp: io_uring, userfaultfd, keyrings, bpf, perf events, ptrace and more answer ENOSYS")
        log.info(
            "sandbox: seccomp: sockets of families but unix, inet, inet6 and netlink (vsock...) answer EAFNOSUPPORT"
        )
        denied = [
            *(["memfd and System V shared memory (no memory cgroup holds them)"] if not launcher.memory_cgroup else []),
            *(["inotify (counted per user, shared by every session)"] if not launcher.as_root else []),
        ]
        if denied:
            log.info("sandbox: seccomp: %s answer ENOSYS", "; ".join(denied))
    else:
        log.warning("sandbox: seccomp: NOT ENFORCED: %s", launcher.seccomp_missing)
    for line in launcher.enforcement.lines():
        (log.warning if "NOT ENFORCED" in line else log.info)("%s", line)


def missing_server_modules() -> list[str]:
    """The emulator extra's modules that cannot be imported (only the client extra installed, say)."""
    missing = []
    for name in ("uvicorn", "starlette", "python_multipart"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def main(argv: list[str] | None = None, prog: str = "python -m emulator") -> int:
    args = parse_args(argv, prog)
    if missing := missing_server_modules():
        print(f"emulator: {missing_extra_message('the emulator', ', '.join(missing), 'emulator')}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        caps = Caps(args.memory_limit, args.max_processes, args.tmp_size, args.data_size, enabled=not args.no_caps)
        runtime = make_runtime(args.container_type, args.python, args.python_packages)
        launcher = make_launcher(
            egress=args.egress == "enabled", unsandboxed=args.unsandboxed, caps=caps, runtime=runtime
        )
    except (RuntimeUnavailable, SandboxUnavailable) as missing:
        print(f"emulator: {missing}", file=sys.stderr)
        return 2
    report(launcher)

    # Imported here so `--help` and argument errors stay fast.
    import uvicorn

    from dynamic_sessions.emulator.api import mcp, mcp_state
    from dynamic_sessions.emulator.api.app import create_app
    from dynamic_sessions.emulator.api.server import server_options
    from dynamic_sessions.emulator.api.state import EmulatorState
    from dynamic_sessions.emulator.sessions.pool import Pool, PoolSettings

    try:
        pool = Pool(launcher, PoolSettings(args.max_sessions, args.cooldown, args.ready_sessions))
    except ScratchUnusable as unusable:
        print(f"emulator: {unusable}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"emulator: cannot prepare the sessions' folders or cgroups: {error}", file=sys.stderr)
        return 2
    for stale in pool.scratch.stale_removed:
        log.info("removed %s, left by an emulator that is gone", stale)
    atexit.register(pool.kill_all_now)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then, and without it
    # every kept-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
        # Listening now, not when uvicorn starts serving after the ready line: a client that reads that
        # line and connects at once is queued in the backlog instead of refused.
        sock.listen(2048)
    except OSError as error:
        print(f"emulator: cannot bind {args.host}:{args.port}: {error.strerror}", file=sys.stderr)
        return 2
    host, port = sock.getsockname()[:2]
    if args.container_mode:
        log.info(
            "container mode: listening on %s:%s of the container's own network; publish it on the host's loopback "
            "alone (docker run -p 127.0.0.1:%s:%s): the emulator checks no token signature",
            host, port, port, port,
        )  # fmt: skip
        # What the host reaches through the documented -p 127.0.0.1:<port>:<port>, not the container's address.
        host = "127.0.0.1" if host == CONTAINER_HOST else host
    scheme = "https" if args.tls_cert else "http"
    endpoint = f"{scheme}://{'[' + host + ']' if family == socket.AF_INET6 else host}:{port}"

    server = mcp_state.McpServer(args.mcp_api_key or mcp_state.new_key()) if args.mcp else None

    def ready() -> None:
        lines = [f"POOL_MANAGEMENT_ENDPOINT={endpoint}"]
        if server is not None:
            lines.append(f"MCP_SERVER_ENDPOINT={endpoint}{mcp.PATH}")
            if args.mcp_api_key is None:
                lines.append(f"MCP_SERVER_API_KEY={server.key}")  # stdout only: the log never holds it
        print("\n".join(lines), flush=True)

    state = EmulatorState(
        pool=pool,
        allowed_principals=frozenset(p.lower() for p in args.allow_principal),
        output_limit=args.output_max_length,
        mcp=server,
    )
    config = uvicorn.Config(
        create_app(state, on_ready=ready),
        log_level=args.log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        **server_options(),
        ssl_certfile=args.tls_cert,
        ssl_keyfile=args.tls_key,
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        return 130
    return 0


def cli() -> None:
    """The console script's entry point: its usage lines name the script."""
    sys.exit(main(prog=INSTALLED_PROG))


if __name__ == "__main__":
    sys.exit(main(prog="python -m dynamic_sessions.emulator"))
