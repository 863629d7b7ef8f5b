"""Where the smoke finds the pool: --endpoint, else --stack's outputs, else $POOL_MANAGEMENT_ENDPOINT,
else the selected Pulumi stack. A flag always wins over the environment, so `--stack prod` checks prod."""

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENV_VAR = "POOL_MANAGEMENT_ENDPOINT"
OUTPUT_NAME = "poolManagementEndpoint"
CONTAINER_TYPE_OUTPUT = "containerType"
PULUMI_TIMEOUT_S = 120


class EndpointNotFound(Exception):
    """No endpoint anywhere (for --mcp, also: no key); the message says what is missing and where the smoke looked."""


@dataclass(frozen=True)
class Found:
    endpoint: str
    source: str
    """Where it came from: `--endpoint`, `$POOL_MANAGEMENT_ENDPOINT`, `stack <name>` or `the selected stack`."""
    container_type: str | None = None
    """The stack's `containerType` output, when the endpoint came from a stack that exports it."""
    outputs: Mapping[str, Any] = field(default_factory=dict)
    """Every output of the stack the endpoint came from (none for --endpoint or the environment)."""


def find_endpoint(flag: str | None, stack: str | None) -> Found:
    if flag:
        return Found(flag, "--endpoint")
    if stack:
        return from_stack(stack)
    if os.environ.get(ENV_VAR):
        return Found(os.environ[ENV_VAR], f"${ENV_VAR}")
    return from_stack(None)


def from_stack(stack: str | None) -> Found:
    """The named stack's outputs, or the selected stack's; never the environment (what --verify reads)."""
    looked = f"--stack {stack}" if stack else f"looked in --endpoint, --stack, ${ENV_VAR}, and `pulumi stack output`"
    where = f"stack {stack}" if stack else "the selected stack"
    outputs = stack_outputs(stack, looked)
    endpoint = outputs.get(OUTPUT_NAME)
    if not isinstance(endpoint, str) or not endpoint:
        raise EndpointNotFound(
            f"no pool endpoint: {looked}; {where} has no output {OUTPUT_NAME!r} (has `pulumi up` run?)"
        )
    container_type = outputs.get(CONTAINER_TYPE_OUTPUT)
    return Found(endpoint, where, container_type if isinstance(container_type, str) else None, outputs)


def stack_outputs(stack: str | None, looked: str, wanted: str = "pool endpoint") -> dict[str, object]:
    """`pulumi stack output --json` of `stack` (None: the selected one); `looked` says where else `wanted` (what
    the outputs are read for, named in the error) was looked for."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise EndpointNotFound(f"no {wanted}: {looked} (the pulumi CLI is not on PATH)")
    command = [pulumi, "stack", "output", "--json"]
    if stack:
        command += ["--stack", stack]
    where = f"stack {stack}" if stack else "the selected stack"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PULUMI_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise EndpointNotFound(
            f"no {wanted}: `pulumi stack output` did not answer within {PULUMI_TIMEOUT_S} s"
        ) from None
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise EndpointNotFound(f"no {wanted}: {looked}; pulumi failed for {where}: {detail}")
    try:
        outputs = json.loads(done.stdout or "{}")
    except ValueError:
        raise EndpointNotFound(
            f"no {wanted}: `pulumi stack output --json` printed something that is not JSON"
        ) from None
    return outputs if isinstance(outputs, dict) else {}
