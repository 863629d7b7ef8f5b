"""Review stacks: a `pr-<number>` stack made from dev's settings for a pull request, removed when it closes."""

from pathlib import Path

from ci.deploy import up
from ci.github import append_summary, set_output
from ci.pulumi_cli import Pulumi
from ci.stacks import qualified, review_stack_name, write_review_stack_file


def bring_up(pulumi: Pulumi, root: Path, pr_number: str, source: str, deployer_type: str | None) -> int:
    stack = review_stack_name(pr_number)
    write_review_stack_file(root, stack, source)
    set_output("review-stack", qualified(stack))
    return up(pulumi, qualified(stack), deployer_type)


def tear_down(pulumi: Pulumi, root: Path, pr_number: str, source: str) -> int:
    """`destroy` then `stack rm`, so no pool outlives its pull request; a stack already gone is fine."""
    stack = review_stack_name(pr_number)
    name = qualified(stack)
    # destroy reads the stack's config file for the provider's settings, as `up` did.
    write_review_stack_file(root, stack, source)
    if not pulumi.select(name):
        append_summary(f"### Review stack `{name}`: nothing to remove (it does not exist)")
        return 0
    destroyed = pulumi.run("destroy", "--stack", name, "--yes")
    if not destroyed.ok:
        append_summary(
            f"### Review stack `{name}`: `pulumi destroy` failed (exit {destroyed.code})\n\n"
            f"{destroyed.last_error()}\n\n"
            "Its pool still exists and may cost money: re-run this job, or run `pulumi destroy` for the stack."
        )
        return 1
    removed = pulumi.run("stack", "rm", "--stack", name, "--yes")
    if not removed.ok:
        append_summary(
            f"### Review stack `{name}`: destroyed, but `pulumi stack rm` failed (exit {removed.code})\n\n"
            f"{removed.last_error()}"
        )
        return 1
    append_summary(f"### Review stack `{name}`: destroyed and removed")
    return 0
