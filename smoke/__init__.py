"""`python -m smoke` from a clone of the repository: the check lives in `dynamic_sessions.smoke`."""
