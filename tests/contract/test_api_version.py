"""The pool's ARM API version: the vendored spec is that version's, and every client of the pool's control plane
speaks it and spells its actions as that spec does."""

import json

from components import pool_body
from dynamic_sessions.client import arm, mcp
from tests.spec_check import SESSION_POOLS


def test_the_pool_is_sent_at_the_newest_preview_that_lists_nodelts_and_mcp():
    spec = json.loads(SESSION_POOLS.read_text())
    assert spec["info"]["version"] == pool_body.API_VERSION == "2026-03-02-preview"
    container_types = spec["definitions"]["ContainerType"]["enum"]
    assert {"NodeLTS", "Shell", "PythonLTS"} <= set(container_types)
    assert "mcpServerSettings" in spec["definitions"]["SessionPoolProperties"]["properties"]


def test_the_arm_reader_reads_the_pool_at_the_version_it_is_sent_at():
    assert arm.POOL_API_VERSION == pool_body.API_VERSION


def test_the_mcp_key_actions_are_spelled_as_the_spec_of_that_version_spells_them():
    paths = json.loads(SESSION_POOLS.read_text())["paths"]
    spec = json.loads(SESSION_POOLS.read_text())
    actions = {path.rsplit("/", 1)[1]: item["post"] for path, item in paths.items() if "{sessionPoolName}/" in path}
    assert set(actions) == {mcp.FETCH_KEY, mcp.ROTATE_KEY}
    for post in actions.values():
        answer = post["responses"]["200"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert "apiKey" in spec["definitions"][answer]["properties"]
