"""Execution history for GET /executions/{id}: bounded in count and in bytes, per session and in total.

Each session keeps its resources (so they end with it); one ledger across sessions, oldest first,
drops the oldest kept resources wherever they are once the total grows past its budget.
"""

import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

KEPT_PER_SESSION = 100
BYTES_PER_SESSION = 64 * 1024 * 1024
BYTES_IN_TOTAL = 256 * 1024 * 1024

History = OrderedDict[str, dict[str, Any]]


# What a kept entry costs beyond its strings and result: its dicts, its place in two ordered dicts.
ENTRY_BYTES = 1024


def _size(value: Any) -> int:
    """The bytes Python holds for a JSON value, nested containers and all."""
    if not isinstance(value, dict | list):
        return sys.getsizeof(value)
    total = 0
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return total


def weight(execution_id: str, resource: dict[str, Any]) -> int:
    """The bytes a kept resource holds in the emulator: its id (also its key), identifier, output
    streams, result of any shape and error, as Python counts them, and the dicts holding them."""
    total = ENTRY_BYTES + 2 * sys.getsizeof(execution_id) + sys.getsizeof(resource.get("identifier", ""))
    result = resource.get("result")
    if isinstance(result, dict):
        total += sum(_size(value) for value in result.values())
    return total + (_size(resource["error"]) if "error" in resource else 0)


@dataclass
class Ledger:
    """Every kept resource across sessions, oldest first, with its weight."""

    per_session: int = BYTES_PER_SESSION
    total: int = BYTES_IN_TOTAL
    count_per_session: int = KEPT_PER_SESSION
    _entries: OrderedDict[tuple[int, str], tuple[History, int]] = field(default_factory=OrderedDict)
    _weights: dict[int, int] = field(default_factory=dict)
    held: int = 0

    def keep(self, history: History, execution_id: str, resource: dict[str, Any]) -> None:
        key = (id(history), execution_id)
        self._forget(key)
        size = weight(execution_id, resource)
        history[execution_id] = resource
        history.move_to_end(execution_id)
        self._entries[key] = (history, size)
        self._weights[id(history)] = self._weights.get(id(history), 0) + size
        self.held += size
        while len(history) > self.count_per_session or self._weights[id(history)] > self.per_session:
            if not self._drop_oldest_of(history):
                break
        while self.held > self.total and self._entries:
            (owner, oldest), (kept_in, _) = next(iter(self._entries.items()))
            kept_in.pop(oldest, None)
            self._forget((owner, oldest))

    def release(self, history: History) -> None:
        """Forgets a session's history (the session ended)."""
        for key in [k for k in self._entries if k[0] == id(history)]:
            self._forget(key)
        history.clear()

    def _drop_oldest_of(self, history: History) -> bool:
        if len(history) <= 1:
            return False
        oldest = next(iter(history))
        history.pop(oldest)
        self._forget((id(history), oldest))
        return True

    def _forget(self, key: tuple[int, str]) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self.held -= entry[1]
        left = self._weights.get(key[0], 0) - entry[1]
        if left > 0:
            self._weights[key[0]] = left
        else:
            self._weights.pop(key[0], None)
