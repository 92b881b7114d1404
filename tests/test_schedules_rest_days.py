"""No automatic meeting or push on a rest day, estimated years and school vacations included.

Dates worked out by hand (weekdays from the Gregorian calendar; 春节 2027-02-06 is the
published 正月初一 of 丁未年, and lunar-python agrees):
- 2027: 春节 (正月初一) is Sat 2027-02-06, so 除夕 is Fri 02-05 and 初六 Thu 02-11. No weekend
  touches that block (Thu 02-04 and Fri 02-12 are weekdays): the estimated break is
  02-05..02-11. 国庆 is Fri 10-01..Thu 10-07, also without touching weekends.
- 2028: 国庆 10-01 is a Sunday; the block 10-01..10-07 ends on a Saturday, so Sat 09-30 and
  Sun 10-08 touch it and the break is 09-30..10-08.
- 2027-01-01 is a Friday: the first-Friday 主题党日 of January 2027 moves to Mon 01-04, whose
  preview (3 days before) would be the 1st; it moves to Thu 2026-12-31, a working day in the
  official 2026 data.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import cli
from bot.config import ConfigError, Settings, load_settings
from handlers import text
from schedules import rules
from schedules.festivals import estimated_break, festivals
from schedules.holidays import HolidayCalendar

# Rule shapes that hit rest days often: a fixed day early and late in the month, and the
# default first Friday (which lands on 01-01 and 10-01 in 2027).
BRANCHES = [
    {"name": "甲"},
    {"name": "乙", "theme_day": {"day": 1}},
    {"name": "丙", "theme_day": {"day": 28}},
    {"name": "丁", "theme_day": {"nth": 1, "weekday": 1}},
]

WINTER = {"from": "2027-01-20", "to": "2027-02-20"}
SUMMER = {"from": "2027-07-10", "to": "2027-08-31"}


@pytest.fixture(autouse=True)
def _quiet_estimate_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="schedules.holidays")


def settings(**over: object) -> Settings:
    return load_settings(None, env={}, **over)


def days(first: str, last: str) -> list[date]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return [a + timedelta(days=i) for i in range((b - a).days + 1)]


# --- the estimate --------------------------------------------------------------------------


def test_2027_spring_festival_break_runs_from_new_years_eve_to_the_sixth_day() -> None:
    cal = HolidayCalendar()
    assert cal.is_estimated(2027)
    assert estimated_break("春节", 2027) == days("2027-02-05", "2027-02-11")
    assert cal.is_workday(date(2027, 2, 4)) and cal.is_workday(date(2027, 2, 12))
    assert not any(cal.is_workday(d) for d in days("2027-02-05", "2027-02-11"))
    spring = next(f for f in festivals(2027, cal) if f.name == "春节")
    assert spring.day == date(2027, 2, 6) and spring.rest_from == date(2027, 2, 5)


def test_national_day_estimate_is_the_first_week_plus_touching_weekends() -> None:
    cal = HolidayCalendar()
    assert estimated_break("国庆", 2027) == days("2027-10-01", "2027-10-07")
    assert cal.is_workday(date(2027, 10, 8))  # a Friday
    assert estimated_break("国庆", 2028) == days("2028-09-30", "2028-10-08")
    national = next(f for f in festivals(2028, cal) if f.name == "国庆")
    assert national.rest_from == date(2028, 9, 30)


@pytest.mark.parametrize("year", [2026, 2027, 2028])
def test_each_holiday_reminder_names_the_first_rest_day_of_its_break(year: int) -> None:
    cal = HolidayCalendar()
    plan = rules.year_reminders(settings(), cal, year)
    reminders = {p.key: p for p in plan if p.kind == "holiday"}
    for fest in festivals(year, cal):
        assert not cal.is_workday(fest.rest_from), fest
        assert cal.is_workday(fest.rest_from - timedelta(days=1)), fest
        sent = reminders[f"holiday:{year}:{fest.template}"]
        assert sent.fields["rest_from"] == text.day(fest.rest_from)
        assert sent.due.date() == cal.last_workday_before(fest.rest_from)


def test_2027_spring_reminder_and_meetings_agree() -> None:
    cal = HolidayCalendar()
    plan = rules.year_reminders(settings(), cal, 2027)
    [spring] = [p for p in plan if p.key == "holiday:2027:spring"]
    assert spring.fields["rest_from"] == "2月5日(周五)"
    assert spring.due == datetime(2027, 2, 4, 15, 0, tzinfo=spring.due.tzinfo)
    feb = {e.kind: e.starts.date() for e in rules.branch_events(settings(), "甲", 2027, 2, cal)}
    # First Friday 02-05 is 除夕 and 2nd Tuesday 02-09 is 初四: both after the break, Fri 02-12.
    assert feb["主题党日"] == date(2027, 2, 12)
    assert feb["支委会"] == date(2027, 2, 12)
    oct_ = {e.kind: e.starts.date() for e in rules.branch_events(settings(), "甲", 2027, 10, cal)}
    assert oct_["主题党日"] == date(2027, 10, 8)  # not 10-04, inside the 国庆 week


# --- nothing planned on a rest day ---------------------------------------------------------


@pytest.mark.parametrize("year", [2026, 2027])
def test_a_whole_year_plans_no_meeting_and_no_push_on_a_rest_day(year: int) -> None:
    s = settings(branches=BRANCHES)
    cal = HolidayCalendar()
    names = [b["name"] for b in BRANCHES]
    for name in names:
        for month in range(1, 13):
            for ev in rules.branch_events(s, name, year, month, cal):
                day = ev.starts.date()
                assert cal.is_workday(day), (name, ev)
                assert ev.period_start <= day < ev.period_end, (name, ev)
                assert day.month == month, (name, ev)  # no holiday pushes one out of its month
    plan = rules.plan_year(s, cal, year, names)
    assert plan and all(p.due.year == year for p in plan)
    on_rest = [(p.due.date(), p.label, p.branch) for p in plan if not cal.is_workday(p.due.date())]
    assert on_rest == []


def test_a_fixed_day_with_only_rest_days_after_it_moves_back_within_the_month() -> None:
    cal = HolidayCalendar()
    s = settings(branches=BRANCHES)
    # 2027-02-28 is a Sunday and the month's last day: Friday 02-26, not Monday 03-01.
    [theme] = [e for e in rules.branch_events(s, "丙", 2027, 2, cal) if e.kind == "主题党日"]
    assert theme.starts.date() == date(2027, 2, 26)


def test_a_preview_that_would_fall_on_new_years_day_goes_out_on_the_last_working_day_before() -> (
    None
):
    cal = HolidayCalendar()
    s = settings(branches=BRANCHES)
    [january] = [e for e in rules.branch_events(s, "甲", 2027, 1, cal) if e.kind == "主题党日"]
    assert january.starts.date() == date(2027, 1, 4)
    planned = rules.event_reminders("k", january.kind, "甲", january.starts, "", True, cal)
    [preview] = [p for p in planned if p.kind == "event_preview"]
    assert preview.due == datetime(2026, 12, 31, 9, 0, tzinfo=january.starts.tzinfo)
    # Without a calendar the official data and estimates still apply.
    [fallback] = [
        p
        for p in rules.event_reminders("k", january.kind, "甲", january.starts, "")
        if p.kind == "event_preview"
    ]
    assert fallback.due == preview.due
    # The 2026 calendar lists it; the 2027 one plans nothing for 1 January.
    in_2026 = rules.plan_year(s, cal, 2026, ["甲"])
    assert any(
        p.key == "rule:主题党日:甲:2027-01:preview" and p.due.date() == date(2026, 12, 31)
        for p in in_2026
    )
    in_2027 = rules.plan_year(s, cal, 2027, ["甲"])
    assert not any(p.due.date() == date(2027, 1, 1) for p in in_2027)


def test_a_preview_inside_the_spring_break_goes_out_before_it() -> None:
    cal = HolidayCalendar()
    starts = datetime(2027, 2, 12, 15, 0, tzinfo=settings().tz)
    preview, *day_of = rules.event_reminders("k", "主题党日", "甲", starts, "", True, cal)
    assert preview.kind == "event_preview"
    assert preview.due.date() == date(2027, 2, 4)  # 3 days before is 02-09 (初四)
    # The day-of reminder, sign-in opening and absentee list stay on the meeting's day.
    assert [p.kind for p in day_of] == ["event_today", "signin_open", "absentees"]
    assert {p.due.date() for p in day_of} == {date(2027, 2, 12)}


def test_a_preview_is_never_further_ahead_than_the_planner_looks() -> None:
    cal = HolidayCalendar()
    d, furthest = date(2020, 1, 1), 0
    while d < date(2029, 1, 1):
        furthest = max(furthest, (d - rules.preview_day(d, cal)).days)
        d += timedelta(days=1)
    assert furthest == 13  # 2020-02-05, after the extended 春节 break
    assert timedelta(days=furthest + 1) <= rules.PREVIEW_REACH


def test_graduation_reminder_on_a_saturday_goes_out_on_friday() -> None:
    cal = HolidayCalendar()
    plan = rules.year_reminders(settings(), cal, 2027)
    [july] = [p for p in plan if p.key == "graduation:2027-07-10"]  # a Saturday
    assert july.due.date() == date(2027, 7, 9) and july.fields["date"] == "7月10日(周六)"


# --- school vacations ----------------------------------------------------------------------


def vacation_settings() -> Settings:
    return settings(branches=[{"name": "一中", "vacations": [WINTER, SUMMER]}, {"name": "甲"}])


def month_days(s: Settings, branch: str, month: int) -> dict[str, date]:
    cal = HolidayCalendar()
    return {e.kind: e.starts.date() for e in rules.branch_events(s, branch, 2027, month, cal)}


def test_a_meeting_in_a_vacation_moves_to_a_working_day_outside_it_in_the_same_month() -> None:
    s = vacation_settings()
    # February: 主题党日 (first Friday 02-05, in 春节 and the winter vacation) moves to the
    # first working day after the vacation, Mon 02-22; the branch without one keeps 02-12.
    assert month_days(s, "一中", 2)["主题党日"] == date(2027, 2, 22)
    assert month_days(s, "甲", 2)["主题党日"] == date(2027, 2, 12)
    # January: 党小组会 (third Wednesday 01-20) is the vacation's first day and January has
    # no working day after it: back to Tue 01-19.
    assert month_days(s, "一中", 1)["党小组会"] == date(2027, 1, 19)
    # July: 主题党日 07-02 is before the vacation; 支委会 (07-13) and 党小组会 (07-21) move
    # back to Fri 07-09, the last working day before it.
    july = month_days(s, "一中", 7)
    assert july["主题党日"] == date(2027, 7, 2)
    assert july["支委会"] == july["党小组会"] == date(2027, 7, 9)


def test_a_month_wholly_in_a_vacation_has_no_monthly_meeting_and_the_quarterly_one_moves() -> None:
    s = vacation_settings()
    cal = HolidayCalendar()
    august = rules.branch_events(s, "一中", 2027, 8, cal)
    # 主题党日, 支委会, 党小组会 are not held; 党课 (Q3, third Thursday 08-19) moves to the
    # first working day after the vacation in its quarter, Wed 09-01.
    assert [(e.kind, e.period, e.starts.date()) for e in august] == [
        ("党课", "2027-Q3", date(2027, 9, 1))
    ]
    plan = rules.plan_year(s, cal, 2027, ["一中"])
    meeting_days = {p.due.date() for p in plan if p.kind == "event_today"}
    assert not any(date(2027, 7, 10) <= d <= date(2027, 8, 31) for d in meeting_days)
    assert not any(date(2027, 1, 20) <= d <= date(2027, 2, 20) for d in meeting_days)


def write_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "q.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "none.db"}"\n'
        f'[[branches]]\nname = "一中"\n{extra}',
        encoding="utf-8",
    )
    return config


def test_vacations_are_read_from_the_file(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        'vacations = [{ from = 2027-01-20, to = 2027-02-20 }, { from = "2027-07-10", '
        'to = "2027-08-31" }]\n',
    )
    vacations = load_settings(config, env={}).branch("一中").vacations
    assert [(v.start, v.end) for v in vacations] == [
        (date(2027, 1, 20), date(2027, 2, 20)),
        (date(2027, 7, 10), date(2027, 8, 31)),
    ]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("{ from = 2027-02-20, to = 2027-01-20 }", "vacations.0.to: 应不早于 from（2027-02-20）"),
        ("{ from = 2027-02-20 }", "vacations.0.to: 必须填写"),
        (
            '{ from = 2027-01-20, to = 2027-02-20, name = "寒假" }',
            "vacations.0.name: 不认识的配置项",
        ),
        ('{ from = "寒假", to = 2027-02-20 }', "vacations.0.from: 应为日期"),
    ],
)
def test_a_bad_vacation_stops_start_up_with_one_line(
    tmp_path: Path, entry: str, expected: str
) -> None:
    config = write_config(tmp_path, f"vacations = [{entry}]\n")
    with pytest.raises(ConfigError) as err:
        load_settings(config, env={})
    message = str(err.value)
    assert "\n" not in message and message.startswith("配置错误（")
    assert f"配置项 branches.0.{expected}" in message


# --- `qingfeng calendar` -------------------------------------------------------------------


@pytest.mark.parametrize("year", [2026, 2027])
def test_cli_calendar_lists_nothing_on_a_rest_day(tmp_path: Path, year: int) -> None:
    config = write_config(tmp_path, "vacations = [{ from = 2027-07-10, to = 2027-08-31 }]\n")
    result = CliRunner().invoke(cli, ["calendar", str(year), "--config", str(config)])
    assert result.exit_code == 0, result.output
    cal = HolidayCalendar()
    dated = [line for line in result.output.splitlines() if line[:4] == str(year)]
    assert len(dated) > 100  # no roster here: no 支委会 (see rules.BranchShape)
    assert [line for line in dated if not cal.is_workday(date.fromisoformat(line[:10]))] == []
    if year == 2027:
        out = result.output
        assert "2027-02-04 周四 15:00  春节廉洁提醒  → 所有群  [估算]" in out
        assert "2027-02-12 周五 08:00  主题党日当日提醒  → 一中的群  [估算]" in out
        assert "2027-10-08 周五 08:00  主题党日当日提醒  → 一中的群  [估算]" in out
        assert not any(line.startswith(("2027-02-09", "2027-10-04")) for line in dated)
        assert not any(line[:7] == "2027-08" and "当日提醒" in line for line in dated)
    else:
        # January 2027's first meeting is previewed on the last working day of 2026.
        assert "2026-12-31 周四 09:00  主题党日预告  → 一中的群  [估算]" in result.output
