"""What one POST to the MCP endpoint may ask for and hold: the messages of a JSON-RPC batch, and the bytes of the
answers it accumulates before they are sent, per request and over every request in progress.

Batches are accepted, capped: the server answers protocol version 2025-03-26, whose streamable-HTTP transport says a
POST body MUST be a single JSON-RPC message or "an array batching one or more requests and/or notifications"
(modelcontextprotocol/modelcontextprotocol, docs/specification/2025-03-26/basic/transports.mdx, "Sending Messages to
the Server", item 3). The next revision, 2025-06-18, removed batching ("Remove support for JSON-RPC batching
(PR #416)", its changelog; its transports.mdx: the body "MUST be a single JSON-RPC request, notification, or
response"), and Microsoft's MCP tutorials send single messages only, so a cap costs no client of Azure's server a
thing, while refusing batches would break a 2025-03-26 client that sends them.

An answer is held as the JSON bytes it is sent as. The first answer of a request is always kept: it is bounded by the
output limits of the call that made it, as a data-plane answer is. A further message runs only while the request's
answers stay under `MAX_REQUEST_ANSWER_BYTES` and those of all requests in progress under
`MAX_ANSWER_BYTES_IN_TOTAL`; past either, it is answered with an error that names the limit instead of being run.
"""

from dataclasses import dataclass, field
from typing import Any

from dynamic_sessions.emulator.sandbox.caps import show_size

MAX_BATCH_MESSAGES = 16
MAX_REQUEST_ANSWER_BYTES = 16 * 1024 * 1024
MAX_ANSWER_BYTES_IN_TOTAL = 256 * 1024 * 1024


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def batch_refusal(messages: list[Any]) -> str | None:
    """Why a batch (the POST body's array) is refused as a whole, or None."""
    if not messages:
        return "An empty batch."
    if len(messages) > MAX_BATCH_MESSAGES:
        return (
            f"A batch holds at most {MAX_BATCH_MESSAGES} messages; this one has {len(messages)}. "
            "Send the rest in further requests."
        )
    return None


@dataclass
class AnswerBudget:
    """The bytes of answers held by every request in progress, and the most they may take together."""

    total: int = MAX_ANSWER_BYTES_IN_TOTAL
    held: int = 0


@dataclass
class Answers:
    """One request's answers, as the JSON bytes they are sent as, charged to `budget` until `release`."""

    budget: AnswerBudget
    most: int = MAX_REQUEST_ANSWER_BYTES
    parts: list[bytes] = field(default_factory=list)
    size: int = 0

    def refusal(self) -> str | None:
        """None while the request's next message may run; else the error its answer is, naming the limit."""
        if not self.parts:
            return None
        if self.size >= self.most:
            return (
                f"Not run: this request's answers reached {_mib(self.size)}, and a request may hold "
                f"{show_size(self.most)} of them; send the rest in another request."
            )
        if self.budget.held >= self.budget.total:
            return (
                f"Not run: the requests in progress hold {_mib(self.budget.held)} of answers, the most the "
                f"server holds is {show_size(self.budget.total)}; retry once they have been answered."
            )
        return None

    def add(self, part: bytes) -> None:
        self.parts.append(part)
        self.size += len(part)
        self.budget.held += len(part)

    def release(self) -> None:
        """Gives the request's bytes back to the budget (the answer was sent, or never will be); again is harmless."""
        self.budget.held -= self.size
        self.size = 0
        self.parts = []
