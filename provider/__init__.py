"""The Pulumi provider plugin hosting this repository's components (run as `python provider/`)."""
