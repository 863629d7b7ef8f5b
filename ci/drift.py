"""Drift: does a refreshed preview of a deployed stack propose changes? The diff goes to the job summary."""

import re

from ci.deploy import prepare
from ci.github import append_summary, fenced
from ci.pulumi_cli import Pulumi, PulumiError

NO_DRIFT, DRIFT, CHECK_FAILED = 0, 1, 2
# `--expect-no-changes` turns proposed changes into this error (older CLIs prefix it with "error: ").
CHANGES_PROPOSED = re.compile(r"no changes were expected (for \S+ )?but changes were proposed")


def check(pulumi: Pulumi, stack: str, deployer_type: str | None) -> int:
    """0: no drift, or nothing deployed to drift; 1: drift, with the diff; 2: the check itself failed."""
    try:
        if not prepare(pulumi, stack, create=False, deployer_type=deployer_type):
            return NO_DRIFT
    except PulumiError as error:
        append_summary(f"### Drift `{stack}`: the check could not run\n\n{fenced(str(error))}")
        return CHECK_FAILED
    result = pulumi.run("preview", "--stack", stack, "--refresh", "--expect-no-changes", "--diff")
    if result.ok:
        append_summary(
            f"### Drift `{stack}`: none\n\nThe deployed resources match the program and `Pulumi.{stack}.yaml`."
        )
        return NO_DRIFT
    if CHANGES_PROPOSED.search(result.output):
        append_summary(
            f"### Drift `{stack}`: found\n\nThe resources in Azure no longer match the stack. Either run the deploy "
            "workflow to put them back, or change the program or the stack's settings to what is deployed.\n\n"
            f"{fenced(result.output, 'diff')}"
        )
        return DRIFT
    append_summary(
        f"### Drift `{stack}`: the check could not run (exit {result.code})\n\n{result.last_error()}\n\n"
        f"{fenced(result.output)}"
    )
    return CHECK_FAILED
