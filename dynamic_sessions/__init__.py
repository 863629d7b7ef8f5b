"""Azure Container Apps dynamic sessions: a data-plane client, a local emulator of a pool, the smoke check.

Each part installs with its own extra and imports nothing heavy until used:
`dynamic_sessions.client` (extra `client`), `dynamic_sessions.emulator` (extra `emulator`),
`dynamic_sessions.smoke` (the post-deploy check, on the client).
"""

from functools import cache

DISTRIBUTION = "dynamic-sessions"


@cache
def _installed_version() -> str:
    # pyproject.toml writes the version once; the installed distribution's metadata carries it (importlib.metadata
    # costs ~12 ms to import, so only code that reads the version pays for it).
    import importlib.metadata

    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:  # a source tree never installed
        return "0+unknown"


def __getattr__(name: str) -> str:
    """`__version__`: the installed distribution's version, as pyproject.toml wrote it."""
    if name == "__version__":
        return _installed_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
