"""What every contract of the emulator's HTTP surface shares: the pool, the execution history, the MCP server's
state and the settings a request falls back on. The contract modules import it; it imports none of them."""

import asyncio
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from dynamic_sessions.azure_facts import DEFAULT_OUTPUT_STREAMS_MAX_LENGTH
from dynamic_sessions.emulator.api.history import Ledger
from dynamic_sessions.emulator.api.mcp_state import McpServer
from dynamic_sessions.emulator.sessions.pool import Pool
from dynamic_sessions.emulator.sessions.session import Session


@dataclass
class EmulatorState:
    pool: Pool
    allowed_principals: frozenset[str] = frozenset()
    output_limit: int = DEFAULT_OUTPUT_STREAMS_MAX_LENGTH
    """`outputStreamsMaxLength` where a request does not say (--output-max-length)."""
    background: set[asyncio.Task[None]] = field(default_factory=set)
    history: Ledger = field(default_factory=Ledger)
    mcp: McpServer | None = None
    """The MCP server's key and environment ids, when it is on (`--mcp`)."""
    watched: "weakref.WeakSet[Session]" = field(default_factory=weakref.WeakSet)
    """Sessions whose end releases their history."""

    @property
    def shell_pool(self) -> bool:
        """Whether the pool's sessions are Shell sessions (their executions contract is `shell`'s)."""
        return self.pool.launcher.runtime.container_type == "Shell"

    async def admit(self, identifier: str, code_size: int) -> tuple[Session, Callable[[], None]]:
        """The identifier's session with one more execution in its queue (429 past its limit, as for a full
        pool), and the callable that takes it out again; the session's history goes when the session does,
        however it ends."""
        session = await self.pool.session_for(identifier)
        release = session.enqueue(code_size)
        if session not in self.watched:
            self.watched.add(session)
            history = session.executions
            session.when_ended(lambda: self.history.release(history))
        return session, release
