"""`python -m ci`: the decisions of the delivery workflows, runnable on a laptop with the same result.

exit codes:
  0  done: stack up, smoke passed, no drift (or nothing deployed to drift), no undeclared replacement
  1  pulumi up/destroy failed, drift found, the smoke's result was wrong (smoke exit 1), or upgrade-check
     found a replacement or deletion CHANGELOG.md's Unreleased section does not name
  2  usage or configuration: unknown stack or ref, bad flag, pulumi missing, or the check could not run
  3, 4, 5  `smoke` passes on the smoke's own exit code (3: access not granted, 4: pool unreachable,
        5: Azure differs from what the stack declared, under --verify)
"""

import argparse
import json
import sys
from pathlib import Path

from ci import drift, release, review
from ci.deploy import DEPLOYER_TYPES, prepare, up
from ci.github import set_output
from ci.pulumi_cli import Pulumi, PulumiError
from ci.stacks import REVIEW_STACK, StackError, committed_stacks, qualified, review_stack_name

ROOT = Path(__file__).resolve().parent.parent
USAGE = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ci",
        description=__doc__.splitlines()[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--project-dir", type=Path, default=ROOT, help="the Pulumi project (default: this repository)")
    commands = parser.add_subparsers(dest="command", required=True)

    stacks_text = "print the committed stacks (Pulumi.<stack>.yaml) as a JSON list"
    commands.add_parser("stacks", help=stacks_text, description=stacks_text)

    def stack_command(name: str, text: str, deployer: bool = True) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("--stack", required=True, help="a committed stack, such as dev (prefixed by $PULUMI_ORG/)")
        if deployer:
            command.add_argument(
                "--deployer-principal-type",
                choices=DEPLOYER_TYPES,
                help="set deployerPrincipalType first (CI: ServicePrincipal)",
            )
        return command

    stack_command("prepare", "select the stack (and set who deploys it); step output exists=true|false").add_argument(
        "--create", action="store_true", help="create the stack when it does not exist"
    )
    stack_command("up", "pulumi up, creating the stack when missing; the result goes to the job summary")
    smoke = stack_command("smoke", "run the smoke on the stack's endpoint and summarise its JSON", deployer=False)
    smoke.add_argument("--out", type=Path, help="where the smoke's JSON report goes (default smoke-<stack>.json)")
    smoke.add_argument("smoke_args", nargs="*", help="after --: more flags for the smoke, such as --rbac-wait 900")
    stack_command("drift", "pulumi preview --refresh --expect-no-changes; exit 1 and the diff when it drifted")

    review_text = "review stacks pr-<number> made from dev's settings"
    review_parser = commands.add_parser("review", help=review_text, description=review_text)
    review_parser.add_argument(
        "action", choices=("up", "down"), help="up: create or update pr-<number> and up it; down: destroy, stack rm"
    )
    review_parser.add_argument("--pr", required=True, help="the pull request's number")
    review_parser.add_argument(
        "--from", dest="source", default="dev", help="the committed stack whose settings it copies (default dev)"
    )
    review_parser.add_argument(
        "--deployer-principal-type",
        choices=DEPLOYER_TYPES,
        help="set deployerPrincipalType first (CI: ServicePrincipal)",
    )

    upgrade_text = "each committed stack's resources unchanged/updated/replaced/created/deleted since a git ref"
    upgrade = commands.add_parser("upgrade-check", help=upgrade_text, description=upgrade_text)
    upgrade.add_argument("--from", dest="ref", required=True, help="the git ref to upgrade from, such as v0.2.0")
    upgrade.add_argument("--json", action="store_true", help="print the changes as JSON")

    notes_text = "check that a release tag is pyproject's version, and print its CHANGELOG.md section"
    notes = commands.add_parser("release-notes", help=notes_text, description=notes_text)
    notes.add_argument("--tag", required=True, help="the release tag, v<pyproject.toml's version>")
    notes.add_argument("--out", type=Path, help="write the notes to this file instead of standard output")
    return parser.parse_args(argv)


def committed(root: Path, stack: str) -> str:
    """The Pulumi name of a committed stack, or of a review stack (`review up` writes its file)."""
    known = committed_stacks(root)
    if stack not in known and not REVIEW_STACK.match(stack):
        allowed = ", ".join(known) + ", or a review stack pr-<number>"
        raise StackError(f"--stack {stack!r} has no Pulumi.{stack}.yaml here; allowed: {allowed}")
    return qualified(stack)


def source(root: Path, stack: str) -> None:
    """A review stack's settings come from a committed stack's file."""
    known = committed_stacks(root)
    if stack not in known:
        raise StackError(f"--from {stack!r} has no Pulumi.{stack}.yaml here; allowed: {', '.join(known)}")


GATE_OWNED_FLAGS = ("--stack", "--endpoint", "--json")


def gate_flags(smoke_args: list[str]) -> None:
    """The gate names the pool and reads the JSON: a second --stack after `--` would check another pool."""
    for arg in smoke_args:
        if arg.split("=", 1)[0] in GATE_OWNED_FLAGS:
            raise StackError(
                f"{arg!r} after -- is not allowed: `python -m ci smoke` sets {', '.join(GATE_OWNED_FLAGS)} itself; "
                "the smoke's other flags are, such as --rbac-wait 900"
            )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = args.project_dir.resolve()
    try:
        if args.command == "stacks":
            names = json.dumps(committed_stacks(root))
            set_output("stacks", names)
            print(names)
            return 0
        if args.command == "upgrade-check":
            from ci import upgrade_check  # runs programs under mocks only: no pulumi CLI, no Azure

            return upgrade_check.main(root, args.ref, args.json)
        if args.command == "release-notes":
            text = release.release_notes(root, args.tag)
            if args.out:
                args.out.write_text(text)
            else:
                print(text, end="")
            return 0
        # Flags are judged before the pulumi CLI is looked for, so a wrong name is reported as such anywhere.
        if args.command == "review":
            review_stack_name(args.pr)
            source(root, args.source)
        else:
            stack = committed(root, args.stack)
        if args.command == "smoke":
            gate_flags(args.smoke_args)
            from ci import smoke_gate  # httpx loads only here: `stacks` runs on a bare runner's python3

            out = args.out or Path(f"smoke-{args.stack}.json")
            return smoke_gate.run(root, stack, out, args.smoke_args)
        pulumi = Pulumi(root)
        if args.command == "prepare":
            prepare(pulumi, stack, args.create, args.deployer_principal_type)
            return 0
        if args.command == "up":
            return up(pulumi, stack, args.deployer_principal_type)
        if args.command == "drift":
            return drift.check(pulumi, stack, args.deployer_principal_type)
        if args.action == "up":
            return review.bring_up(pulumi, root, args.pr, args.source, args.deployer_principal_type)
        return review.tear_down(pulumi, root, args.pr, args.source)
    except (StackError, PulumiError, FileNotFoundError, release.ReleaseError) as error:
        print(f"python -m ci {args.command}: {error}", file=sys.stderr)
        return USAGE


if __name__ == "__main__":
    sys.exit(main())
