"""A shell command run in a session of any container type, with the answer of Azure's shell image.

Shell sessions run it in kernel_shell.py. Code-interpreter sessions (PythonLTS, NodeLTS) have no shell
kernel: the MCP server's `runShellCommandInRemoteEnvironment` runs the command from their interpreter, as
session code would, in the same sandbox and /mnt/data. PythonLTS sessions run kernel_shell.py's own `run`
(the same exit codes, output cap, background drain and timeout that kills what the command started);
NodeLTS sessions run it under GNU timeout through `child_process`, whose output is read until the
command's streams close, and whose timeout kills the command's process group.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynamic_sessions.emulator.sessions.session import Outcome, Session

# The kernel's own timeout ends the command; the interpreter's (and the session's watchdog) come this much later.
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

    def argv(self) -> list[str]:
        if self.exec_command_and_args is not None:
            return list(self.exec_command_and_args)
        assert self.shell_command is not None
        return [f"/bin/{self.shell_type}", "-c", self.shell_command]

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
    if container_type == "PythonLTS":
        code = _python_code(command)
    else:
        arguments = json.dumps({"argv": command.argv(), "timeout": command.timeout_s, "limit": limit})
        code = _NODE.replace("ARGUMENTS", arguments).replace("MARK", json.dumps(ANSWER_MARK))
    # The answer holds both streams as JSON: room for their escapes, whatever the pool's own output cap.
    outcome = await session.execute(code, command.timeout_s + INTERPRETER_MARGIN_S, 16 * limit + 4096)
    return _from_interpreter(outcome)


def _python_code(command: ShellCommand) -> str:
    """kernel_shell.py's own `run`, in a namespace of its own inside the PythonLTS session (its globals stay as
    they were): the command behaves as in a Shell pool, minus the subreaper, which would change the session's
    interpreter for good."""
    call = (
        f"\n_answer = run({command.request()!r}, {command.timeout_s * 1000}, {command.output_max_length}, False)"
        f"\nsys.stdout.write({ANSWER_MARK!r} + json.dumps(_answer) + '\\n')\n"
    )
    namespace = "{'__builtins__': __builtins__, '__name__': '__shell_command__'}"
    return f"exec(compile({_SHELL_KERNEL + call!r}, '<shell command>', 'exec'), {namespace})"


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
    for line in reversed(outcome.stdout.splitlines()):
        if line.startswith(ANSWER_MARK):
            try:
                answer = json.loads(line[len(ANSWER_MARK) :])
                if "result" in answer:  # kernel_shell.py's own answer (PythonLTS)
                    kernel = Outcome(True, answer["stdout"], answer["stderr"], answer["result"], round(answer["ms"]))
                    return _from_shell_kernel(kernel)
                return CommandOutcome(
                    int(answer["exitCode"]),
                    str(answer["stdout"]),
                    str(answer["stderr"]),
                    str(answer["errorName"]),
                    str(answer["errorMessage"]),
                    outcome.milliseconds,
                )
            except (ValueError, KeyError, TypeError):
                break
    why = outcome.stderr.strip() or "the session's interpreter gave no answer for the command"
    return CommandOutcome(-1, "", outcome.stderr, "CommandStartError", why, outcome.milliseconds)


# Runs inside a NodeLTS session, in a function scope (the session's globals stay as they were). GNU timeout
# puts the command in a process group of its own and kills all of it; spawnSync's timeout is the backstop.
_NODE = """(function () {
  var request = ARGUMENTS;
  var argv = ["--kill-after=1", "-s", "KILL", String(request.timeout)].concat(request.argv);
  var started = Date.now();
  var run = require("child_process").spawnSync("timeout", argv, {
    stdio: ["ignore", "pipe", "pipe"], timeout: (request.timeout + 1) * 1000, killSignal: "SIGKILL",
    maxBuffer: 64 * 1024 * 1024
  });
  var text = function (data) { return data ? data.toString("utf8").slice(0, request.limit) : ""; };
  var answer = { exitCode: run.status, stdout: text(run.stdout), stderr: text(run.stderr), errorName: "",
                 errorMessage: "" };
  if (run.error && run.error.code !== "ETIMEDOUT") {
    answer.exitCode = -1;
    answer.errorName = "CommandStartError";
    answer.errorMessage = String(run.error.message);
  } else if (run.status === 127 && /timeout: failed to run command/.test(answer.stderr)) {
    answer.exitCode = -1;
    answer.errorName = "CommandStartError";
    answer.errorMessage = answer.stderr.trim();
  } else if (run.status === 137 || run.status === null) {
    if (Date.now() - started >= request.timeout * 1000) {
      answer.exitCode = -1;
      answer.errorName = "ExecutionTimeout";
      answer.errorMessage = "The command did not finish within " + request.timeout +
        " seconds; everything it started was stopped.";
    } else if (run.status === null) {
      answer.exitCode = 128 + require("os").constants.signals[run.signal];
    }
  }
  console.log(MARK + JSON.stringify(answer));
})();
"""
