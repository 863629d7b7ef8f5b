"""Client for a dynamic-sessions pool's data plane, and the post-deploy check `python -m smoke`.

Kept light on purpose: importing `smoke` loads neither httpx, azure-identity nor pulumi.
Use `from smoke.client import SessionsClient` (or `AsyncSessionsClient`) in an app.
"""

__version__ = "0.1.0"
