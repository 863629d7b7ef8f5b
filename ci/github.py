"""GitHub Actions' files for a step's outputs and job summary; on a laptop the summary goes to stdout."""

import os
import sys
from collections.abc import Mapping

# GitHub refuses a step summary above 1 MiB; a diff is cut well below that so the rest still fits.
SUMMARY_LIMIT = 60_000


def append_summary(markdown: str, environ: Mapping[str, str] = os.environ) -> None:
    path = environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(markdown.rstrip("\n") + "\n\n")
    else:
        sys.stdout.write(markdown.rstrip("\n") + "\n")


def set_output(name: str, value: str, environ: Mapping[str, str] = os.environ) -> None:
    if "\n" in value:
        raise ValueError(f"step output {name!r} must be one line")
    path = environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as outputs:
            outputs.write(f"{name}={value}\n")


def fenced(text: str, language: str = "") -> str:
    """A code block that survives backticks in `text`, cut from the front (the end holds the verdict)."""
    if len(text) > SUMMARY_LIMIT:
        text = f"... ({len(text) - SUMMARY_LIMIT} characters cut)\n" + text[-SUMMARY_LIMIT:]
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def _longest_backtick_run(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest
