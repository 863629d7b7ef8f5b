"""`python -m emulator` from a clone of the repository: the emulator lives in `dynamic_sessions.emulator`."""
