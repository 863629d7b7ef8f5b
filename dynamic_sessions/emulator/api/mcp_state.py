"""The MCP server's own state: its API key, the environment ids its `launchShell` issues, and the bytes of answers
its requests in progress hold (see `batches`).

An environment id is a random value and a keyed MAC of it (HMAC-SHA256 under a secret drawn at the server's start),
so the server keeps no table of the ids it issued: issuing one and checking one each cost one MAC, whatever number
were issued before, and no count of ids can run out for other clients. Only ids this server issued pass the check,
so an MCP caller cannot reach a data-plane session by naming its identifier. What an id costs the pool is its
session, allocated on its first command, within the pool's capacity and cooldown as any identifier's.
"""

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field

from dynamic_sessions.emulator.api.batches import AnswerBudget

# Hex digits of the MAC an id carries: 128 bits, as many as a guess must match.
TAG_HEX = 32


def new_key() -> str:
    """256 random bits as hex: a key that can start with `-` (as URL-safe base64 can) is read as a flag when
    passed on, as in `python -m smoke --mcp-api-key KEY`."""
    return secrets.token_hex(32)


@dataclass
class McpServer:
    """The MCP server's key, the secret its environment ids are signed with, and its requests' answer bytes."""

    key: str
    answers: AnswerBudget = field(default_factory=AnswerBudget)
    _secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def accepts(self, presented: str | None) -> bool:
        """Compared as digests in constant time: neither the key's characters nor its length show in timing."""
        if presented is None:
            return False
        given = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        return hmac.compare_digest(given, hashlib.sha256(self.key.encode()).digest())

    def issue(self) -> str:
        """A new environment id: a random UUID and its MAC, `<uuid>-<32 hex digits>`."""
        value = str(uuid.uuid4())
        return f"{value}-{self._tag(value)}"

    def issued(self, environment: object) -> bool:
        """Whether `environment` is an id this server issued; one MAC, in constant time."""
        if not isinstance(environment, str) or len(environment) != 36 + 1 + TAG_HEX:
            return False
        value, tag = environment[:36], environment[37:]
        given = tag.encode("utf-8", "surrogatepass")  # compare_digest refuses str holding non-ASCII characters
        return environment[36] == "-" and hmac.compare_digest(self._tag(value).encode(), given)

    def _tag(self, value: str) -> str:
        signed = value.encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, signed, hashlib.sha256).hexdigest()[:TAG_HEX]
