"""Azure Container Apps dynamic sessions: a data-plane client, a local emulator of a pool, the smoke check.

Each part installs with its own extra and imports nothing heavy until used:
`dynamic_sessions.client` (extra `client`), `dynamic_sessions.emulator` (extra `emulator`),
`dynamic_sessions.smoke` (the post-deploy check, on the client).
"""

__version__ = "0.2.0"
