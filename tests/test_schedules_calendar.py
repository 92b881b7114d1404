"""The holiday calendar and `qingfeng calendar YEAR`."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import cli
from bot.config import CalendarOverride, load_settings
from schedules import rules
from schedules.festivals import festivals
from schedules.holidays import HolidayCalendar
from tests.conftest import BUREAU


def holiday_times(year: int, cal: HolidayCalendar | None = None, **settings) -> dict[str, str]:
    s = load_settings(None, env={}, **settings)
    plan = rules.year_reminders(s, cal or HolidayCalendar(), year)
    return {p.label: p.due.strftime("%Y-%m-%d %H:%M") for p in plan if p.kind != "monthly_summary"}


def test_2026_holiday_reminders_fall_on_the_last_working_day_before_each_break() -> None:
    times = holiday_times(2026)
    assert times["国庆廉洁提醒"] == "2026-09-30 15:00"
    assert times["春节廉洁提醒"] == "2026-02-14 15:00"  # a Saturday make-up working day
    assert times["清明廉洁提醒"] == "2026-04-03 15:00"
    assert times["劳动节廉洁提醒"] == "2026-04-30 15:00"
    assert times["端午廉洁提醒"] == "2026-06-18 15:00"
    assert times["中秋廉洁提醒"] == "2026-09-24 15:00"
    assert times["教师节廉洁提醒"] == "2026-09-09 15:00"
    assert times["宣传教育月"] == "2026-09-01 09:00"
    assert times["毕业升学季提醒"] == "2026-07-10 09:00"  # the later of the two dates wins the key


def test_extra_days_before_adds_an_earlier_reminder_on_a_working_day() -> None:
    times = holiday_times(2026, reminders={"holiday_extra_days_before": 3})
    # Three days before 09-30 is Sunday 09-27; 09-25..27 are the 中秋 break, so 09-24.
    assert times["国庆廉洁提醒（提前）"] == "2026-09-24 15:00"
    assert times["国庆廉洁提醒"] == "2026-09-30 15:00"


def test_2027_is_estimated_logs_a_warning_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cal = HolidayCalendar()
    with caplog.at_level(logging.WARNING):
        fests = {f.name: f for f in festivals(2027, cal)}
        times = holiday_times(2027, cal)
    assert all(f.estimated for f in fests.values())
    assert fests["春节"].day == date(2027, 2, 6)  # computed from the lunar calendar
    assert times["春节廉洁提醒"] == "2027-02-04 15:00"  # before 除夕 (computed rest day)
    assert times["国庆廉洁提醒"] == "2027-09-30 15:00"
    assert not cal.is_workday(date(2027, 10, 1)) and not cal.is_workday(date(2027, 1, 1))
    assert "2027" in caplog.text and "估算" in caplog.text


def test_overrides_move_an_estimated_festival() -> None:
    override = CalendarOverride(
        name="春节",
        date=date(2027, 2, 6),
        rest_days=[date(2027, 2, 3), date(2027, 2, 4), date(2027, 2, 5)],
        workdays=[date(2027, 1, 31)],
    )
    cal = HolidayCalendar([override])
    times = holiday_times(2027, cal, calendar={"overrides": [override.model_dump()]})
    assert times["春节廉洁提醒"] == "2027-02-02 15:00"
    assert cal.is_workday(date(2027, 1, 31))  # a Sunday made a working day


def test_theme_day_rules_move_off_rest_days() -> None:
    cal = HolidayCalendar()
    s = load_settings(
        None,
        env={},
        branches=[
            {"name": "甲", "theme_day": {"day": 1}},
            {"name": "乙", "theme_day": {"nth": 2, "weekday": 3}},
        ],
    )
    first_friday = rules.branch_events(s, "丙", 2026, 12, cal)[0]
    assert (
        first_friday.kind == "主题党日"
        and first_friday.starts.strftime("%m-%d %H:%M") == "12-04 15:00"
    )
    # 10-02 (the first Friday) is in the 国庆 break: the next working day is 10-08.
    october = rules.branch_events(s, "丙", 2026, 10, cal)[0]
    assert october.starts.date() == date(2026, 10, 8) and cal.is_workday(date(2026, 10, 8))
    assert rules.branch_events(s, "甲", 2026, 11, cal)[0].starts.date() == date(2026, 11, 2)
    assert rules.branch_events(s, "乙", 2026, 12, cal)[0].starts.date() == date(2026, 12, 9)


def test_cadence_gives_monthly_and_quarterly_meetings() -> None:
    s = load_settings(None, env={})
    cal = HolidayCalendar()
    kinds = {
        m: sorted(e.kind for e in rules.branch_events(s, "甲", 2026, m, cal)) for m in (1, 2, 3)
    }
    assert kinds[1] == sorted(["主题党日", "支委会", "党小组会", "党员大会"])
    assert kinds[2] == sorted(["主题党日", "支委会", "党小组会", "党课"])
    assert kinds[3] == sorted(["主题党日", "支委会", "党小组会"])


def run_cli(tmp_path: Path, *args: str) -> str:
    config = tmp_path / "q.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "none.db"}"\n'
        f'[[branches]]\nname = "{BUREAU}"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, [*args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_calendar_2026_lists_holidays_and_meetings_in_date_order(tmp_path: Path) -> None:
    out = run_cli(tmp_path, "calendar", "2026").splitlines()
    assert "2026-09-30 周三 15:00  国庆廉洁提醒  → 所有群" in out
    assert "2026-02-14 周六 15:00  春节廉洁提醒  → 所有群" in out
    assert f"2026-12-01 周二 09:00  主题党日预告  → {BUREAU}的群" in out
    assert f"2026-12-04 周五 16:00  主题党日缺席名单  → {BUREAU}书记" in out
    dated = [line[:16] for line in out if line[:4] == "2026"]
    assert dated == sorted(dated)
    assert not any("估算" in line for line in out if "2026-0" in line)


def test_cli_calendar_2027_prints_with_estimate_marks(tmp_path: Path) -> None:
    out = run_cli(tmp_path, "calendar", "2027")
    assert "尚未收录" in out
    assert "2027-09-30 周四 15:00  国庆廉洁提醒  → 所有群  [估算]" in out
