"""What the delivery workflows decide, as commands that run the same in CI and on a laptop (`python -m ci`)."""
