"""The smoke as a gate: run `python -m smoke --stack S --json`, keep its report, summarise it, pass its exit code on."""

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from ci.github import append_summary
from dynamic_sessions.smoke.report import VERDICTS

SUMMARY_FIELDS = (
    "endpoint",
    "apiVersion",
    "status",
    "stdout",
    "executionMs",
    "wallMs",
    "attempts",
    "sessionReleased",
    "verified",
    "armCalls",
)
FEDERATED_AUDIENCE = "api://AzureADTokenExchange"
TOKEN_FILE_NAME = "azure-federated-token"  # noqa: S105 (a file name, not a secret)


class GateError(Exception):
    """The gate could not run the smoke; the message says why (never with a token)."""


def federated_credential_env(environ: Mapping[str, str], directory: Path) -> dict[str, str]:
    """Environment for azure-identity's WorkloadIdentityCredential from GitHub's OIDC token, or {} outside Actions.

    The azure-native provider logs in by OIDC by itself (ARM_USE_OIDC); the smoke's
    DefaultAzureCredential needs the token in a file. It is fetched right before the smoke, so it is
    fresh when the smoke asks Entra ID for its one access token, even after a long `pulumi up`.
    """
    if environ.get("AZURE_FEDERATED_TOKEN_FILE"):
        return {}
    url = environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")
    request_token = environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    client_id = environ.get("AZURE_CLIENT_ID") or environ.get("ARM_CLIENT_ID")
    tenant_id = environ.get("AZURE_TENANT_ID") or environ.get("ARM_TENANT_ID")
    if not (url and request_token and client_id and tenant_id):
        return {}
    try:
        response = httpx.get(
            httpx.URL(url).copy_merge_params({"audience": FEDERATED_AUDIENCE}),
            headers={"Authorization": f"Bearer {request_token}"},
            timeout=30,
        )
    except httpx.HTTPError as error:
        raise GateError(f"could not reach GitHub's OIDC token endpoint: {type(error).__name__}") from None
    if response.status_code != 200:
        raise GateError(
            f"GitHub refused an OIDC token (HTTP {response.status_code}); the job needs `permissions: id-token: write`"
        )
    try:
        token = response.json()["value"]
    except (ValueError, KeyError, TypeError):
        raise GateError("GitHub's OIDC token endpoint answered without a token") from None
    path = directory / TOKEN_FILE_NAME
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(token)
    return {"AZURE_FEDERATED_TOKEN_FILE": str(path), "AZURE_CLIENT_ID": client_id, "AZURE_TENANT_ID": tenant_id}


def parse_report(stdout: str, exit_code: int) -> dict[str, Any]:
    """The smoke's one JSON object, or a stand-in report saying why there is none."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            report = json.loads(line)
        except ValueError:
            continue
        if isinstance(report, dict) and "exitCode" in report:
            return report
    return {
        "passed": False,
        "exitCode": exit_code,
        "message": f"the smoke printed no JSON report (exit {exit_code})",
    }


def gate_exit_code(exit_code: int, report: Mapping[str, Any]) -> int:
    """The smoke's exit code, except that exit 0 without a passed report still fails the job."""
    if exit_code == 0 and report.get("passed") is not True:
        return 1
    return exit_code


def summary(stack: str, report: Mapping[str, Any], exit_code: int) -> str:
    verdict = VERDICTS.get(exit_code, "the smoke failed unexpectedly")
    mark = "PASS" if exit_code == 0 else "FAIL"
    rows = [f"| {name} | {_cell(report.get(name))} |" for name in SUMMARY_FIELDS if report.get(name) is not None]
    lines = [
        f"### Smoke `{stack}`: {mark} (exit {exit_code}: {verdict})",
        "",
        _cell(report.get("message", "")),
        "",
        "| field | value |",
        "|---|---|",
        *rows,
    ]
    for title, key in (("Differences (declared, then what Azure has)", "differences"), ("Not compared", "unknown")):
        items = report.get(key)
        if isinstance(items, list) and items:
            lines += ["", f"{title}:", ""]
            lines += [f"- {_cell(i.get('message') if isinstance(i, dict) else i)}" for i in items]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    text = repr(value) if isinstance(value, str) and ("\n" in value or value != value.strip()) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def run(root: Path, stack: str, out: Path, smoke_args: list[str], environ: Mapping[str, str] = os.environ) -> int:
    env = dict(environ)
    with tempfile.TemporaryDirectory(dir=environ.get("RUNNER_TEMP") or None) as directory:
        try:
            env.update(federated_credential_env(environ, Path(directory)))
        except GateError as error:
            report = {"passed": False, "exitCode": 2, "message": str(error)}
            out.write_text(json.dumps(report, indent=2) + "\n")
            append_summary(summary(stack, report, 2))
            return 2
        command = [sys.executable, "-m", "dynamic_sessions.smoke", "--stack", stack, "--json", *smoke_args]
        # stderr stays the job log's: the smoke says there what it waits for.
        done = subprocess.run(command, cwd=root, env=env, stdout=subprocess.PIPE, text=True, check=False)
    report = parse_report(done.stdout, done.returncode)
    out.write_text(json.dumps(report, indent=2) + "\n")
    code = gate_exit_code(done.returncode, report)
    append_summary(summary(stack, report, code))
    return code
