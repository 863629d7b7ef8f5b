"""One POST to the MCP endpoint, driven without a server: its messages answered within the request's bounds."""

import asyncio
import json
from types import SimpleNamespace
from typing import Any

from dynamic_sessions.emulator.api import mcp
from dynamic_sessions.emulator.api.batches import AnswerBudget, Answers


def _state() -> Any:
    runtime = SimpleNamespace(container_type="Shell")
    return SimpleNamespace(pool=SimpleNamespace(launcher=SimpleNamespace(runtime=runtime)), mcp=None)


def test_past_the_request_cap_the_remaining_requests_get_the_limits_error_and_notifications_nothing():
    async def scenario() -> Answers:
        answers = Answers(AnswerBudget(), most=1)
        messages = [
            {"jsonrpc": "2.0", "id": 1, "method": "ping"},
            {"jsonrpc": "2.0", "id": 2, "method": "ping"},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/list"},
        ]
        await mcp._answer_all(messages, _state(), answers)
        return answers

    answers = asyncio.run(scenario())
    first, *rest = [json.loads(part) for part in answers.parts]
    assert first == {"jsonrpc": "2.0", "id": 1, "result": {}}
    assert [a["id"] for a in rest] == [2, 3]
    assert all(a["error"]["code"] == mcp.SERVER_ERROR for a in rest)
    assert all("a request may hold 1 bytes" in a["error"]["message"] for a in rest)
    assert answers.size == sum(len(part) for part in answers.parts)


def test_a_tool_result_is_rendered_on_the_event_loop_only_when_small():
    assert mcp.ToolResult({"environmentId": "e" * 69}, failed=False).small
    assert mcp.ToolResult({"stdout": "x" * mcp.INLINE_RENDER_CHARS, "exitCode": 0}, failed=False).small
    assert not mcp.ToolResult({"stdout": "x" * mcp.INLINE_RENDER_CHARS, "stderr": "y"}, failed=False).small
    assert not mcp.ToolResult({"result": {"a": 1}}, failed=False).small


def test_a_tool_results_json_carries_its_content_twice_as_azure_answers():
    rendered = json.loads(
        mcp._render({"jsonrpc": "2.0", "id": 7, "result": mcp.ToolResult({"stdout": "\udcff"}, True)})
    )
    result = rendered["result"]
    assert result["structuredContent"] == {"stdout": "\udcff"} == json.loads(result["content"][0]["text"])
    assert (result["isError"], result["content"][0]["type"]) == (True, "text")
