"""docs/deploy.md's promises against the program: its tables, import commands, MCP actions, regions and
the deployer message it quotes."""

import json
import re
import shlex

import pulumi
import pytest
import yaml

from components.pool_body import API_VERSION
from components.settings import DEFAULTS
from tests.contract.test_consumer_paths import run_consumer
from tests.pulumi_harness import PROJECT, ROOT, SERVICE_PRINCIPAL_CLAIMS, AzureMocks, run_program, stack_config
from tests.spec_check import SESSION_POOLS

# The deploy path and its reference pages, as one text: each section is looked up by its heading.
DOCS = "\n".join(
    page.read_text() for page in [ROOT / "docs" / "deploy.md", *sorted((ROOT / "docs" / "reference").glob("*.md"))]
)
COMMITTED_STACKS = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))


def _section(heading: str) -> str:
    return DOCS.split(heading, 1)[1].split("\n## ", 1)[0]


def test_each_settings_default_in_the_table_is_the_programs():
    for row in _section("# Settings\n").splitlines():
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        if len(cells) != 4 or not cells[0].startswith("`") or cells[0] == "`azure-native:location`":
            continue
        key, default = cells[0].strip("`"), cells[2]
        if DEFAULTS.get(key) is None:
            assert default.startswith("unset") or default.startswith("`<project>"), key
        else:
            assert default.strip("`") == json.dumps(DEFAULTS[key]).strip('"'), key


def _expanded(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m[1], m[0]), text)


def _import_commands() -> list[tuple[str, str, str]]:
    """Each `pulumi import`'s type, name and parent URN, the shell variables the page sets before it expanded."""
    variables: dict[str, str] = {}
    found = []
    for line in re.sub(r"\\\n\s*", " ", DOCS).splitlines():
        assignment = re.fullmatch(r"([A-Z_]+)=(\S+)", line.strip())
        if assignment and "$(" not in assignment[2]:
            variables[assignment[1]] = shlex.split(_expanded(assignment[2], variables))[0]
        elif line.startswith("pulumi import "):
            words = shlex.split(_expanded(line, variables))
            parent = words[words.index("--parent") + 1].split("=", 1)[1]
            found.append((words[2], words[3], parent))
    assert len(found) == 5
    return found


def _registered(mocks: AzureMocks) -> dict[str, tuple[str, str]]:
    """Each resource's type and its parent's URN as the engine writes it: the mock monitor also prefixes the
    root stack's type to the types of the stack's children, which the engine does not."""
    return {
        name: (options["type"], options["parent"].replace("pulumi:pulumi:Stack$", ""))
        for name, options in mocks.options.items()
    }


@pulumi.runtime.test
def test_the_pool_stacks_import_commands_name_what_the_program_declares():
    mocks, exports, program = run_program(stack_config("prod"), stack="prod")
    ids = [a.id for a in program["pool"].role_assignments]
    assert program["pool"].lock is not None  # prod is locked: its lock's import command is checked too
    ids.append(program["pool"].lock.id)

    def check(_):
        for typ, name, parent in _import_commands():
            if f"::{PROJECT}::" in parent:
                assert _registered(mocks)[name] == (typ, parent)

    return pulumi.Output.all(exports["poolId"], *ids).apply(check)


@pulumi.runtime.test
def test_the_consumers_import_command_names_what_its_program_declares():
    from tests.pulumi_harness import pool_stack_outputs

    mocks, _, program = run_consumer(pool_stack_outputs("prod"))

    def check(_):
        for typ, name, parent in _import_commands():
            if "::consumer-app::" in parent:
                assert _registered(mocks)[name] == (typ, parent)

    return program["grant"].role_assignment_id.apply(check)


def test_the_mcp_key_actions_are_the_specs_at_the_version_sent():
    paths = json.loads(SESSION_POOLS.read_text())["paths"]
    actions = {path.rsplit("/", 1)[1] for path in paths if "{sessionPoolName}/" in path}
    assert actions == {"fetchMcpServerCredentials", "rotateMcpServerCredentials"}
    for action in actions:
        assert f'${{POOL_ID}}/{action}"' in DOCS
    assert f'--url "$URL?api-version={API_VERSION}"' in DOCS
    assert '"apiKey"' in SESSION_POOLS.read_text() and "--query apiKey" in DOCS


def _listed_regions() -> set[str]:
    section = _section("## Regions")
    names = [
        name.strip()
        for line in section.splitlines()
        if line.startswith("- ")
        for name in line.split(":", 1)[1].split(",")
    ]
    names += [name.strip() for line in section.splitlines() if line.startswith("  ") for name in line.split(",")]
    return {name.lower().replace(" ", "") for name in names if name}


@pytest.mark.parametrize("stack", COMMITTED_STACKS)
def test_every_committed_stack_is_in_a_region_microsoft_lists_for_sessions(stack):
    regions = _listed_regions()
    assert len(regions) == 36 and {"northcentralus", "westus2", "swedencentral"} <= regions
    location = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]["azure-native:location"]
    assert location in regions


def test_the_quoted_deployer_refusal_is_the_programs():
    config = {**stack_config("dev"), f"{PROJECT}:deployerPrincipalType": "ServicePrincipal"}
    with pytest.raises(pulumi.RunError) as raised:
        run_program(config, mocks=AzureMocks())
    produced = " ".join(str(raised.value).split("\n", 1)[1].split())
    quoted = " ".join(_section("## The deployer's grant").split("```\n", 1)[1].split("\n```", 1)[0].split())
    assert produced == quoted.replace("<oid>", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")


def test_the_committed_stacks_leave_the_deployer_type_to_be_derived():
    for stack in COMMITTED_STACKS:
        assert (
            f"{PROJECT}:deployerPrincipalType" not in stack_config(stack) or DEFAULTS["deployerPrincipalType"] == "auto"
        )
        assert "deployerPrincipalType:" not in (ROOT / f"Pulumi.{stack}.yaml").read_text().replace("# ", "")
    assert SERVICE_PRINCIPAL_CLAIMS["idtyp"] == "app"
