"""An `az` executable for the bootstrap script's tests: Azure's state in a JSON file, every call recorded."""

import json
import sys
from pathlib import Path
from typing import Any

SUBSCRIPTION = "33333333-3333-3333-3333-333333333333"
TENANT = "44444444-4444-4444-4444-444444444444"

# -IS: the standard library is all it needs; without site (the editable install's finder) each of the hundred
# calls a test file makes costs a fifth less CPU.
SCRIPT = """\
#!{python} -IS
import json, sys, uuid
from pathlib import Path

folder = Path({folder!r})
state_file = folder / "az-state.json"
state = json.loads(state_file.read_text())
argv = sys.argv[1:]
with (folder / "az-calls.jsonl").open("a") as calls:
    calls.write(json.dumps(argv) + "\\n")
words = []
while argv and not argv[0].startswith("--"):
    words.append(argv.pop(0))
options = {{}}
while argv:
    key = argv.pop(0)
    options[key] = argv.pop(0) if argv and not argv[0].startswith("--") else True
command = " ".join(words)


def save():
    state_file.write_text(json.dumps(state))


def missing(what):
    sys.stderr.write(f"(ResourceNotFound) {{what}} was not found.\\n")
    sys.exit(3)


def answer(value):
    if options.get("--output") == "none":
        return
    query = options.get("--query")
    print(value[query] if query else json.dumps(value))


identity = state["identities"].get(options.get("--identity-name") or options.get("--name"))
if command == "account show":
    answer(state["account"])
elif command == "group exists":
    print("true" if options["--name"] in state["groups"] else "false")
elif command == "group create":
    state["groups"].append(options["--name"])
    save()
elif command == "identity show":
    answer(identity) if identity else missing("identity")
elif command == "identity create":
    seed = options["--name"]
    state["identities"][seed] = {{
        "clientId": str(uuid.uuid5(uuid.NAMESPACE_URL, "client/" + seed)),
        "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, "principal/" + seed)),
        "group": options["--resource-group"],
        "credentials": {{}},
    }}
    save()
elif command == "identity federated-credential show":
    credential = identity and identity["credentials"].get(options["--name"])
    answer(credential) if credential else missing("federated credential")
elif command == "identity federated-credential create":
    identity["credentials"][options["--name"]] = {{
        k.lstrip("-"): options[k] for k in ("--issuer", "--subject", "--audiences")
    }}
    save()
elif command == "role assignment list":
    found = [
        r for r in state["roles"]
        if (r["principal"], r["role"], r["scope"]) == (options["--assignee"], options["--role"], options["--scope"])
    ]
    assert options["--query"] == "length(@)"
    print(len(found))
elif command == "role assignment create":
    state["roles"].append({{
        "principal": options["--assignee-object-id"],
        "principalType": options["--assignee-principal-type"],
        "role": options["--role"],
        "scope": options["--scope"],
        "condition": options.get("--condition"),
        "conditionVersion": options.get("--condition-version"),
    }})
    save()
else:
    sys.stderr.write(f"stand-in az: unknown command {{command!r}}\\n")
    sys.exit(2)
"""


class StandInAz:
    def __init__(self, folder: Path):
        self.folder = folder
        state = {"account": {"id": SUBSCRIPTION, "tenantId": TENANT}, "groups": [], "identities": {}, "roles": []}
        (folder / "az-state.json").write_text(json.dumps(state))
        script = folder / "az"
        script.write_text(SCRIPT.format(python=sys.executable, folder=str(folder)))
        script.chmod(0o755)

    @property
    def state(self) -> dict[str, Any]:
        return json.loads((self.folder / "az-state.json").read_text())

    @property
    def calls(self) -> list[list[str]]:
        log = self.folder / "az-calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def creations(self) -> list[str]:
        return [" ".join(c[: c.index("create") + 1]) for c in self.calls if "create" in c]

    def forget_calls(self) -> None:
        (self.folder / "az-calls.jsonl").unlink(missing_ok=True)
