"""A sheet for an export workbook, as plain data (openpyxl is loaded only to write it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Sheet:
    """Title, header row, column widths, rows, and number formats by column (1-based):
    storage.export_xlsx writes it after the summary's own sheets, in the same style."""

    title: str
    headers: Sequence[str]
    widths: Sequence[int]
    rows: Sequence[Sequence[Any]]
    formats: dict[int, str] = field(default_factory=dict)


DATE = "yyyy-mm-dd"
DATETIME = "yyyy-mm-dd hh:mm"
