"""What docs/sandbox.md and docs/agents.md say of the MCP endpoint's limits, held to the constants that set them."""

from pathlib import Path

from dynamic_sessions.emulator.api import batches, mcp
from dynamic_sessions.emulator.sandbox.caps import show_size
from dynamic_sessions.emulator.sessions.session import MAX_QUEUED

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _flat(name: str) -> str:
    return " ".join((DOCS / name).read_text().split())


def test_the_sandbox_pages_mcp_rows_give_the_limits():
    page = _flat("sandbox.md")
    for phrase in (
        f"| MCP batch (`--mcp`): messages in one POST | {batches.MAX_BATCH_MESSAGES} |",
        f"total under {show_size(batches.MAX_REQUEST_ANSWER_BYTES)} |",
        f"a further message runs while they total under {show_size(batches.MAX_ANSWER_BYTES_IN_TOTAL)} |",
        f"JSON-RPC `{mcp.INVALID_REQUEST}` (HTTP 400) naming the cap",
        f"answered JSON-RPC `{mcp.SERVER_ERROR}` naming the limit",
    ):
        assert phrase in page, phrase


def test_the_agents_page_says_what_a_client_sees_at_each_limit():
    page = _flat("agents.md")
    for phrase in (
        f"A batch holds at most {batches.MAX_BATCH_MESSAGES} messages.",
        f"`{mcp.INVALID_REQUEST}`, id `null`, whose message names the cap",
        f"the answers before it total under {show_size(batches.MAX_REQUEST_ANSWER_BYTES)}",
        f"the answers of every POST in progress total under {show_size(batches.MAX_ANSWER_BYTES_IN_TOTAL)}",
        f"past {MAX_QUEUED} calls running or waiting",
        f"protocol version {mcp.PROTOCOL_VERSION}, whose transport lets a POST carry a JSON-RPC batch",
    ):
        assert phrase in page, phrase


def test_a_refusal_names_what_the_pages_say():
    refused = batches.batch_refusal([{}] * (batches.MAX_BATCH_MESSAGES + 1))
    assert refused is not None and f"at most {batches.MAX_BATCH_MESSAGES} messages" in refused
    answers = batches.Answers(batches.AnswerBudget())
    answers.add(b"x" * batches.MAX_REQUEST_ANSWER_BYTES)
    refusal = answers.refusal()
    assert refusal is not None and refusal.startswith("Not run:")
    assert f"a request may hold {show_size(batches.MAX_REQUEST_ANSWER_BYTES)}" in refusal


def test_the_emulators_help_states_the_mcp_limits():
    from dynamic_sessions.emulator.__main__ import LIMITS

    shown = " ".join(LIMITS.split())
    assert f"MCP batches {batches.MAX_BATCH_MESSAGES} messages;" in shown
    assert f"answers reach {show_size(batches.MAX_REQUEST_ANSWER_BYTES)}," in shown
    assert f"all POSTs' {show_size(batches.MAX_ANSWER_BYTES_IN_TOTAL)};" in shown
