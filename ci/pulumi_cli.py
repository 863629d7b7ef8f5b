"""The Pulumi CLI as CI drives it: non-interactive, one named stack per call, output kept for the summary."""

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MISSING_STACK = "no stack named"
DEPLOYER_TYPE_KEY = "dynamic-sessions:deployerPrincipalType"


class PulumiError(Exception):
    """A pulumi command failed; the message holds its last error line."""

    def __init__(self, action: str, result: "Result"):
        super().__init__(f"`pulumi {action}` failed (exit {result.code}): {result.last_error()}")
        self.result = result


@dataclass(frozen=True)
class Result:
    code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    def last_error(self) -> str:
        lines = [line.strip() for line in self.output.splitlines() if line.strip()]
        errors = [line for line in lines if line.lower().startswith("error")]
        return (errors or lines or ["no output"])[-1]


class Pulumi:
    def __init__(self, cwd: Path, echo: bool = True):
        executable = shutil.which("pulumi")
        if executable is None:
            raise FileNotFoundError("the pulumi CLI is not on PATH (https://www.pulumi.com/docs/install/)")
        self.executable = executable
        self.cwd = cwd
        self.echo = echo

    def run(self, *args: str) -> Result:
        """Runs pulumi, echoing its output live (CI logs show progress) and keeping it (stdout and stderr merged)."""
        command = [self.executable, *args, "--non-interactive"]
        with subprocess.Popen(
            command, cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        ) as process:
            assert process.stdout is not None
            kept = []
            for line in process.stdout:
                kept.append(line)
                if self.echo:
                    sys.stderr.write(line)
            code = process.wait()
        return Result(code, "".join(kept))

    def select(self, stack: str, create: bool = False) -> bool:
        """Selects the stack; False when it does not exist (and `create` is off)."""
        result = self.run("stack", "select", "--stack", stack, *(["--create"] if create else []))
        if result.ok:
            return True
        if not create and MISSING_STACK in result.output:
            return False
        raise PulumiError("stack select", result)

    def set_config(self, stack: str, key: str, value: str) -> None:
        result = self.run("config", "set", "--stack", stack, key, value)
        if not result.ok:
            raise PulumiError("config set", result)
