"""Text views for the CLI: the year's reminders (`qingfeng calendar`) and the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from bot.clock import as_utc
from handlers.text import WEEKDAYS
from schedules import rules
from storage.models import Outbox

ESTIMATED = "估算"
STATE_NAMES = {
    "pending": "待发送",
    "sending": "发送中",
    "sent": "已发送",
    "failed": "失败",
    "missed": "已错过",
    "skipped": "无需发送",
}


def target_label(p: rules.Planned) -> str:
    if p.audience == rules.ALL_GROUPS:
        return "所有群"
    if p.audience == rules.SECRETARIES:
        return f"{p.branch}书记" if p.branch else "各支部书记"
    return f"{p.branch}的群"


def calendar_lines(planned: Sequence[rules.Planned]) -> list[str]:
    lines = []
    for p in planned:
        d = p.due
        mark = f"  [{ESTIMATED}]" if p.estimated else ""
        day = f"{d:%Y-%m-%d} 周{WEEKDAYS[d.weekday()]} {d:%H:%M}"
        lines.append(f"{day}  {p.label}  → {target_label(p)}{mark}")
    return lines


def outbox_lines(rows: Sequence[tuple[Outbox, str | None, str | None]], tz: ZoneInfo) -> list[str]:
    lines = []
    for row, group, member in rows:
        due = as_utc(row.due_at).astimezone(tz)
        target = group or (f"{member}（私信）" if member else "?")
        line = (
            f"{due:%Y-%m-%d %H:%M}  {STATE_NAMES.get(row.state, row.state)}  {row.kind}  → {target}"
        )
        if row.attempts > 1 or (row.state in ("failed", "pending") and row.attempts):
            line += f"  尝试 {row.attempts} 次"
        if row.last_error:
            line += f"\n    原因：{row.last_error}"
        lines.append(line)
    return lines
