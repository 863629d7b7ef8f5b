"""Where the smoke finds the pool: --endpoint, then $POOL_MANAGEMENT_ENDPOINT, then the Pulumi stack."""

import json
import os
import shutil
import subprocess
from dataclasses import dataclass

ENV_VAR = "POOL_MANAGEMENT_ENDPOINT"
OUTPUT_NAME = "poolManagementEndpoint"
PULUMI_TIMEOUT_S = 120


class EndpointNotFound(Exception):
    """No endpoint anywhere; the message says where the smoke looked."""


@dataclass(frozen=True)
class Found:
    endpoint: str
    source: str


def find_endpoint(flag: str | None, stack: str | None) -> Found:
    if flag:
        return Found(flag, "--endpoint")
    if os.environ.get(ENV_VAR):
        return Found(os.environ[ENV_VAR], f"${ENV_VAR}")
    looked = f"looked in --endpoint, ${ENV_VAR}, and `pulumi stack output`"
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise EndpointNotFound(f"no pool endpoint: {looked} (the pulumi CLI is not on PATH)")
    command = [pulumi, "stack", "output", "--json"]
    if stack:
        command += ["--stack", stack]
    where = f"stack {stack!r}" if stack else "the selected stack"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PULUMI_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise EndpointNotFound(
            f"no pool endpoint: `pulumi stack output` did not answer within {PULUMI_TIMEOUT_S} s"
        ) from None
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise EndpointNotFound(f"no pool endpoint: {looked}; pulumi failed for {where}: {detail}")
    try:
        outputs = json.loads(done.stdout or "{}")
    except ValueError:
        raise EndpointNotFound(
            "no pool endpoint: `pulumi stack output --json` printed something that is not JSON"
        ) from None
    endpoint = outputs.get(OUTPUT_NAME) if isinstance(outputs, dict) else None
    if not isinstance(endpoint, str) or not endpoint:
        raise EndpointNotFound(
            f"no pool endpoint: {looked}; {where} has no output {OUTPUT_NAME!r} (has `pulumi up` run?)"
        )
    return Found(endpoint, f"pulumi stack output ({where})")
