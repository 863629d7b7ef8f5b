"""JSON request bodies built to be costly to parse (4 MB of empty arrays), against the MCP endpoint and the data
plane: what they cost the emulator, judged from the host (its peak RSS, /proc/<pid>/status), with the emulator run
by root and by nobody."""

import concurrent.futures

import httpx
import pytest

from dynamic_sessions.emulator.api import bodies
from tests.e2e.test_mcp_bounds import MODES, McpEmulator, _mcp, pytestmark  # noqa: F401

V = "2025-10-02-preview"
# As many empty arrays as 4 MB hold: 1.4 million, 0.7 s of the parser's time each body, on the event loop.
EMPTY_ARRAYS = b"[" + b",".join([b"[]"] * (bodies.MAX_JSON_BYTES // 3 - 1)) + b"]"


def _flood(pool: McpEmulator, data_plane: bool) -> list[httpx.Response]:
    def post(_: int) -> httpx.Response:
        if data_plane:
            params = {"api-version": V, "identifier": "parser"}
            headers = {"content-type": "application/json"}
            return pool.emulator.http.post("/executions", params=params, content=EMPTY_ARRAYS, headers=headers)
        with pool.client() as http:
            return http.post(pool.endpoint, content=EMPTY_ARRAYS, headers={"content-type": "application/json"})

    with concurrent.futures.ThreadPoolExecutor(6) as threads:
        return list(threads.map(post, range(12)))


@pytest.mark.parametrize("mode", MODES)
def test_bodies_of_millions_of_values_are_refused_before_they_are_parsed(mode):
    with _mcp(mode, "--container-type", "Shell", "--max-sessions", "2") as pool:
        assert len(EMPTY_ARRAYS) <= bodies.MAX_JSON_BYTES
        before = pool.rss_mib()
        answers = _flood(pool, data_plane=False) + _flood(pool, data_plane=True)
        grown = pool.rss_mib("VmHWM") - before
    # Parsed, each body built 1.4 million lists: the peak RSS grew by about 140 MiB, and each body held the event
    # loop for 0.7 s. Now they are counted, not parsed: what is left is the bodies' own bytes as they arrive.
    assert grown < 100, f"the emulator's peak RSS grew by {grown:.0f} MiB"
    assert all(a.status_code == 400 for a in answers), {a.status_code for a in answers}
    limit = f"at most {bodies.MAX_JSON_VALUES:,}"
    messages = [a.json()["error"]["message"] for a in answers]
    assert all(limit in message for message in messages), messages[0]
