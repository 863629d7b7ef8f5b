"""The package's optional extras, and the exact command that adds one to the installation at hand.

The package is installed from its repository (a git URL, or a clone in editable mode), not from an
index, so `pip install dynamic-sessions[client]` would find nothing. pip records where a distribution
came from in its `direct_url.json` (PEP 610); the command is built from that record.
"""

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from dynamic_sessions import DISTRIBUTION


def install_command(extra: str) -> str:
    """A command that installs `extra` into the running interpreter's environment, from where the package came."""
    pip = f"{sys.executable} -m pip install"
    origin = _origin()
    url = origin.get("url") if isinstance(origin.get("url"), str) else None
    vcs, editable = origin.get("vcs_info"), origin.get("dir_info", {}).get("editable")
    if url and isinstance(vcs, dict) and vcs.get("vcs") and vcs.get("commit_id"):
        return f'{pip} "{DISTRIBUTION}[{extra}] @ {vcs["vcs"]}+{url}@{vcs["commit_id"]}"'
    if url and editable and url.startswith("file://"):
        return f'{pip} -e "{unquote(urlsplit(url).path)}[{extra}]"'
    if url:
        return f'{pip} "{DISTRIBUTION}[{extra}] @ {url}"'
    return f'{pip} "{DISTRIBUTION}[{extra}] @ git+<this repository>@<commit>"'


def _origin() -> dict[str, Any]:
    import importlib.metadata  # here, when a message needs it: ~12 ms of every start of the emulator and the smoke

    # A clone's working folder holds setuptools' own *.egg-info too, without the record: skip to the installed one.
    for distribution in importlib.metadata.distributions(name=DISTRIBUTION):
        try:
            origin = json.loads(distribution.read_text("direct_url.json") or "null")
        except ValueError:
            continue
        if isinstance(origin, dict):
            return origin
    return {}


def missing_extra_message(needs: str, missing: str, extra: str) -> str:
    """`needs` (what was asked) cannot run because the module `missing` (or several, comma-separated) of the extra
    `extra` is not installed."""
    verb = "are" if ", " in missing else "is"
    return f"{needs} needs {missing}, which {verb} not installed; install the '{extra}' extra: {install_command(extra)}"


@contextlib.contextmanager
def extra_needed(needs: str, extra: str) -> Iterator[None]:
    """A third-party module missing inside the block raises `MissingExtra` naming `extra` and its install command
    (a missing module of this package is a broken installation, and stays a `ModuleNotFoundError`)."""
    try:
        yield
    except ModuleNotFoundError as missing:
        if not missing.name or missing.name.partition(".")[0] == "dynamic_sessions":
            raise
        from dynamic_sessions.client.errors import MissingExtra

        raise MissingExtra(missing_extra_message(needs, missing.name, extra), name=missing.name) from None
