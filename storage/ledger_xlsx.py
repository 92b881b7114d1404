"""The 台账 workbook: one sheet per meeting kind, a row per meeting, laid out like a 三会一课
记录本 (wrapped text, a wide 记录 column, landscape pages with the header on each)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties

from storage.minutes import LedgerMeeting
from storage.models import EventKind
from storage.xlsx_sheet import DATE

HEADERS = (
    "日期", "时间", "地点", "支部", "类型", "编号", "议题", "应到", "出席", "迟到", "请假",
    "缺席", "记录", "图片",
)  # fmt: skip
WIDTHS = (11, 7, 14, 20, 12, 6, 22, 22, 22, 12, 18, 14, 60, 14)
_HEAD_FONT = Font(bold=True)
_HEAD_FILL = PatternFill("solid", fgColor="FDE9D9")
_THIN = Side(style="thin", color="999999")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="top")


def _names(names: Sequence[str]) -> str:
    return "、".join(names)


def _row(m: LedgerMeeting, authors: dict[int, str], tz: ZoneInfo) -> list[object]:
    e = m.event
    starts = e.starts_at if e.starts_at.tzinfo else e.starts_at.replace(tzinfo=UTC)
    local = starts.astimezone(tz)
    texts = [n for n in m.notes if not n.image]
    images = [f"{n.body}：{n.image}" if n.body else n.image for n in m.notes if n.image]
    topics = "；".join(dict.fromkeys(n.topic for n in texts if n.topic))
    record = "\n".join(
        f"{n.body}（{authors.get(n.by_member_id or 0, '')}）" if n.by_member_id else n.body
        for n in texts
    )
    kind = f"{e.kind}（{e.party_group}）" if e.party_group else e.kind
    leave = "、".join(f"{name}（{why}）" if why else name for name, why in m.leave)
    shown_images = f"{len(images)} 张\n" + "\n".join(images) if images else ""
    return [
        local.date(), local.strftime("%H:%M"), e.place, m.branch, kind, e.number, topics,
        f"{len(m.expected)} 人：{_names(m.expected)}" if m.expected else "0 人",
        _names(m.present), _names(m.late), leave, _names(m.absent), record, shown_images,
    ]  # fmt: skip


def build_ledger(
    *, title: str, meetings: Sequence[LedgerMeeting], authors: dict[int, str], tz: ZoneInfo
) -> bytes:
    """The workbook as .xlsx bytes: a sheet for each kind that has meetings, in the order
    of EventKind; an empty period gives one sheet saying so."""
    wb = Workbook()
    first = True
    for kind in EventKind:
        held = [m for m in meetings if m.event.kind == kind.value]
        if not held:
            continue
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        first = False
        ws.title = kind.value
        ws.append(list(HEADERS))
        for i, width in enumerate(WIDTHS, 1):
            ws.column_dimensions[get_column_letter(i)].width = width
            cell = ws.cell(row=1, column=i)
            cell.font, cell.fill, cell.border = _HEAD_FONT, _HEAD_FILL, _BOX
            cell.alignment = Alignment(horizontal="center", vertical="center")
        for m in held:
            ws.append(_row(m, authors, tz))
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                cell.alignment, cell.border = _WRAP, _BOX
            row[0].number_format = DATE
        ws.freeze_panes = "A2"
        # Printed as a 记录本: landscape, one page wide, the header row on every page.
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
        ws.print_title_rows = "1:1"
        ws.oddHeader.center.text = title
    if first:
        ws = wb.active
        assert ws is not None
        ws.title = "台账"
        ws.append([title])
        ws.append(["期间内没有已召开的会议。"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
