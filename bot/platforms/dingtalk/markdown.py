"""Markdown that renders on DingTalk's phone client.

DingTalk's markdown keeps a single newline as a space, so a line break is two spaces then a
newline; it has no tables, so table rows become one line each with their cells joined.
"""

from __future__ import annotations

import re

LINE_BREAK = "  \n"
TITLE_MAX = 30
_TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?$")
_MARKUP = re.compile(r"[#*>`_\[\]]")


def _table_row(line: str) -> str:
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    return " · ".join(c for c in cells if c)


def to_phone_markdown(text: str) -> str:
    """`text` with line breaks DingTalk's phone client keeps and tables flattened to lines."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = []
        for line in block.splitlines():
            stripped = line.strip()
            if _TABLE_RULE.match(stripped):
                continue  # the |---| rule under a table header
            if stripped.startswith("|") and stripped.count("|") >= 2:
                line = _table_row(stripped)
            lines.append(line.rstrip())
        paragraphs.append(LINE_BREAK.join(lines))
    return "\n\n".join(p for p in paragraphs if p)


def title_of(text: str) -> str:
    """The first line without markup, short enough for the conversation list."""
    for line in text.splitlines():
        plain = _MARKUP.sub("", line).strip()
        if plain:
            return plain[:TITLE_MAX]
    return "清风"
