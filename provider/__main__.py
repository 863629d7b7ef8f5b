"""Serves the components as the multi-language Pulumi package `dynamic-sessions`.

The Pulumi CLI starts it as `python provider/ [flags] <engine address>`; it prints the port of its gRPC
server on stdout and answers the engine (GetPluginInfo, GetSchema, Construct, ...) there.
"""

import sys
from pathlib import Path

# The components live at the repository's root, beside the stack program that uses them too; the CLI
# checks out the whole repository, so they are always one directory up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi.provider.experimental import component_provider_host

from components.package import COMPONENTS, PACKAGE_NAME, package_version

if __name__ == "__main__":
    component_provider_host(COMPONENTS, PACKAGE_NAME, version=package_version())
