"""The MCP server's key and environment ids: ids checked by their MAC, with no table to scan or to fill."""

import re
import sys

from dynamic_sessions.emulator.api.mcp_state import TAG_HEX, McpServer, new_key


def test_an_issued_id_is_accepted_and_every_other_id_is_refused():
    server = McpServer("k" * 40)
    environment = server.issue()
    assert server.issued(environment)
    value, tag = environment[:36], environment[37:]
    forged_tag = tag[:-1] + ("0" if tag[-1] != "0" else "1")
    for forged in (
        f"{value}-{forged_tag}",
        f"{value[:-1]}{'0' if value[-1] != '0' else '1'}-{tag}",  # another value under this tag
        value,  # a bare UUID, as a data-plane identifier can be
        environment + "0",
        environment[:-1],
        f"{value}-{tag[:-1]}é",  # compare_digest refuses non-ASCII str: held as bytes
        f"{value}_{tag}",
        None,
        42,
        ["not", "a", "string"],
    ):
        assert not server.issued(forged), forged


def test_another_servers_ids_are_refused():
    assert not McpServer("k" * 40).issued(McpServer("k" * 40).issue())


def test_ids_are_distinct_and_shaped_as_a_uuid_and_its_mac():
    server = McpServer("k" * 40)
    ids = {server.issue() for _ in range(1000)}
    assert len(ids) == 1000
    shape = re.compile(
        rf"[0-9a-f]{{8}}-[0-9a-f]{{4}}-4[0-9a-f]{{3}}-[89ab][0-9a-f]{{3}}-[0-9a-f]{{12}}-[0-9a-f]{{{TAG_HEX}}}"
    )
    assert all(shape.fullmatch(i) for i in ids)


def test_issuing_holds_nothing_per_id():
    server = McpServer("k" * 40)
    before = {name: sys.getsizeof(value) for name, value in vars(server).items()}
    for _ in range(10_000):
        server.issue()
    assert {name: sys.getsizeof(value) for name, value in vars(server).items()} == before


def test_the_key_is_compared_whole():
    server = McpServer("k" * 40)
    assert server.accepts("k" * 40)
    assert not server.accepts("k" * 39)
    assert not server.accepts(None)
    assert not server.accepts("\udcff")  # a header's undecodable byte, as surrogateescape gives it


def test_a_generated_key_can_be_passed_on_as_a_flags_value():
    keys = {new_key() for _ in range(200)}
    assert len(keys) == 200
    assert all(
        re.fullmatch(r"[0-9a-f]{64}", key) for key in keys
    )  # never a leading "-", which argparse reads as a flag
