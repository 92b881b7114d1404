"""The export workbook's sheets for the branch's year, each from the module that owns it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import Services
from handlers import appraisals, pledges, talks, terms
from handlers.periods import Period
from storage.xlsx_sheet import Sheet


async def year_sheets(
    s: AsyncSession,
    services: Services,
    branch_ids: Sequence[int] | None,
    period: Period,
    now: datetime,
    *,
    private: bool = False,
) -> list[Sheet]:
    """谈心, 评议, 承诺 and 换届 for the branches (None: the county), in that order; a module
    with nothing to show for the scope gives no sheet. `private`: the workbook was asked
    for in a direct chat, so what only the secretary and admin may see (谈心要点, 评议等次)
    is in it; a link posted in a group can be opened by every member."""
    sheets: list[Sheet] = []
    for module in (talks, appraisals, pledges, terms):
        make = getattr(module, "export_sheet", None)
        if make is None:
            continue
        sheet = await make(s, services, branch_ids, period, now, private=private)
        if sheet is not None:
            sheets.append(sheet)
    return sheets
