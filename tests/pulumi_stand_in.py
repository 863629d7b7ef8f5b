"""A `pulumi` executable for tests of `python -m ci`: stacks and replies from a JSON file, every call recorded."""

import json
import sys
from pathlib import Path
from typing import Any

# -IS: the standard library is all it needs; without site (the editable install's finder) each of the hundred
# calls a test file makes costs a fifth less CPU.
SCRIPT = """\
#!{python} -IS
import json, sys
from pathlib import Path

folder = Path({folder!r})
state_file = folder / "pulumi-state.json"
state = json.loads(state_file.read_text())
argv = [a for a in sys.argv[1:] if a != "--non-interactive"]
with (folder / "pulumi-calls.jsonl").open("a") as calls:
    calls.write(json.dumps(sys.argv[1:]) + "\\n")


def flag(name):
    return argv[argv.index(name) + 1] if name in argv else None


def save():
    state_file.write_text(json.dumps(state))


def finish(reply):
    sys.stdout.write(reply.get("output", ""))
    sys.exit(reply.get("code", 0))


stack = flag("--stack")
stacks = state["stacks"]
if argv[:2] == ["stack", "select"]:
    if stack not in stacks:
        if "--create" not in argv:
            sys.stderr.write(f"error: no stack named '{{stack}}' found\\n")
            sys.exit(255)
        stacks[stack] = {{"config": {{}}, "outputs": {{}}}}
        save()
    finish(state.get("select", {{}}))
if stack is not None and stack not in stacks:
    sys.stderr.write(f"error: no stack named '{{stack}}' found\\n")
    sys.exit(255)
if argv[:2] == ["config", "set"]:
    key, value = [a for a in argv[2:] if a not in ("--stack", stack)]
    stacks[stack]["config"][key] = value
    save()
    sys.exit(0)
if argv[:3] == ["stack", "output", "--json"]:
    print(json.dumps(stacks[stack]["outputs"]))
    sys.exit(0)
if argv[:2] == ["stack", "rm"]:
    del stacks[stack]
    save()
    finish(state.get("rm", {{}}))
command = argv[0]
reply = state.get(command, {{}})
if command == "up" and reply.get("code", 0) == 0:
    stacks[stack]["outputs"] = state.get("outputs_after_up", {{}})
    save()
finish(reply)
"""


class StandInPulumi:
    def __init__(self, folder: Path, stacks: dict[str, dict[str, Any]] | None = None, **replies: Any):
        """`stacks`: name -> {"outputs": {...}}; replies: up/preview/destroy/rm -> {"code", "output"}."""
        self.folder = folder
        state = {"stacks": {name: {"config": {}, **info} for name, info in (stacks or {}).items()}, **replies}
        (folder / "pulumi-state.json").write_text(json.dumps(state))
        script = folder / "pulumi"
        script.write_text(SCRIPT.format(python=sys.executable, folder=str(folder)))
        script.chmod(0o755)

    @property
    def calls(self) -> list[list[str]]:
        log = self.folder / "pulumi-calls.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        return [[a for a in json.loads(line) if a != "--non-interactive"] for line in lines]

    @property
    def stacks(self) -> dict[str, Any]:
        return json.loads((self.folder / "pulumi-state.json").read_text())["stacks"]

    def commands(self) -> list[str]:
        """Each call's subcommand, such as `stack select` or `up`."""
        return [" ".join(c[:2]) if c[0] in ("stack", "config") else c[0] for c in self.calls]
