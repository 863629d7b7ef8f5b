"""What Azure's session pools are, as every part of the project speaks of them: the container types, the data
plane's token audience and Resource Manager's endpoint. Written once here, imported by the client, the emulator, the
pytest fixture and the component (the API versions are in `api_versions`).

Importing this module loads nothing but the standard library.
"""

CONTAINER_TYPES = ("NodeLTS", "PythonLTS", "Shell")
"""The pools' built-in container types the project deploys, emulates and tests against."""
DEFAULT_CONTAINER_TYPE = "NodeLTS"
"""The JavaScript code interpreter: the stack's, the emulator's and the fixture's when none is named."""

AUDIENCE = "https://dynamicsessions.io"
"""The `aud` of a token the pool's data plane accepts."""
SCOPE = f"{AUDIENCE}/.default"
"""What a caller of the data plane asks Microsoft Entra ID for (the bare audience fails with AADSTS70011)."""

DEFAULT_OUTPUT_STREAMS_MAX_LENGTH = 4096
"""Azure's documented default for an execution's `outputStreamsMaxLength`: characters kept of stdout and of stderr."""
EGRESS_STATUS = {True: "EgressEnabled", False: "EgressDisabled"}
"""A pool's `sessionNetworkConfiguration.status`, by whether its sessions may reach the network."""
MAX_EXECUTION_TIMEOUT_S = 220
"""The most an execution's `timeoutInSeconds` may be."""
MCP_KEY_HEADER = "x-ms-apikey"
"""The header that carries a pool's MCP API key to its MCP server."""

ARM_ENDPOINT = "https://management.azure.com"
"""Azure Resource Manager in Azure's public cloud."""
