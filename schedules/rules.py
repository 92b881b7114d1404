"""Reminder rules: when each push falls due (pure date arithmetic, no database).

All arithmetic is on Asia/Shanghai wall-clock dates, whatever the host's TZ.
"""

from __future__ import annotations

import calendar as _cal
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from bot.config import Settings, ThemeDayRule, Vacation
from handlers import text
from schedules.festivals import festivals
from schedules.holidays import HolidayCalendar
from storage.events import SIGNIN_CLOSES_AFTER, SIGNIN_OPENS_BEFORE
from storage.models import EventKind

HOLIDAY_AT = time(15, 0)
MORNING_AT = time(9, 0)
DAY_OF_AT = time(8, 0)
PREVIEW_DAYS_BEFORE = 3
# The furthest before its event's day a preview can go out once moved off rest days: the
# longest was 13 days (春节 2020, extended), 12 in 2026. Whoever writes previews ahead
# must look this far ahead for events.
PREVIEW_REACH = timedelta(days=15)
FIRST_TEACHERS_DAY = 1985

# Who receives a push: every group, the branch's groups, the branch's secretaries, or
# the county admins (privately).
ALL_GROUPS = "all"
BRANCH_GROUPS = "branch"
SECRETARIES = "secretaries"
ADMINS = "admins"
YEARLY_CHECK_AT = time(17, 0)


@dataclass(frozen=True)
class MeetingRule:
    """A 三会一课 meeting held every month, or in some months only (quarterly)."""

    kind: EventKind
    months: tuple[int, ...]
    rule: ThemeDayRule


# 三会一课 cadence (支委会, 党小组会 monthly; 党员大会, 党课 quarterly). The day of
# each is a fixed default; a secretary's own `安排` in the same period replaces it.
MONTHLY = tuple(range(1, 13))
CADENCE: tuple[MeetingRule, ...] = (
    MeetingRule(
        EventKind.COMMITTEE, MONTHLY, ThemeDayRule(nth=2, weekday=2, at=time(16, 0), place="会议室")
    ),
    MeetingRule(EventKind.GROUP, MONTHLY, ThemeDayRule(nth=3, weekday=3, at=time(16, 0))),
    MeetingRule(EventKind.GENERAL, (1, 4, 7, 10), ThemeDayRule(nth=2, weekday=4, at=time(15, 0))),
    MeetingRule(EventKind.LECTURE, (2, 5, 8, 11), ThemeDayRule(nth=3, weekday=4, at=time(15, 0))),
)


# 组织生活会 and 民主评议党员: once a year in the window of [meetings] yearly_window. The
# 组织生活会 falls on the window's last month's 3rd Tuesday afternoon (no other rule meeting
# that day); the 民主评议 on the next working day, same hour, so the 评议 follows the
# 批评与自我批评 of the 组织生活会 as the work plan orders them.
YEARLY = (EventKind.ORG_LIFE, EventKind.APPRAISAL)
YEARLY_RULE = ThemeDayRule(nth=3, weekday=2, at=time(14, 30))
# When the window has no working day after the 组织生活会, the 评议 follows it that day.
SAME_DAY_APPRAISAL_AT = time(16, 30)


@dataclass(frozen=True)
class RuleEvent:
    """A meeting a rule says the branch holds."""

    kind: str
    starts: datetime  # local, aware
    place: str
    period: str  # "2026-12" (monthly), "2026-Q4" (quarterly), "2027" (yearly): one each
    period_start: date
    period_end: date  # exclusive
    estimated: bool


@dataclass(frozen=True)
class Planned:
    """One reminder occurrence, before it is fanned out to its targets."""

    kind: str  # outbox kind
    key: str  # unique per occurrence; the target is appended
    due: datetime  # local, aware
    label: str  # what `qingfeng calendar` shows
    audience: str  # ALL_GROUPS, BRANCH_GROUPS, SECRETARIES or ADMINS
    template: str
    fields: dict[str, object] = field(default_factory=dict)
    estimated: bool = False
    branch: str = ""  # for BRANCH_GROUPS / SECRETARIES; "" means every branch


def nth_weekday(year: int, month: int, nth: int, weekday: int) -> date:
    """The n-th given weekday (1=Monday) of the month."""
    first = date(year, month, 1)
    offset = (weekday - 1 - first.weekday()) % 7
    return first + timedelta(days=offset + 7 * (nth - 1))


def rule_day(
    rule: ThemeDayRule,
    year: int,
    month: int,
    calendar: HolidayCalendar,
    vacations: Sequence[Vacation] = (),
) -> date | None:
    """The day a day-of-month rule gives, moved off rest days and vacations within the month.

    None when every day of the month is a rest day or in a vacation."""
    return meeting_day(
        nominal_day(rule, year, month),
        date(year, month, 1),
        _month_end(year, month),
        calendar,
        vacations,
    )


def nominal_day(rule: ThemeDayRule, year: int, month: int) -> date:
    """The day a day-of-month rule names, before rest days are considered."""
    if rule.day is not None:
        return date(year, month, rule.day)
    return nth_weekday(year, month, rule.nth, rule.weekday)


def meeting_day(
    day: date,
    first: date,
    end: date,
    calendar: HolidayCalendar,
    vacations: Sequence[Vacation] = (),
) -> date | None:
    """`day`, else the next fitting day before `end`, else the last one from `first`.

    A fitting day is a working day outside the branch's vacations. Moving forward first
    keeps the design's "next working day"; falling back keeps the meeting in its own
    period (the month's last days may all be rest, or a vacation may run to its end).
    None when [first, end) has no fitting day: that period's meeting is not held."""

    def fits(d: date) -> bool:
        return calendar.is_workday(d) and not any(v.covers(d) for v in vacations)

    d = day
    while d < end:
        if fits(d):
            return d
        d += timedelta(days=1)
    d = day - timedelta(days=1)
    while d >= first:
        if fits(d):
            return d
        d -= timedelta(days=1)
    return None


def _month_end(year: int, month: int) -> date:
    return date(year, month, _cal.monthrange(year, month)[1]) + timedelta(days=1)


def branch_events(
    settings: Settings, branch: str, year: int, month: int, calendar: HolidayCalendar
) -> list[RuleEvent]:
    """The 主题党日 and 三会一课 meetings the rules give the branch in one month.

    Each falls on a working day outside the branch's vacations, in its own month (a
    quarterly meeting whose month has no such day moves within its quarter); a period
    with no such day at all gets no meeting, as in a summer vacation's August."""
    tz = settings.tz
    estimated = calendar.is_estimated(year)
    config = settings.branch(branch)
    theme, vacations = config.theme_day, config.vacations
    month_start, month_end = date(year, month, 1), _month_end(year, month)
    out: list[RuleEvent] = []
    theme_day = rule_day(theme, year, month, calendar, vacations)
    if theme_day is not None:
        out.append(
            RuleEvent(
                EventKind.THEME_DAY.value,
                datetime.combine(theme_day, theme.at, tz),
                theme.place,
                f"{year}-{month:02d}",
                month_start,
                month_end,
                estimated,
            )
        )
    for meeting in CADENCE:
        if month not in meeting.months:
            continue
        day = rule_day(meeting.rule, year, month, calendar, vacations)
        if meeting.months == MONTHLY:
            period, start, end = f"{year}-{month:02d}", month_start, month_end
        else:
            q = (month - 1) // 3
            period = f"{year}-Q{q + 1}"
            start, end = date(year, 3 * q + 1, 1), _month_end(year, 3 * q + 3)
            if day is None:
                nominal = nominal_day(meeting.rule, year, month)
                day = meeting_day(nominal, start, end, calendar, vacations)
        if day is None:
            continue
        starts = datetime.combine(day, meeting.rule.at, tz)
        out.append(
            RuleEvent(meeting.kind.value, starts, meeting.rule.place, period, start, end, estimated)
        )
    return out


def yearly_window(settings: Settings, year: int) -> tuple[date, date]:
    """[first day, day after the last) of the year's 组织生活会 and 民主评议 window."""
    first, last = settings.meetings.yearly_window
    return date(year, first, 1), _month_end(year, last)


def yearly_events(
    settings: Settings, branch: str, year: int, calendar: HolidayCalendar
) -> list[RuleEvent]:
    """The branch's 组织生活会 and 民主评议 of the year, on working days outside its
    vacations within the window; none when the window has no such day. Their period is the
    calendar year: one of each a year, wherever a secretary moves it."""
    config = settings.branch(branch)
    tz, vacations = settings.tz, config.vacations
    start, end = yearly_window(settings, year)
    last_month = settings.meetings.yearly_window[1]
    nominal = nominal_day(YEARLY_RULE, year, last_month)
    org = meeting_day(nominal, start, end, calendar, vacations)
    if org is None:
        return []
    # Never before the 组织生活会: falling back stops at its own day.
    appraisal = meeting_day(org + timedelta(days=1), org, end, calendar, vacations)
    assert appraisal is not None  # `org` itself fits
    at = YEARLY_RULE.at if appraisal > org else SAME_DAY_APPRAISAL_AT
    period = (str(year), date(year, 1, 1), date(year + 1, 1, 1))
    estimated = calendar.is_estimated(year)
    return [
        RuleEvent(kind.value, datetime.combine(day, t, tz), config.theme_day.place, *period,
                  estimated)
        for kind, day, t in ((YEARLY[0], org, YEARLY_RULE.at), (YEARLY[1], appraisal, at))
    ]  # fmt: skip


def yearly_check_due(settings: Settings, calendar: HolidayCalendar, year: int) -> datetime:
    """The admins' list of branches without a 组织生活会 / 民主评议: the window's last
    working day, 17:00 local."""
    _, end = yearly_window(settings, year)
    day = calendar.workday_on_or_before(end - timedelta(days=1))
    return datetime.combine(day, YEARLY_CHECK_AT, settings.tz)


def event_fields(
    kind: str, branch: str, starts: datetime, place: str, number: int | None = None
) -> dict[str, object]:
    """`number`: the meeting's 编号, for 「请假 编号 原因」 (the calendar has none yet)."""
    return {
        "kind": kind,
        "number": number if number is not None else "编号",
        "branch": branch,
        "date": text.day(starts.date()),
        "time": text.hm(starts),
        "place": place or "另行通知",
        "opens": text.hm(starts - SIGNIN_OPENS_BEFORE),
        "closes": text.hm(starts + SIGNIN_CLOSES_AFTER),
    }


@cache
def _official_calendar() -> HolidayCalendar:
    """The calendar without the config's overrides, for callers that pass none."""
    return HolidayCalendar()


def preview_day(starts: date, calendar: HolidayCalendar) -> date:
    """3 days before the event, or the last working day before that when it is a rest day."""
    return calendar.workday_on_or_before(starts - timedelta(days=PREVIEW_DAYS_BEFORE))


def event_reminders(
    event_key: str,
    kind: str,
    branch: str,
    starts: datetime,
    place: str,
    estimated: bool = False,
    calendar: HolidayCalendar | None = None,
    number: int | None = None,
) -> list[Planned]:
    """An event's preview (3 days before, 09:00), day-of (08:00), sign-in open, absentees.

    The preview moves off rest days (no push on 1 January or during 春节); the others
    belong to the event's own day. Pass the app's `calendar` so the config's
    [[calendar.overrides]] count; without one the official data and estimates are used."""
    fields = event_fields(kind, branch, starts, place, number)
    tz = starts.tzinfo
    cal = calendar if calendar is not None else _official_calendar()
    preview = datetime.combine(preview_day(starts.date(), cal), MORNING_AT, tz)
    day_of = datetime.combine(starts.date(), DAY_OF_AT, tz)
    # (outbox kind = template, key suffix, due, label, audience)
    spec = [
        ("event_preview", "preview", preview, f"{kind}预告", BRANCH_GROUPS),
        ("event_today", "today", day_of, f"{kind}当日提醒", BRANCH_GROUPS),
        ("signin_open", "signin", starts - SIGNIN_OPENS_BEFORE, f"{kind}开始签到", BRANCH_GROUPS),
        ("absentees", "absentees", starts + SIGNIN_CLOSES_AFTER, f"{kind}缺席名单", SECRETARIES),
    ]
    out = [
        Planned(
            name, f"{event_key}:{suffix}", due, label, audience, name, fields, estimated, branch
        )
        for name, suffix, due, label, audience in spec
    ]
    # A day-of reminder at or after the start says nothing new.
    return [p for p in out if not (p.kind == "event_today" and p.due >= starts)]


def parse_month_day(value: str, year: int) -> date:
    """'06-10' in `year`; raises ValueError on anything else."""
    month, _, day = value.partition("-")
    return date(year, int(month), int(day))


def year_reminders(settings: Settings, calendar: HolidayCalendar, year: int) -> list[Planned]:
    """The county-wide reminders of a year, and the monthly summaries to secretaries."""
    tz = settings.tz
    cfg = settings.reminders
    out: list[Planned] = []
    estimated = calendar.is_estimated(year)
    for fest in festivals(year, calendar, settings.calendar.overrides):
        fields = {"holiday": fest.name, "rest_from": text.day(fest.rest_from), "year": year}
        day = calendar.last_workday_before(fest.rest_from)
        out.append(
            Planned(
                "holiday",
                f"holiday:{year}:{fest.template}",
                datetime.combine(day, HOLIDAY_AT, tz),
                f"{fest.name}廉洁提醒",
                ALL_GROUPS,
                f"holiday_{fest.template}",
                fields,
                fest.estimated,
            )
        )
        if cfg.holiday_extra_days_before:
            early = calendar.last_workday_before(
                day - timedelta(days=cfg.holiday_extra_days_before - 1)
            )
            out.append(
                Planned(
                    "holiday",
                    f"holiday:{year}:{fest.template}:early",
                    datetime.combine(early, HOLIDAY_AT, tz),
                    f"{fest.name}廉洁提醒（提前）",
                    ALL_GROUPS,
                    f"holiday_{fest.template}",
                    fields,
                    fest.estimated,
                )
            )
    teachers = date(year, 9, 10)
    out.append(
        Planned(
            "teachers_day",
            f"teachers_day:{year}",
            datetime.combine(calendar.last_workday_before(teachers), HOLIDAY_AT, tz),
            "教师节廉洁提醒",
            ALL_GROUPS,
            "teachers_day",
            {"date": text.day(teachers), "number": year - FIRST_TEACHERS_DAY + 1, "year": year},
            estimated,
        )
    )
    for md in cfg.graduation_dates:
        day = parse_month_day(md, year)
        # The key keeps the configured date; a rest day moves only when it goes out.
        out.append(
            Planned(
                "graduation",
                f"graduation:{day.isoformat()}",
                datetime.combine(calendar.workday_on_or_before(day), MORNING_AT, tz),
                "毕业升学季提醒",
                ALL_GROUPS,
                "graduation",
                {"date": text.day(day), "year": year},
                estimated,
            )
        )
    first = calendar.next_workday(date(year, cfg.education_month, 1))
    out.append(
        Planned(
            "education_month",
            f"education_month:{year}",
            datetime.combine(first, MORNING_AT, tz),
            "宣传教育月",
            ALL_GROUPS,
            "education_month",
            {"month": cfg.education_month, "year": year},
            estimated,
        )
    )
    for month in range(1, 13):
        day = calendar.next_workday(date(year, month, 1))
        out.append(
            Planned(
                "monthly_summary",
                f"summary:{year}-{month:02d}",
                datetime.combine(day, MORNING_AT, tz),
                "月度汇总与组织生活预警",
                SECRETARIES,
                "",  # no template: the summary is built when it is sent
                {"month": f"{year}-{month:02d}"},  # rendered when sent, from the data then
                estimated,
            )
        )
    return out


def study_deadline_due(due: date, tz: ZoneInfo) -> datetime:
    """The day before the due date, 17:00."""
    return datetime.combine(due - timedelta(days=1), time(17, 0), tz)


def check_settings(settings: Settings) -> None:
    """Refuse reminder settings that cannot be planned (at start-up, not at 09:00 some day)."""
    for md in settings.reminders.graduation_dates:
        try:
            parse_month_day(md, 2024)  # a leap year, so 02-29 is accepted
        except ValueError:
            raise ValueError(f"reminders.graduation_dates 里的日期应为 MM-DD：{md}") from None


@dataclass(frozen=True)
class BranchShape:
    """What of a branch's roster decides which meetings it holds."""

    party_groups: tuple[str, ...] = ()  # 党小组: one 党小组会 each; none: one for the branch
    committee: bool = False  # a 支委会 expects only the 支委: none named, no 支委会


def meeting_label(kind: str, party_group: str) -> str:
    """A 党小组会 of one group is named with it: 党小组会（第一党小组）."""
    return f"{kind}（{party_group}）" if party_group else kind


def held_meetings(
    settings: Settings,
    branch: str,
    shape: BranchShape,
    year: int,
    month: int,
    calendar: HolidayCalendar,
) -> list[tuple[RuleEvent, str]]:
    """The rule meetings the branch holds in the month, each with its 党小组 ("" for all):
    the same for the planner and `qingfeng calendar`."""
    out: list[tuple[RuleEvent, str]] = []
    yearly = [
        ev for ev in yearly_events(settings, branch, year, calendar) if ev.starts.month == month
    ]
    for ev in branch_events(settings, branch, year, month, calendar) + yearly:
        if ev.kind == EventKind.COMMITTEE.value and not shape.committee:
            continue
        groups = shape.party_groups if ev.kind == EventKind.GROUP.value else ()
        out += [(ev, g) for g in groups or ("",)]
    return out


def plan_year(
    settings: Settings,
    calendar: HolidayCalendar,
    year: int,
    branches: list[str],
    shapes: dict[str, BranchShape] | None = None,
) -> list[Planned]:
    """Every reminder of the year: county-wide ones and each branch's meetings, by time.
    `shapes`: each branch's 党小组 and committee as the roster gives them (a branch not in
    it has neither, as before its roster is imported)."""
    # Next year's 元旦 reminder falls on this year's last working day, and so may the
    # preview of a meeting early in January.
    out = year_reminders(settings, calendar, year) + year_reminders(settings, calendar, year + 1)
    months = [(year, m) for m in range(1, 13)] + [(year + 1, 1)]
    for branch in branches:
        shape = (shapes or {}).get(branch, BranchShape())
        for y, month in months:
            for ev, group in held_meetings(settings, branch, shape, y, month, calendar):
                key = f"rule:{ev.kind}:{branch}:{ev.period}" + (f":{group}" if group else "")
                label = meeting_label(ev.kind, group)
                out += event_reminders(
                    key, label, branch, ev.starts, ev.place, ev.estimated, calendar
                )
    # The admins' list of branches that have not held the yearly meetings (sent only if
    # some have not).
    out.append(
        Planned("yearly_missing", f"yearly_missing:{year}",
                yearly_check_due(settings, calendar, year),
                f"{'、'.join(k.value for k in YEARLY)}未召开支部名单（都已召开则不发）",
                ADMINS, "", estimated=calendar.is_estimated(year))
    )  # fmt: skip
    out = [p for p in out if p.due.year == year]
    return sorted(out, key=lambda p: (p.due, p.branch, p.label))
