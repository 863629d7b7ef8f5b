"""Every emulator flag as an environment variable (derived from the flag table), and the container mode."""

import os

import pytest

from dynamic_sessions import container
from dynamic_sessions.emulator import __main__ as emulator


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith(emulator.ENV_PREFIX) or name == emulator.MCP_KEY_VARIABLE:
            monkeypatch.delenv(name)


def test_each_flag_has_a_variable_but_help_and_the_mcp_key(monkeypatch):
    monkeypatch.setenv("DYNAMIC_SESSIONS_MAX_SESSIONS", "3")
    monkeypatch.setenv("DYNAMIC_SESSIONS_CONTAINER_TYPE", "Shell")
    monkeypatch.setenv("DYNAMIC_SESSIONS_MCP", "true")
    monkeypatch.setenv("DYNAMIC_SESSIONS_MEMORY_LIMIT", "512M")
    monkeypatch.setenv("DYNAMIC_SESSIONS_ALLOW_PRINCIPAL", "a, b")
    monkeypatch.setenv("DYNAMIC_SESSIONS_MCP_API_KEY", "x" * 20)  # not a variable: $MCP_SERVER_API_KEY is
    args = emulator.parse_args([])
    assert (args.max_sessions, args.container_type, args.mcp) == (3, "Shell", True)
    assert args.memory_limit == 512 * 1024 * 1024 and args.allow_principal == ["a", "b"]
    assert args.mcp_api_key is None


def test_the_command_line_wins(monkeypatch):
    monkeypatch.setenv("DYNAMIC_SESSIONS_MAX_SESSIONS", "3")
    monkeypatch.setenv("DYNAMIC_SESSIONS_PORT", "9000")
    args = emulator.parse_args(["--max-sessions", "7", "--port=0"])
    assert (args.max_sessions, args.port) == (7, 0)


@pytest.mark.parametrize(
    "name,value,said",
    [
        ("DYNAMIC_SESSIONS_PORT", "eighty", "$DYNAMIC_SESSIONS_PORT='eighty'"),
        ("DYNAMIC_SESSIONS_MAX_SESSIONS", "0", "must be at least 1"),
        ("DYNAMIC_SESSIONS_EGRESS", "sometimes", "must be one of enabled, disabled"),
        ("DYNAMIC_SESSIONS_MCP", "maybe", "$DYNAMIC_SESSIONS_MCP='maybe': a switch is one of"),
    ],
)
def test_a_bad_value_names_its_variable(monkeypatch, capsys, name, value, said):
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit):
        emulator.parse_args([])
    assert said in capsys.readouterr().err


def test_outside_a_container_the_host_stays_loopback_and_container_mode_is_refused(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(emulator, "CONTAINER_MARKERS", (str(tmp_path / "absent"),))
    assert emulator.parse_args([]).host == "127.0.0.1"
    with pytest.raises(SystemExit):
        emulator.parse_args(["--host", emulator.CONTAINER_HOST])
    assert "is not a loopback address" in capsys.readouterr().err
    monkeypatch.setenv("DYNAMIC_SESSIONS_CONTAINER_MODE", "1")
    with pytest.raises(SystemExit):
        emulator.parse_args([])
    assert "runs only inside a container" in capsys.readouterr().err


def test_in_a_container_its_mode_listens_on_the_containers_own_interface(monkeypatch, tmp_path):
    marker = tmp_path / ".containerenv"
    marker.touch()
    monkeypatch.setattr(emulator, "CONTAINER_MARKERS", (str(marker),))
    monkeypatch.setenv("DYNAMIC_SESSIONS_CONTAINER_MODE", "1")
    assert emulator.parse_args([]).host == emulator.CONTAINER_HOST
    monkeypatch.setenv("DYNAMIC_SESSIONS_CONTAINER_MODE", "0")
    assert emulator.parse_args([]).host == "127.0.0.1"


@pytest.mark.parametrize("engine", container.ENGINES)
def test_every_documented_command_publishes_on_the_hosts_loopback_without_privilege(engine):
    command = container.documented_command(engine)
    assert f"\n  -p 127.0.0.1:{container.PORT}:{container.PORT} \\\n" in command
    assert "--cap-drop ALL" in command and "no-new-privileges" in command
    assert "--privileged" not in command and "--cap-add" not in command
