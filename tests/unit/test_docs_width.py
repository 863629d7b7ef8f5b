"""No code block on the site is wider than the site shows it at 1,280 px: the width in characters is derived from
the installed Material theme's own stylesheet, so a theme that changes its layout changes the limit."""

import math
import re
from pathlib import Path

import material

from tests.pulumi_harness import ROOT

VIEWPORT_PX = 1280
BROWSER_REM_PX = 16
ROBOTO_MONO_ADVANCE_EM = 1229 / 2048
"""Roboto Mono, Material's code font, sets every glyph 1229 units wide on its 2048-unit em: 0.6 em."""
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _stylesheet() -> str:
    folder = Path(material.__file__).parent / "templates" / "assets" / "stylesheets"
    (sheet,) = folder.glob("main.*.min.css")
    return sheet.read_text()


def _number(css: str, pattern: str) -> float:
    match = re.search(pattern, css)
    assert match, pattern
    return float(match[1])


def visible_code_columns(css: str, viewport_px: int = VIEWPORT_PX) -> int:
    """How many monospace characters a code block shows without scrolling at this viewport width."""
    rem = BROWSER_REM_PX * _number(css, r"html\{[^}]*font-size:([\d.]+)%") / 100
    # The navigation's sidebar slides out below 76.25em (1,220 px), the table of contents' below 60em; at this
    # viewport both show, and the grid stops growing at its max-width.
    navigation_from = _number(css, r"@media screen and \(min-width:([\d.]+)em\)\{\[dir=ltr\] \.md-sidebar--primary")
    assert viewport_px >= navigation_from * BROWSER_REM_PX
    grid = min(viewport_px, _number(css, r"\.md-grid\{max-width:([\d.]+)rem") * rem)
    sidebar = _number(css, r"\.md-sidebar\{[^}]*width:([\d.]+)rem") * rem
    margin = _number(css, r"\.md-content__inner\{margin-left:([\d.]+)rem") * rem
    content = grid - 2 * sidebar - 2 * margin
    code_font = _number(css, r"\.md-typeset\{font-size:([\d.]+)rem") * rem
    code_font *= _number(css, r"\.md-typeset code\{[^}]*font-size:([\d.]+)em")
    padding = 2 * _number(css, r"\.md-typeset pre>code\{[^}]*padding:[\d.]+em ([\d.]+)em") * code_font
    return math.floor((content - padding) / (ROBOTO_MONO_ADVANCE_EM * code_font))


def too_wide(text: str, columns: int) -> list[tuple[int, int]]:
    """(line number, width) of every line inside a fenced code block wider than `columns`."""
    found, fence = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fence = not fence
        elif fence and len(line) > columns:
            found.append((number, len(line)))
    return found


def test_the_site_shows_80_columns_of_code_at_1280_px():
    assert visible_code_columns(_stylesheet()) == 80


def test_no_code_block_is_wider_than_the_site_shows():
    columns = visible_code_columns(_stylesheet())
    wide = {page.relative_to(ROOT).as_posix(): too_wide(page.read_text(), columns) for page in PAGES}
    assert {page: lines for page, lines in wide.items() if lines} == {}


def test_a_wide_line_outside_a_code_block_is_not_counted():
    text = "x" * 200 + "\n```sh\n" + "y" * 81 + "\n" + "z" * 80 + "\n```\n"
    assert too_wide(text, 80) == [(3, 81)]
