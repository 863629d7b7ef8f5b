"""Per-session resource caps: what is asked for, and how each one is enforced on this machine."""

import re
from dataclasses import dataclass, field

GIB = 1024**3
MIB = 1024**2
_UNITS = {"": 1, "k": 1024, "m": MIB, "g": GIB, "t": 1024 * GIB}
_SIZE = re.compile(r"(\d+)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)


def parse_size(text: str) -> int:
    """`512M`, `1G`, `1GiB`, `65536`: binary units, since that is what the kernel's limits count in."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a size: use bytes or a number with K, M, G or T (binary units), like 1G")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def show_size(size: int) -> str:
    for unit, factor in (("GiB", GIB), ("MiB", MIB)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


@dataclass(frozen=True)
class Caps:
    """What one session may use. `enabled=False` (--no-caps) lifts every cap, for measuring their cost."""

    memory: int = GIB
    processes: int = 256
    tmp: int = 256 * MIB
    data: int = GIB
    enabled: bool = True


@dataclass
class Enforcement:
    """How each cap is held here (`held`), and which cannot be, with the reason (`missing`)."""

    held: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"cap {name}: {how}" for name, how in self.held.items()]
        out += [f"cap {name}: NOT ENFORCED: {why}" for name, why in self.missing.items()]
        return out
