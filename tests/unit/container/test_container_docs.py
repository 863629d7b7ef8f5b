"""docs/container.md against the code it describes: the run commands, the variables, the fixture's settings."""

import configparser
import re
import shlex
from pathlib import Path

import pytest

from dynamic_sessions import container
from dynamic_sessions.emulator import __main__ as emulator

ROOT = Path(__file__).resolve().parents[3]
PAGE = (ROOT / "docs" / "container.md").read_text()
PUBLISHED = "ghcr.io/<owner>/<repository>/emulator:0.2.0"


@pytest.mark.parametrize("engine", container.ENGINES)
def test_the_pages_run_command_is_the_one_the_code_runs(engine):
    assert container.documented_command(engine, PUBLISHED) in PAGE


def test_the_services_block_gives_dockers_options_and_publishes_on_loopback():
    block = PAGE.split("```yaml", 1)[1].split("```", 1)[0]
    options = " ".join(block.split("options: >-", 1)[1].split("env:", 1)[0].split())
    assert options == " ".join(container.SECURITY_OPTIONS["docker"])
    assert f"- 127.0.0.1:{container.PORT}:{container.PORT}" in block


def test_every_variable_the_page_names_is_read_by_the_emulator_or_the_fixture():
    parser_variables = {
        emulator.variable_name(action)
        for action in emulator.build_parser()._actions
        if emulator.variable_name(action) is not None
    }
    fixture_variables = {"DYNAMIC_SESSIONS_BACKEND", "DYNAMIC_SESSIONS_IMAGE", container.ENGINE_VARIABLE}
    named = set(re.findall(r"DYNAMIC_SESSIONS_[A-Z_]+", PAGE))
    assert named and named <= parser_variables | fixture_variables
    assert "DYNAMIC_SESSIONS_CONTAINER_MODE" in named


def test_no_command_on_the_page_publishes_beyond_loopback():
    blocks = "".join(re.findall(r"```(?:sh|yaml)\n(.*?)```", PAGE, re.DOTALL))
    published = re.findall(r"(?:\s-p\s+|^\s*- )(\S*\d+:\d+)", blocks, re.MULTILINE)
    runs = re.findall(r"\b(?:docker|podman) run\b", blocks)
    # Each run command publishes a port, and so does the CI job's service container.
    assert len(published) == len(runs) + 1 and all(port.startswith("127.0.0.1:") for port in published), published


def test_the_fixtures_engine_args_mount_the_ca_pip_reads_and_the_image_users_cache():
    ini = configparser.ConfigParser()
    ini.read_string(PAGE.split("```ini\n", 1)[1].split("```", 1)[0])
    args = shlex.split(ini["pytest"]["dynamic_sessions_engine_args"], comments=True)
    home = re.search(r"--home-dir (\S+)", (ROOT / "Dockerfile").read_text())
    assert home is not None
    values = {flag: [args[at + 1] for at in range(len(args) - 1) if args[at] == flag] for flag in ("-v", "-e")}
    cert = dict(entry.split("=", 1) for entry in values["-e"])["PIP_CERT"]
    mounts = {volume.split(":")[1]: volume for volume in values["-v"]}
    assert mounts[cert].endswith(":ro")
    assert f"{home.group(1)}/.cache" in mounts
