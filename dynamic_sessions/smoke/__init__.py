"""The post-deploy check: `python -m dynamic_sessions.smoke` (`python -m smoke` from a clone)."""
