"""The emulator's pool flags mirror the stack settings: started with none, it emulates a pool deployed with the
settings table's defaults. The emulator ships without the Pulumi program, so it cannot read the table; this holds
the two together."""

from components.settings import default_of
from dynamic_sessions.emulator.__main__ import build_parser


def test_the_emulators_pool_flags_default_to_the_settings_tables_defaults():
    flags = build_parser().parse_args([])
    assert (flags.container_type, flags.max_sessions, flags.cooldown, flags.egress == "enabled") == (
        default_of("container_type"),
        default_of("max_sessions"),
        default_of("cooldown_seconds"),
        default_of("egress_enabled"),
    )
