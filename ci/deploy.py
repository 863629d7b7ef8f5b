"""Preparing a stack for CI and bringing it up: the steps before the smoke decides."""

from ci.github import append_summary, fenced, set_output
from ci.pulumi_cli import DEPLOYER_TYPE_KEY, Pulumi, PulumiError

DEPLOYER_TYPES = ("User", "ServicePrincipal")


def prepare(pulumi: Pulumi, stack: str, create: bool, deployer_type: str | None) -> bool:
    """Selects (or creates) the stack and records who deploys it; False when it does not exist yet.

    CI deploys as a service principal, and the deployer's Session Executor grant must say so: the
    setting is applied before every preview and up, so CI's previews match what CI's `up` would do.
    """
    exists = pulumi.select(stack, create=create)
    set_output("exists", "true" if exists else "false")
    set_output("stack", stack)
    if not exists:
        append_summary(
            f"### `{stack}`: not deployed yet\n\nThe stack does not exist in the Pulumi backend; "
            "the first deploy of it creates it."
        )
        return False
    if deployer_type is not None:
        pulumi.set_config(stack, DEPLOYER_TYPE_KEY, deployer_type)
    return True


def up(pulumi: Pulumi, stack: str, deployer_type: str | None) -> int:
    """`pulumi up` of the stack, created when missing; 0 when it succeeded, 1 with the error in the summary."""
    try:
        prepare(pulumi, stack, create=True, deployer_type=deployer_type)
    except PulumiError as error:
        append_summary(f"### `{stack}`: could not select the stack\n\n{fenced(str(error))}")
        return 1
    result = pulumi.run("up", "--stack", stack, "--yes", "--diff")
    if result.ok:
        append_summary(f"### `{stack}`: `pulumi up` succeeded")
        return 0
    append_summary(
        f"### `{stack}`: `pulumi up` failed (exit {result.code})\n\n"
        f"{result.last_error()}\n\n<details><summary>pulumi output</summary>\n\n{fenced(result.output)}\n\n</details>"
    )
    return 1
