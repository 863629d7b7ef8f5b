"""The pack's entry point, two ways.

- The Pulumi engine runs it by path, as `python -u -m pulumi.policy <engine address> <this directory>` from this
  directory (the Python language host's way of starting a policy pack): it serves the policies over the Analyzer
  gRPC protocol and prints its port.
- `python -m policy check --stack NAME` from the repository's root runs the policies over a committed stack.
"""

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _import_pack_as_policy() -> None:
    """Makes this directory importable as the package `policy`, wherever it lies: in the repository, or where
    `pulumi policy publish` installed it under a directory named after the pack's version."""
    spec = importlib.util.spec_from_file_location(
        "policy", HERE / "__init__.py", submodule_search_locations=[str(HERE)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the policy pack in {HERE}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["policy"] = module
    spec.loader.exec_module(module)


def missing_pulumi_policy(missing: ModuleNotFoundError) -> str:
    """The one-line usage error for a `check` run where pulumi-policy is not installed (a deploy-only install
    has `requirements.txt` alone), with the command that installs the pack's own requirements."""
    return (
        f"python -m policy check needs pulumi-policy ({missing.name} is not installed); install the pack's "
        f"requirements: {sys.executable} -m pip install -r {HERE / 'requirements.txt'}"
    )


if __package__ == "policy":
    try:
        from policy.check import main
    except ModuleNotFoundError as missing:
        if missing.name != "pulumi_policy":
            raise
        print(missing_pulumi_policy(missing), file=sys.stderr)
        sys.exit(2)

    sys.exit(main())
else:
    _import_pack_as_policy()
    from pulumi_policy import PolicyPack

    from policy.pack import PACK_DESCRIPTION, PACK_NAME, policies

    PolicyPack(PACK_NAME, policies(), description=PACK_DESCRIPTION)
