"""Property: for random months, each member's 我的 is their row of 汇总, the rows sum to the
branch's figures, and both are what the rules say (worked out here in plain Python).

Each example wipes the month's records and draws a new November 2026 for the bureau's eight
members: who they are (身份, 支委, 党小组, when they joined: before November or at any
minute in it), their daily check-ins, up to five meetings (any kind, some cancelled, a
党小组会 of one group or all, each member present, late, on leave or absent), up to four
study tasks (the bureau's, the county's or the school's; for Party members or for 全体; due
in October, November, December or never) with confirmations, and the moment the figures are
asked for (within November, so some slots and meetings are still open, or after it).
"""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from bot.app import App
from bot.clock import SHANGHAI
from storage.models import (
    Account,
    Attendance,
    CheckIn,
    Event,
    Member,
    Pledge,
    PledgeConfirmation,
    StudyConfirmation,
    StudyTask,
)
from tests.badinput_support import fuzz
from tests.conftest import BUREAU, SCHOOL, Chat, branch_id

ACCOUNTS = {
    "周管理": "zhou",
    "李书记": "li",
    "王党员": "wang",
    "孙预备": "sun",
    "钱群众": "qian",
    "赵新人": "zhao",  # the three added below
    "吴老师": "wu",
    "郑同志": "zheng",
}
NAMES = list(ACCOUNTS)
PARTY = ("党员", "预备党员")
MONTH_FIRST, MONTH_LAST = date(2026, 11, 1), date(2026, 11, 30)
LONG_AGO = datetime(2026, 9, 1, tzinfo=UTC)
# The default windows (bot.config.CheckinConfig): 07:00-09:30 on time by 08:30; 16:30-20:00.
MORNING_END, ON_TIME_BY, EVENING_END = time(9, 30), time(8, 30), time(20, 0)
SIGNIN_CLOSES_AFTER = timedelta(minutes=60)
KINDS = ("主题党日", "支委会", "党员大会", "党小组会", "党课")
GROUPS = ("", "一组", "二组")


def local(day: date, t: time) -> datetime:
    return datetime.combine(day, t, SHANGHAI)


def nov_instant() -> st.SearchStrategy[datetime]:
    """Any minute of November 2026, Shanghai time."""
    return st.builds(
        lambda d, m: local(date(2026, 11, d), time(m // 60, m % 60)),
        st.integers(1, 30),
        st.integers(0, 24 * 60 - 1),
    )


@dataclass(frozen=True)
class Person:
    status: str
    committee: str
    group: str
    joined: datetime


@dataclass(frozen=True)
class Meeting:
    kind: str
    starts: datetime
    group: str
    cancelled: bool
    attendance: tuple[str | None, ...]  # per member: 出席, 迟到, 请假 or None


@dataclass(frozen=True)
class Task:
    branch: str | None  # BUREAU, SCHOOL or None (county-wide)
    audience: str
    due: date | None
    created: datetime
    confirm_after_days: tuple[int | None, ...]  # per member; None: never


@dataclass(frozen=True)
class Month:
    people: tuple[Person, ...]
    checkin_seed: int
    meetings: tuple[Meeting, ...]
    tasks: tuple[Task, ...]
    now: datetime


meetings = st.builds(
    Meeting,
    kind=st.sampled_from(KINDS),
    starts=st.builds(
        lambda d, h, half: local(date(2026, 11, d), time(h, 30 if half else 0)),
        st.integers(1, 30),
        st.integers(8, 19),
        st.booleans(),
    ),
    group=st.sampled_from(GROUPS),
    cancelled=st.booleans(),
    attendance=st.tuples(*[st.sampled_from((None, "出席", "迟到", "请假"))] * len(NAMES)),
)
tasks = st.builds(
    Task,
    branch=st.sampled_from((BUREAU, None, SCHOOL)),
    audience=st.sampled_from(("党员", "全体")),
    due=st.one_of(st.none(), st.dates(date(2026, 10, 20), date(2026, 12, 10))),
    created=st.builds(
        lambda d: local(date(2026, 10, 15) + timedelta(days=d), time(10, 0)), st.integers(0, 45)
    ),
    confirm_after_days=st.tuples(*[st.one_of(st.none(), st.integers(0, 25))] * len(NAMES)),
)
slot_closes = st.builds(
    lambda d, evening: local(date(2026, 11, d), EVENING_END if evening else MORNING_END),
    st.integers(1, 30),
    st.booleans(),
)


@st.composite
def months(draw: st.DrawFn) -> Month:
    """A month whose moments cluster where the rules change their answer: around slot
    closes, meeting starts, task cut-offs and the last day before `now`, as well as
    anywhere."""
    mts = tuple(draw(st.lists(meetings, max_size=5)))
    tks = tuple(draw(st.lists(tasks, max_size=4)))
    anchors = [m.starts for m in mts] + [
        local(t.due + timedelta(days=1), time(0)) for t in tks if t.due is not None
    ]
    near = (st.sampled_from(anchors) | slot_closes) if anchors else slot_closes
    moment = st.one_of(
        nov_instant(),
        st.builds(lambda a, k: a + timedelta(minutes=k), near, st.integers(-90, 150)),
    )
    options = [st.just(local(date(2026, 12, 1), time(10, 0))), moment]
    if mts:  # during a meeting or its sign-in hour
        starts = st.sampled_from([m.starts for m in mts])
        options.append(st.builds(lambda a, k: a + timedelta(minutes=k), starts, st.integers(0, 90)))
    now = draw(st.one_of(*options))
    just_before = st.builds(lambda k: now - timedelta(minutes=k), st.integers(0, 24 * 60))
    people = st.builds(
        Person,
        status=st.sampled_from(("党员", "预备党员", "群众")),
        committee=st.sampled_from(("", "委员")),
        group=st.sampled_from(GROUPS),
        joined=st.one_of(st.just(LONG_AGO), moment, just_before),
    )
    return Month(
        people=draw(st.tuples(*[people] * len(NAMES))),
        checkin_seed=draw(st.integers(0, 2**32)),
        meetings=mts,
        tasks=tks,
        now=now,
    )


@dataclass
class Figures:
    """One member's figures, in the order 我的 and 汇总 show them."""

    checkin: tuple[int, int, int] | None = None  # 按时, 迟到, 缺
    events: tuple[int, int, int, int] = (0, 0, 0, 0)  # 出席, 迟到, 请假, 缺席
    study: tuple[int, int, int] = (0, 0, 0)  # 已学, 逾期, 未学


@pytest.fixture
async def bureau_of_eight(app: App) -> AsyncIterator[App]:
    """The test app with three more members in the bureau, each bound on WeCom."""
    bureau = await branch_id(app, BUREAU)
    async with app.db.write() as s:
        for i, name in enumerate(NAMES[5:]):
            m = Member(name=name, branch_id=bureau, status="党员", role="成员",
                       phone=f"1370000000{i}")  # fmt: skip
            s.add(m)
            await s.flush()
            assert m.id is not None
            s.add(Account(platform="wecom", external_id=ACCOUNTS[name], member_id=m.id))
    yield app


async def ids_by_name(app: App) -> dict[str, int]:
    async with app.db.read() as s:
        rows = (await s.exec(sa.select(Member.name, Member.id))).all()  # type: ignore[call-overload]
    return {n: i for n, i in rows}


async def write_month(app: App, month: Month) -> tuple[list[tuple[int, date, str, bool]], dict]:
    """Replace the month's records with `month`'s. Returns the check-ins written."""
    ids = await ids_by_name(app)
    bureau, school = await branch_id(app, BUREAU), await branch_id(app, SCHOOL)
    rnd = random.Random(month.checkin_seed)
    now = month.now
    checkins: list[tuple[int, date, str, bool]] = []  # (member index, day, slot, on time)
    async with app.db.write() as s:
        for table in (Attendance, Event, StudyConfirmation, StudyTask, PledgeConfirmation,
                      Pledge, CheckIn):  # fmt: skip
            await s.exec(sa.delete(table))  # type: ignore[call-overload]
        for name, p in zip(NAMES, month.people, strict=True):
            joined = min(p.joined, now)  # nobody joins in the future
            await s.exec(
                sa.update(Member)
                .where(Member.id == ids[name])
                .values(status=p.status, committee=p.committee, party_group=p.group,
                        created_at=joined)
            )  # type: ignore[call-overload]  # fmt: skip
        # Check-ins as the bot records them: on working days, in the windows, after
        # joining, not in the future.
        for day in app.services.calendar.workdays(MONTH_FIRST, MONTH_LAST):
            for i, p in enumerate(month.people):
                for slot, start, end in (("上班", time(7, 0), MORNING_END),
                                         ("下班", time(16, 30), EVENING_END)):  # fmt: skip
                    if rnd.random() < 0.3:
                        continue
                    lo, hi = local(day, start), local(day, end)
                    span = int((hi - lo).total_seconds() // 60)
                    when = lo + timedelta(minutes=rnd.randint(0, span))
                    if when < min(p.joined, now) or when > now:
                        continue
                    on_time = slot == "下班" or when.time() <= ON_TIME_BY
                    s.add(CheckIn(member_id=ids[NAMES[i]], day=day, slot=slot, at=when,
                                  on_time=on_time))  # fmt: skip
                    checkins.append((i, day, slot, on_time))
        for n, mt in enumerate(month.meetings, 1):
            cancelled = mt.starts - timedelta(days=1) if mt.cancelled else None
            ev = Event(branch_id=bureau, number=n, kind=mt.kind, starts_at=mt.starts,
                       party_group=mt.group if mt.kind == "党小组会" else "",
                       cancelled_at=cancelled)  # fmt: skip
            s.add(ev)
            await s.flush()
            for name, status in zip(NAMES, mt.attendance, strict=True):
                if status is not None:
                    reason = "有事" if status == "请假" else ""
                    s.add(Attendance(event_id=ev.id, member_id=ids[name], status=status,
                                     at=mt.starts, reason=reason))  # fmt: skip
        confirmed: dict[tuple[int, int], bool] = {}  # (task index, member index) -> late
        for t_i, task in enumerate(month.tasks):
            created = min(task.created, now)
            branch = {BUREAU: bureau, SCHOOL: school, None: None}[task.branch]
            row = StudyTask(title=f"材料{t_i}", branch_id=branch, due=task.due,
                            audience=task.audience, created_at=created)  # fmt: skip
            s.add(row)
            await s.flush()
            for i, after in enumerate(task.confirm_after_days):
                when = created + timedelta(days=after) if after is not None else None
                if when is None or when > now:
                    continue
                late = task.due is not None and when.astimezone(SHANGHAI).date() > task.due
                s.add(StudyConfirmation(task_id=row.id, member_id=ids[NAMES[i]], at=when,
                                        late=late))  # fmt: skip
                confirmed[(t_i, i)] = late
    return checkins, confirmed


def by_the_rules(
    month: Month, checkins: list[tuple[int, date, str, bool]], confirmed: dict, i: int
) -> Figures:
    """Member i's figures for November, worked out from the rules in plain Python."""
    p, now = month.people[i], month.now
    joined = min(p.joined, now)
    due = 0
    for day in WORKDAYS:
        for end in (MORNING_END, EVENING_END):
            closes = local(day, end)
            due += joined < closes <= now
    mine = [(d, slot, ok) for m, d, slot, ok in checkins if m == i]
    closed = sum(
        local(d, MORNING_END if slot == "上班" else EVENING_END) <= now for d, slot, _ in mine
    )
    on_time = sum(ok for _, _, ok in mine)
    checkin = (on_time, len(mine) - on_time, due - closed)

    events = [0, 0, 0, 0]
    for mt in month.meetings:
        group = mt.group if mt.kind == "党小组会" else ""
        expected = (
            p.status in PARTY
            and joined <= mt.starts
            and not mt.cancelled
            and (mt.kind != "支委会" or p.committee != "")
            and (group == "" or group == p.group)
        )
        if not expected or mt.starts > now - SIGNIN_CLOSES_AFTER:
            continue
        events[{"出席": 0, "迟到": 1, "请假": 2, None: 3}[mt.attendance[i]]] += 1

    study = [0, 0, 0]
    for t_i, task in enumerate(month.tasks):
        created = min(task.created, now)
        day = task.due or created.astimezone(SHANGHAI).date()
        if not MONTH_FIRST <= day <= MONTH_LAST or task.branch == SCHOOL:
            continue
        if task.audience != "全体" and p.status not in PARTY:
            continue
        if joined >= local(day + timedelta(days=1), time(0)):
            continue
        late = confirmed.get((t_i, i))
        study[{False: 0, True: 1, None: 2}[late]] += 1
    return Figures(checkin, (events[0], events[1], events[2], events[3]), tuple(study))  # type: ignore[arg-type]


WORKDAYS: list[date] = []


def numbers(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text))


def parse_mine(reply: str) -> Figures:
    f = Figures()
    for line in reply.splitlines()[2:]:
        head, _, rest = line.partition("：")
        if head == "日常签到":
            f.checkin = numbers(rest)  # type: ignore[assignment]
        elif head == "组织生活":
            f.events = numbers(rest)  # type: ignore[assignment]
        elif head == "学习":
            f.study = numbers(rest)  # type: ignore[assignment]
    return f


def parse_summary(reply: str) -> tuple[dict[str, tuple[int, int]], dict[str, Figures]]:
    """The head's (part, whole) per figure, and each member's row."""
    head: dict[str, tuple[int, int]] = {}
    rows: dict[str, Figures] = {}
    section = ""
    for line in reply.splitlines():
        m = re.fullmatch(r"(组织生活出勤|日常签到|学习完成) \S+（(\d+)/(\d+)）", line)
        if m:
            head[m[1]] = (int(m[2]), int(m[3]))
        elif line.startswith("【"):
            section = line
        elif section and " " in line:
            name, _, rest = line.partition(" ")
            row = rows.setdefault(name, Figures())
            if section == "【日常签到】":
                row.checkin = numbers(rest)  # type: ignore[assignment]
            elif section == "【组织生活】":
                row.events = numbers(rest)  # type: ignore[assignment]
            elif section == "【学习】":
                row.study = numbers(rest)  # type: ignore[assignment]
    return head, rows


@fuzz(30)
@given(month=months())
async def test_my_record_is_my_row_of_the_summary_and_the_rows_add_up(
    bureau_of_eight: App, chat: Chat, month: Month
) -> None:
    app = bureau_of_eight
    if not WORKDAYS:
        WORKDAYS.extend(app.services.calendar.workdays(MONTH_FIRST, MONTH_LAST))
    checkins, confirmed = await write_month(app, month)
    chat.clock.set(month.now)

    head, rows = parse_summary(await chat.text("li", "汇总 2026-11", direct=True))
    mine = {
        n: parse_mine(await chat.text(a, "我的 2026-11", direct=True)) for n, a in ACCOUNTS.items()
    }

    for i, name in enumerate(NAMES):
        want = by_the_rules(month, checkins, confirmed, i)
        got = mine[name]
        if month.people[i].status not in PARTY:
            assert got.events == (0, 0, 0, 0)  # no 组织生活 line at all
        assert got == want, (name, month.people[i])
        # 汇总 lists a member under 组织生活 / 学习 only when something was expected of them.
        row = rows.get(name, Figures())
        assert row.checkin == got.checkin
        assert row.events == got.events
        assert row.study == got.study

    # 已签 counts closed slots only; 按时 + 迟到 also shows check-ins in a slot still open.
    recorded = sum(f.checkin[0] + f.checkin[1] for f in mine.values())
    assert recorded >= head["日常签到"][0]
    assert sum(f.checkin[2] for f in mine.values()) == head["日常签到"][1] - head["日常签到"][0]
    assert sum(f.events[0] + f.events[1] for f in mine.values()) == head["组织生活出勤"][0]
    assert sum(sum(f.events) for f in mine.values()) == head["组织生活出勤"][1]
    assert sum(f.study[0] + f.study[1] for f in mine.values()) == head["学习完成"][0]
    assert sum(sum(f.study) for f in mine.values()) == head["学习完成"][1]

    # The 看板's trend asks for several months in one statement: the same figures as one
    # month at a time (the month before, this one with its open slots, and the next).
    from handlers import accounting
    from handlers.periods import parse_period
    from storage import members

    periods = [parse_period(m, MONTH_FIRST) for m in ("2026-10", "2026-11", "2026-12")]
    async with app.db.read() as s:
        branches = await members.all_branches(s)
        together = await accounting.branch_figures_by_period(
            s, app.services, branches, periods, month.now
        )
        for period, figures in zip(periods, together, strict=True):
            alone = await accounting.branch_figures(s, app.services, branches, period, month.now)
            assert figures == alone, period

    # 廉洁承诺 are counted like study tasks, window by window too: the tasks again as
    # pledges (which expect every 身份), compared the same way.
    async with app.db.write() as s:
        copies: dict[int, int] = {}
        for task in (await s.exec(sa.select(StudyTask))).scalars():  # type: ignore[call-overload]
            pledge = Pledge(title=task.title, branch_id=task.branch_id, due=task.due,
                            created_at=task.created_at)  # fmt: skip
            s.add(pledge)
            await s.flush()
            copies[task.id] = pledge.id
        confirmations = (await s.exec(sa.select(StudyConfirmation))).scalars()  # type: ignore[call-overload]
        for c in confirmations:
            s.add(PledgeConfirmation(pledge_id=copies[c.task_id], member_id=c.member_id,
                                     at=c.at, late=c.late))  # fmt: skip
    async with app.db.read() as s:
        together = await accounting.branch_figures_by_period(
            s, app.services, branches, periods, month.now
        )
        for period, figures in zip(periods, together, strict=True):
            alone = await accounting.branch_figures(s, app.services, branches, period, month.now)
            assert figures == alone, period
            # A pledge expects everyone a task with the same dates expects, and more.
            for f in figures:
                c = f.counts
                assert c.pl_total >= c.st_total and c.pl_confirmed >= c.st_confirmed, period
