"""`python -m ci`: the decisions of the delivery workflows, runnable on a laptop with the same result.

exit codes:
  0  done: stack up, smoke passed, no drift (or nothing deployed to drift)
  1  pulumi up/destroy failed, drift found, or the smoke's result was wrong (smoke exit 1)
  2  usage or configuration: unknown stack, bad flag, pulumi missing, or the check could not run
  3, 4  `smoke` passes on the smoke's own exit code (3: access not granted, 4: pool unreachable)
"""

import argparse
import json
import sys
from pathlib import Path

from ci import drift, review
from ci.deploy import DEPLOYER_TYPES, prepare, up
from ci.github import set_output
from ci.pulumi_cli import Pulumi, PulumiError
from ci.stacks import REVIEW_STACK, StackError, committed_stacks, qualified

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

    commands.add_parser("stacks", help="print the committed stacks (Pulumi.<stack>.yaml) as a JSON list")

    def stack_command(name: str, text: str, deployer: bool = True) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=text)
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

    review_parser = commands.add_parser("review", help="review stacks pr-<number> made from dev's settings")
    review_parser.add_argument("action", choices=("up", "down"))
    review_parser.add_argument("--pr", required=True, help="the pull request's number")
    review_parser.add_argument("--from", dest="source", default="dev", help="the stack whose settings it copies")
    review_parser.add_argument("--deployer-principal-type", choices=DEPLOYER_TYPES)
    return parser.parse_args(argv)


def committed(root: Path, stack: str) -> str:
    """The Pulumi name of a committed stack, or of a review stack (`review up` writes its file)."""
    known = committed_stacks(root)
    if stack not in known and not REVIEW_STACK.match(stack):
        allowed = ", ".join(known) + ", or a review stack pr-<number>"
        raise StackError(f"--stack {stack!r} has no Pulumi.{stack}.yaml here; allowed: {allowed}")
    return qualified(stack)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = args.project_dir.resolve()
    try:
        if args.command == "stacks":
            names = json.dumps(committed_stacks(root))
            set_output("stacks", names)
            print(names)
            return 0
        if args.command == "smoke":
            from ci import smoke_gate  # httpx loads only here: `stacks` runs on a bare runner's python3

            out = args.out or Path(f"smoke-{args.stack}.json")
            return smoke_gate.run(root, committed(root, args.stack), out, args.smoke_args)
        pulumi = Pulumi(root)
        if args.command == "prepare":
            prepare(pulumi, committed(root, args.stack), args.create, args.deployer_principal_type)
            return 0
        if args.command == "up":
            return up(pulumi, committed(root, args.stack), args.deployer_principal_type)
        if args.command == "drift":
            return drift.check(pulumi, committed(root, args.stack), args.deployer_principal_type)
        if args.action == "up":
            return review.bring_up(pulumi, root, args.pr, args.source, args.deployer_principal_type)
        return review.tear_down(pulumi, root, args.pr, args.source)
    except (StackError, PulumiError, FileNotFoundError) as error:
        print(f"python -m ci {args.command}: {error}", file=sys.stderr)
        return USAGE


if __name__ == "__main__":
    sys.exit(main())
