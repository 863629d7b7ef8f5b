"""The behavioural egress probe: session code opens one TCP connection to a target outside the pool.

With egress declared off the connection must fail; with it on, it must succeed. Only a completed
connection counts as egress: a refusal, a timeout or a name that does not resolve all count as none.
"""

import json
import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit

from dynamic_sessions.client.results import CommandResult, ExecutionResult

MARKER = "egress-probe:"
CONNECT_TIMEOUT_S = 5
DEFAULT_PORTS = {"https": 443, "http": 80}

# Each prints one marker line whatever happens. The Node.js one ends its cell as ijavascript documents for
# asynchronous code, `$$.async()` then `$$.done(value)`: the kernel (nel 1.3.0, lib/server/main.js
# onRunRequest, with ijavascript's awaitExecution off) would answer a returned promise at once, unsettled.
_NODE = """$$.async();
{{
  let told = false;
  const tell = (outcome) => {{ if (!told) {{ told = true; console.log({marker} + outcome); $$.done(outcome); }} }};
  const socket = require("net").connect({port}, {host});
  const timer = setTimeout(() => {{ socket.destroy(); tell("timeout"); }}, {timeout_ms});
  socket.on("connect", () => {{ clearTimeout(timer); socket.destroy(); tell("connected"); }});
  socket.on("error", (error) => {{ clearTimeout(timer); tell(error.code || error.message); }});
}}"""
_PYTHON = """import errno as _errno, socket as _socket
try:
    _socket.create_connection(({host}, {port}), timeout={timeout_s}).close()
    _outcome = "connected"
except TimeoutError:
    _outcome = "timeout"
except OSError as _error:
    _outcome = _errno.errorcode.get(_error.errno or 0, type(_error).__name__)
print({marker} + _outcome)"""

# Shell pools: bash, the shell a Shell pool runs unless told otherwise, opens the connection through its
# /dev/tcp redirection, bounded by coreutils' `timeout` (exit 124). Without `timeout` it prints no marker, so a
# probe that could not run is never taken for blocked egress. Otherwise the outcome is bash's reason, such as
# "Network is unreachable", "Connection refused" or "Temporary failure in name resolution".
_SHELL = """if ! command -v timeout >/dev/null; then echo "the egress probe needs coreutils' timeout"; exit 1; fi
said=$(timeout {timeout_s} bash -c 'exec 3<>"/dev/tcp/$1/$2"' probe {quoted_host} {port} 2>&1)
case $? in
  0) outcome=connected ;;
  124) outcome=timeout ;;
  *) said=${{said%%$'\\n'*}}; outcome=${{said##*: }} ;;
esac
echo {quoted_marker}"$outcome"
"""
_TEMPLATES = {"PythonLTS": _PYTHON, "Shell": _SHELL}
"""Each container type's probe; the others (NodeLTS) run the Node.js one."""


@dataclass(frozen=True)
class Target:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def target_of(url: str) -> Target:
    """The host and port to connect to, or a ValueError naming the URL and what is allowed."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or port == -1:
        raise ValueError(
            f"--egress-probe-url {url!r} is not allowed: an http(s) URL of a host outside the pool, "
            "such as https://management.azure.com"
        )
    return Target(parts.hostname, port or DEFAULT_PORTS[parts.scheme])


def probe_code(container_type: str, target: Target) -> str:
    """The probe in the container type's language: code, or a bash command line for a Shell pool."""
    template = _TEMPLATES.get(container_type, _NODE)
    return template.format(
        host=json.dumps(target.host),
        quoted_host=shlex.quote(target.host),
        quoted_marker=shlex.quote(MARKER),
        port=target.port,
        marker=json.dumps(MARKER),
        timeout_ms=CONNECT_TIMEOUT_S * 1000,
        timeout_s=CONNECT_TIMEOUT_S,
    )


def outcome_of(result: ExecutionResult | CommandResult) -> str | None:
    """What the probe printed (`connected`, or why not: ENETUNREACH, ECONNREFUSED, timeout, ...), or None."""
    lines = [line for line in result.stdout.splitlines() if line.startswith(MARKER)]
    return lines[-1][len(MARKER) :].strip() or None if lines else None
