"""The .xlsx of a summary: sheets 汇总, 日常签到, 组织生活, 学习, then the branch's year
(谈心, 换届, 评议, 承诺: handlers.export_sheets) (openpyxl)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from storage.accounting import AttendanceRow, BranchSummary, MemberSummary, StudyRow
from storage.xlsx_sheet import DATE, DATETIME, Sheet

_HEAD_FONT = Font(bold=True)
_HEAD_FILL = PatternFill("solid", fgColor="FDE9D9")
_PCT = "0.0%"
_DATE = DATE
_DATETIME = DATETIME


def _sheet(
    wb: Workbook, title: str, headers: Sequence[str], widths: Sequence[int], first: bool = False
) -> Worksheet:
    ws = wb.active if first else wb.create_sheet()
    assert ws is not None
    ws.title = title
    ws.append(list(headers))
    for i, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = width
        cell = ws.cell(row=1, column=i)
        cell.font, cell.fill = _HEAD_FONT, _HEAD_FILL
        cell.alignment = Alignment(horizontal="center")
    ws.freeze_panes = "A2"  # the header row stays while scrolling
    return ws


def _formats(ws: Worksheet, formats: dict[int, str]) -> None:
    for row in ws.iter_rows(min_row=2):
        for col, fmt in formats.items():
            row[col - 1].number_format = fmt


def _local(value: datetime | None, tz: ZoneInfo) -> datetime | None:
    # Excel has no time zones: write Shanghai wall-clock time, without tzinfo.
    return None if value is None else value.astimezone(tz).replace(tzinfo=None)


def build_workbook(
    *,
    title: str,
    first: date,
    last: date,
    tz: ZoneInfo,
    branches: Sequence[BranchSummary],
    members: Sequence[MemberSummary],
    branch_names: dict[int, str],
    attendance: Iterable[AttendanceRow],
    study: Iterable[StudyRow],
    extra: Sequence[Sheet] = (),
) -> bytes:
    """The workbook as .xlsx bytes."""
    wb = Workbook()
    ws = _sheet(
        wb,
        "汇总",
        ["支部", "人数", "应到人次", "出席", "迟到", "请假", "缺席", "出勤率",
         "应签次数", "已签", "签到率", "应学人次", "已学", "学习完成率", "起始日期", "截止日期"],
        [26, 7, 9, 7, 7, 7, 7, 9, 9, 8, 9, 9, 8, 11, 12, 12],
        first=True,
    )  # fmt: skip
    for b in branches:
        c = b.counts
        ws.append([
            b.name, b.members, c.ev_expected, c.ev_present, c.ev_late, c.ev_leave, c.ev_absent,
            c.attendance_rate, c.checkin_due if b.daily_checkin else None,
            c.checkin_done if b.daily_checkin else None,
            c.checkin_rate, c.st_total, c.st_confirmed, c.study_rate, first, last,
        ])  # fmt: skip
    _formats(ws, {8: _PCT, 11: _PCT, 14: _PCT, 15: _DATE, 16: _DATE})
    ws.cell(row=ws.max_row + 2, column=1, value=title)

    ws = _sheet(
        wb,
        "日常签到",
        ["支部", "姓名", "按时", "迟到", "缺签", "应签次数", "签到率", "起始日期", "截止日期"],
        [26, 10, 7, 7, 7, 9, 9, 12, 12],
    )
    for m in members:
        c = m.counts
        if c.checkin_due is None:
            continue
        ws.append([
            branch_names.get(m.branch_id, ""), m.name, c.checkin_on_time, c.checkin_late,
            c.checkin_missing, c.checkin_due, c.checkin_rate, first, last,
        ])  # fmt: skip
    _formats(ws, {7: _PCT, 8: _DATE, 9: _DATE})

    ws = _sheet(
        wb,
        "组织生活",
        ["日期", "时间", "支部", "编号", "类型", "姓名", "情况", "请假原因", "补录人"],
        [12, 8, 26, 7, 18, 10, 8, 24, 10],
    )
    for a in attendance:
        local = a.starts_at.astimezone(tz)
        ws.append([local.date(), local.strftime("%H:%M"), a.branch, a.number, a.kind, a.name,
                   a.status, a.reason, a.entered_by or None])  # fmt: skip
    _formats(ws, {1: _DATE})

    ws = _sheet(
        wb,
        "学习",
        ["编号", "学习任务", "截止日期", "支部", "姓名", "情况", "确认时间"],
        [7, 34, 12, 26, 10, 8, 17],
    )
    for r in study:
        status = "未学" if r.confirmed_at is None else ("逾期" if r.late else "已学")
        ws.append([r.task_id, r.title, r.due, r.branch, r.name, status,
                   _local(r.confirmed_at, tz)])  # fmt: skip
    _formats(ws, {3: _DATE, 7: _DATETIME})

    for sheet in extra:
        ws = _sheet(wb, sheet.title, sheet.headers, sheet.widths)
        for row in sheet.rows:
            ws.append(list(row))
        _formats(ws, sheet.formats)

    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
