"""The settings table's two written forms: the docs' markdown table and `Pulumi.yaml`'s `config:` block.

Both are generated from `components.settings.SETTINGS` and sit between markers in their files; a test keeps
each equal to what is generated. After changing the table, rewrite both with:
    .venv/bin/python -m components.settings_docs
"""

import json
import re
import sys
from pathlib import Path

from components.settings import SETTINGS, Setting

ROOT = Path(__file__).resolve().parent.parent
PULUMI_YAML = ROOT / "Pulumi.yaml"
DOCS = ROOT / "docs"
DOCS_BEGIN = "<!-- settings-table:begin -->"
DOCS_END = "<!-- settings-table:end -->"
YAML_BEGIN = "# settings:begin (written by `python -m components.settings_docs` from components/settings.py)"
YAML_END = "# settings:end"


def _default_cell(setting: Setting) -> str:
    if setting.docs_default:
        return setting.docs_default
    return "`" + json.dumps(setting.default).strip('"') + "`"


def markdown_table() -> str:
    """The docs' settings table: key, type, default, what is allowed."""
    lines = ["| key | type | default | allowed |", "|---|---|---|---|"]
    for s in SETTINGS:
        lines.append(f"| `{s.key}` | {s.docs_type or s.type} | {_default_cell(s)} | {s.allowed} |")
    return "\n".join(lines)


def config_block() -> str:
    """`Pulumi.yaml`'s `config:` block: every project setting with a default, with its type and description.

    A setting without a default is listed in a comment instead: the CLI makes a declared key without a
    default required in every stack."""
    unset = [s for s in SETTINGS if s.default is None]
    width = max(len(s.key) for s in unset)
    lines = [
        "# Every project setting with a default, with its type and what is allowed. The program validates all of",
        "# them, and refuses any other dynamic-sessions:* key, before declaring any resource.",
        "# Also read, per stack, and not declared here because the CLI makes a declared key without a default",
        "# required in every stack:",
        *(f"#   {s.key.ljust(width)}  {s.description}" for s in unset),
        "config:",
    ]
    for s in SETTINGS:
        if s.default is None:
            continue
        lines += [f"  {s.key}:", f"    type: {s.type}"]
        if s.items:
            lines += ["    items:", f"      type: {s.items}"]
        lines += [f"    default: {json.dumps(s.default)}", f"    description: {json.dumps(s.description)}"]
    return "\n".join(lines)


def _between(text: str, begin: str, end: str) -> str | None:
    """The text between the two markers, or None when the file has no such block."""
    match = re.search(re.escape(begin) + r"\n(.*?)\n" + re.escape(end), text, re.DOTALL)
    return match.group(1) if match else None


def _replaced(text: str, begin: str, end: str, body: str) -> str:
    start = text.index(begin) + len(begin)
    return text[:start] + "\n" + body + "\n" + text[text.index(end, start) :]


def docs_pages_with_table() -> list[Path]:
    """Every docs page holding the settings table's markers (wherever under docs/ the table has been moved to)."""
    return sorted(page for page in DOCS.rglob("*.md") if DOCS_BEGIN in page.read_text())


def docs_table_in(page: Path) -> str | None:
    return _between(page.read_text(), DOCS_BEGIN, DOCS_END)


def config_block_in(path: Path = PULUMI_YAML) -> str | None:
    return _between(path.read_text(), YAML_BEGIN, YAML_END)


def write() -> list[Path]:
    """Rewrites both blocks in place; returns the files written."""
    written = []
    for page in docs_pages_with_table():
        page.write_text(_replaced(page.read_text(), DOCS_BEGIN, DOCS_END, markdown_table()))
        written.append(page)
    PULUMI_YAML.write_text(_replaced(PULUMI_YAML.read_text(), YAML_BEGIN, YAML_END, config_block()))
    written.append(PULUMI_YAML)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 1:
        sys.exit(
            "usage: python -m components.settings_docs  (rewrites the settings blocks from components/settings.py)"
        )
    for path in write():
        print(f"wrote {path.relative_to(ROOT)}")
