"""What `emulator --help` tells a user about the MCP key."""

from dynamic_sessions.emulator import __main__ as emulator


def test_the_key_flags_help_says_to_prefer_the_variable_and_why():
    text = " ".join(emulator.build_parser().format_help().split())
    assert f"prefer ${emulator.MCP_KEY_VARIABLE}: a flag's value is in the process list" in text
