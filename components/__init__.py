"""The deployable parts: stack settings and the session-pool component."""
