"""docs/deploy.md is the short path a platform engineer reads before deploying: its steps in order, its install
line the deploy-only one, short enough to read in ten minutes, and one idea per sentence."""

import re
import tomllib

import yaml

from tests.pulumi_harness import ROOT

PAGE = (ROOT / "docs" / "deploy.md").read_text()
PROSE = re.sub(r"```.*?```", "", PAGE, flags=re.DOTALL)
READING_WORDS_PER_MINUTE = 200  # a slow technical reader; adults average ~238 (Brysbaert, 2019)


def _steps() -> list[str]:
    return re.findall(r"^## \d\. (.+)$", PAGE, re.MULTILINE)


def _sentences(text: str) -> list[str]:
    prose = "\n".join(line for line in text.splitlines() if not line.startswith(("|", "#")))
    return [s.strip() for s in re.split(r"(?<=[.:;!?])\s+(?=[A-Z`\[*])|\n\n|\n[-\d]", prose) if s.strip()]


def test_the_path_decides_who_deploys_prod_first_then_installs_deploys_checks_and_destroys():
    assert _steps() == [
        "Decide who deploys prod",
        "Install only what deploying needs",
        "Deploy dev",
        "Check it",
        "Deploy prod, from CI",
        "Destroy",
    ]


def test_the_page_reads_in_ten_minutes():
    assert len(PROSE.split()) / READING_WORDS_PER_MINUTE <= 10 / 2  # half the time: the commands take the rest


def test_the_install_is_the_programs_runtime_and_the_smokes_client_not_the_test_tools():
    block = PAGE.split("## 2. Install only what deploying needs", 1)[1].split("```sh\n")[2].split("```")[0]
    assert block.splitlines() == [
        "python3 -m venv .venv",
        ".venv/bin/pip install --no-compile -r requirements.txt -e '.[client]'",
    ]
    assert "make install" not in block
    assert "client" in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    runtime = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["runtime"]["options"]
    assert runtime["virtualenv"] == ".venv"  # where the CLI looks for the program's runtime


SHORT_PAGES = [
    "deploy.md",
    "program.md",
    "reference/upgrading.md",
    "reference/how-it-works.md",
    "reference/adopting.md",
    "reference/delivery.md",
]
"""The pages written one idea per sentence: the deploy path, your own program, upgrading, how it works."""


def test_one_idea_per_sentence_no_sentence_runs_on():
    for name in SHORT_PAGES:
        prose = re.sub(r"```.*?```", "", (ROOT / "docs" / name).read_text(), flags=re.DOTALL)
        assert [s for s in _sentences(prose) if len(s.split()) > 25] == [], name


def test_the_sentence_splitter_finds_a_long_sentence():
    assert [len(s.split()) for s in _sentences("One two. Word " + "word " * 29 + "end.")] == [2, 31]
