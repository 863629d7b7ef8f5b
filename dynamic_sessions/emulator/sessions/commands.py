"""A shell command run in a session of any container type, with the answer of Azure's shell image.

Shell sessions run it in kernel_shell.py. Code-interpreter sessions (PythonLTS, NodeLTS) have no shell
kernel: for the MCP server's `runShellCommandInRemoteEnvironment` their interpreter starts kernel_shell.py as
a one-shot helper (`python3 -I -S`), as session code could, in the same sandbox and /mnt/data. The helper is
a subreaper too, so the command behaves as in a Shell pool: the same exit codes, output cap, background
drain, and a timeout that kills everything the command started.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynamic_sessions.emulator.sessions.session import Outcome, Session

# The helper's own timeout ends the command; the interpreter's (and the session's watchdog) come this much later.
INTERPRETER_MARGIN_S = 2
# Marks the line a code interpreter prints its answer on; command output inside it is JSON, so never a raw line.
ANSWER_MARK = "@@dynamic-sessions-shell-answer@@"
_SHELL_KERNEL = (Path(__file__).resolve().parent / "kernel_shell.py").read_text()


@dataclass(frozen=True)
class ShellCommand:
    """One command: `shell_command` through `shell_type`, or `exec_command_and_args` as an argv."""

    shell_command: str | None
    exec_command_and_args: tuple[str, ...] | None
    shell_type: str
    timeout_s: int
    output_max_length: int

    def request(self) -> dict[str, Any]:
        """The command as kernel_shell.py reads it."""
        if self.exec_command_and_args is not None:
            return {"execCommandAndArgs": list(self.exec_command_and_args)}
        return {"shellCommand": self.shell_command, "shellType": self.shell_type}


@dataclass(frozen=True)
class CommandOutcome:
    exit_code: int
    stdout: str
    stderr: str
    error_name: str
    error_message: str
    milliseconds: int

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.error_name


async def run_command(session: Session, container_type: str, command: ShellCommand) -> CommandOutcome:
    """Runs `command` in `session`; raises SessionEnded as `Session.execute` does."""
    limit = command.output_max_length
    if container_type == "Shell":
        outcome = await session.execute(json.dumps(command.request()), command.timeout_s, limit)
        return _from_shell_kernel(outcome)
    request = json.dumps({"request": command.request(), "timeoutMs": command.timeout_s * 1000, "limit": limit})
    helper, backstop = [_HELPER, _SHELL_KERNEL, request], command.timeout_s + 1
    if container_type == "PythonLTS":
        given = f"'HELPER': {helper!r}, 'BACKSTOP': {backstop}, 'MARK': {ANSWER_MARK!r}"
        names = f"{{'__builtins__': __builtins__, {given}}}"
        code = f"exec(compile({_PYTHON!r}, '<shell command>', 'exec'), {names})"
    else:  # JSON is a JavaScript literal
        code = _NODE.replace("HELPER", json.dumps(helper)).replace("MARK", json.dumps(ANSWER_MARK))
        code = code.replace("BACKSTOP", str(backstop))
    # The answer holds both streams as JSON: room for their escapes, whatever the pool's own output cap.
    outcome = await session.execute(code, command.timeout_s + INTERPRETER_MARGIN_S, 16 * limit + 4096)
    return _from_interpreter(outcome)


def _from_shell_kernel(outcome: Outcome) -> CommandOutcome:
    result = outcome.result if isinstance(outcome.result, dict) else {}
    exit_code = result.get("exitCode")
    if not isinstance(exit_code, int):  # the kernel always answers one; a session answering otherwise is broken
        return CommandOutcome(-1, outcome.stdout, outcome.stderr, "CommandStartError", outcome.stderr.strip(), 0)
    return CommandOutcome(
        exit_code,
        outcome.stdout,
        outcome.stderr,
        str(result.get("errorName", "")),
        str(result.get("errorMessage", "")),
        outcome.milliseconds,
    )


def _from_interpreter(outcome: Outcome) -> CommandOutcome:
    """The helper's answer, from the line the interpreter printed it on."""
    for line in reversed(outcome.stdout.splitlines()):
        if line.startswith(ANSWER_MARK):
            try:
                answer = json.loads(line[len(ANSWER_MARK) :])
                if "error" in answer:  # the helper could not run
                    message = str(answer["error"])
                    return CommandOutcome(-1, "", message + "\n", "CommandStartError", message, outcome.milliseconds)
                kernel = Outcome(True, answer["stdout"], answer["stderr"], answer["result"], round(answer["ms"]))
                return _from_shell_kernel(kernel)
            except (ValueError, KeyError, TypeError):
                break
    why = outcome.stderr.strip() or "the session's interpreter gave no answer for the command"
    return CommandOutcome(-1, "", outcome.stderr, "CommandStartError", why, outcome.milliseconds)


# The helper: `python3 -I -S -c _HELPER <kernel_shell.py's source> <request>`. Its namespace is not __main__,
# so the kernel's main loop does not start; it prints kernel_shell.py's answer as JSON.
_HELPER = """import json, sys
kernel = {"__name__": "kernel_shell"}
exec(compile(sys.argv[1], "kernel_shell.py", "exec"), kernel)
kernel["become_subreaper"]()
request = json.loads(sys.argv[2])
sys.stdout.write(json.dumps(kernel["run"](request["request"], request["timeoutMs"], request["limit"])))
"""

# Runs inside a PythonLTS session, in a namespace of its own (the session's globals stay as they were), given
# HELPER (the helper's arguments), BACKSTOP (seconds) and MARK.
_PYTHON = """import json, subprocess, sys
try:
    done = subprocess.run([sys.executable, "-I", "-S", "-c", *HELPER], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=BACKSTOP)
    answer = done.stdout or json.dumps({"error": done.stderr.strip() or "the shell helper gave no answer"})
except (OSError, subprocess.TimeoutExpired) as error:
    answer = json.dumps({"error": "the shell helper could not run: %s" % error})
sys.stdout.write(MARK + answer + "\\n")
"""

# Runs inside a NodeLTS session, in a function scope (the session's globals stay as they were), with HELPER,
# BACKSTOP and MARK written in.
_NODE = """(function () {
  var run = require("child_process").spawnSync("python3", ["-I", "-S", "-c"].concat(HELPER), {
    stdio: ["ignore", "pipe", "pipe"], timeout: BACKSTOP * 1000, killSignal: "SIGKILL", maxBuffer: 256 * 1024 * 1024
  });
  var answer = run.stdout && run.stdout.length ? run.stdout.toString("utf8") : JSON.stringify({
    error: run.error ? "python3 (the shell helper) could not run: " + run.error.message
      : (run.stderr ? run.stderr.toString("utf8").trim() : "") || "the shell helper gave no answer"
  });
  console.log(MARK + answer);
})();
"""
