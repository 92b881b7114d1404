"""The one set of rules: what each member was expected to do in a period, and what they did.

Every figure of 我的, 汇总, 未签到, 未学习, 催学, the study deadline push, the monthly push, the
chart and the Excel export comes from here, counted by the database (GROUP BY). Only
calendar arithmetic happens in Python (which check-in slots closed when, each study task's
cut-off); it reaches SQL as small CASE expressions, never as rows.

The rules:

- Daily check-in (branches that have it on): a slot is due once its window has closed, on a
  working day, and only if it closed after the member joined the roster
  (Member.created_at): someone imported at 16:05 owes that evening's slot (it closes at
  20:00) but not that morning's. A check-in made in a slot still open is shown (按时/迟到)
  but is not yet in 已签/应签; a slot nobody checked in becomes 缺 when it closes.
- Meetings: a meeting expects whom storage.events.expected_at_event() says (党员 and 预备党员
  on the roster by its start; 支委会 the committee; 党小组会 of one group its members; a
  cancelled meeting nobody). It counts once its sign-in has closed (start +
  SIGNIN_CLOSES_AFTER), so nobody is 缺席 while a late sign-in is still possible. 缺席 =
  expected with no attendance row.
- Study: a task counts in the period that holds its date: its due date, or its publish date
  when it has none. It expects, in its branch (every branch for a county-wide task), the
  党员 and 预备党员, or everyone when published for 全体, who were on the roster by the end
  of that date.
- 廉洁承诺 (pledges): counted by the study rule's date (due, else publish date) but kept
  apart from study (its own figures, never in a study rate or the ranking). It expects every
  active member of its branch (every branch for a county-wide pledge), 群众 included: it is
  the teachers' pledge, not a Party duty, and on the roster by the end of that date.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.events import SIGNIN_CLOSES_AFTER, expected_at_event
from storage.members import EXPECTED_STATUSES
from storage.models import (
    Attendance,
    AttendanceStatus,
    Branch,
    CheckIn,
    Event,
    Member,
    Pledge,
    PledgeConfirmation,
    Slot,
    StudyAudience,
    StudyConfirmation,
    StudyTask,
    UTCDateTime,
)


@dataclass(frozen=True)
class Window:
    """A period as the queries need it: local dates, [start, end) UTC instants, the zone."""

    first: date
    last: date
    start: datetime
    end: datetime
    now: datetime
    tz: ZoneInfo


def _span(windows: Sequence[Window]) -> Window:
    """The window from the first of `windows` to the last. They must not overlap: each
    row of a multi-window count falls in one."""
    if len(windows) == 1:
        return windows[0]
    ordered = sorted(windows, key=lambda w: w.start)
    for a, b in pairwise(ordered):
        if b.start < a.end or b.first <= a.last:
            raise ValueError(f"overlapping windows {a.first}~{a.last} and {b.first}~{b.last}")
        if a.now != b.now:  # one cut-off for the meetings counted
            raise ValueError("windows counted together share one `now`")
    first, last = ordered[0], ordered[-1]
    return Window(first.first, last.last, first.start, last.end, first.now, first.tz)


@dataclass(frozen=True)
class CheckinDue:
    """The daily check-in slots of one branch that closed within the period, by `now`.

    `closes` are the UTC instants at which they closed, ascending: a member owes every slot
    that closed after they joined. `closed_today` are the slots of today that have closed.
    """

    branch_id: int
    closes: tuple[datetime, ...]
    today: date
    closed_today: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Counts:
    """Figures of one member, or the sums of a branch."""

    checkin_on_time: int = 0  # every check-in of the period, open slots included
    checkin_late: int = 0
    checkin_due: int | None = None  # None: the branch has no daily check-in
    checkin_done: int = 0  # check-ins in due slots (never more than checkin_due)
    ev_expected: int = 0
    ev_present: int = 0
    ev_late: int = 0
    ev_leave: int = 0
    st_total: int = 0
    st_confirmed: int = 0  # on time and late
    st_late: int = 0
    pl_total: int = 0  # 廉洁承诺: kept apart from study
    pl_confirmed: int = 0  # on time and late
    pl_late: int = 0

    @property
    def checkin_missing(self) -> int:
        return (self.checkin_due or 0) - self.checkin_done

    @property
    def ev_absent(self) -> int:
        return self.ev_expected - self.ev_present - self.ev_late - self.ev_leave

    @property
    def st_on_time(self) -> int:
        return self.st_confirmed - self.st_late

    @property
    def st_missing(self) -> int:
        return self.st_total - self.st_confirmed

    @property
    def pl_on_time(self) -> int:
        return self.pl_confirmed - self.pl_late

    @property
    def pl_missing(self) -> int:
        return self.pl_total - self.pl_confirmed

    @property
    def pledge_rate(self) -> float | None:
        return _rate(self.pl_confirmed, self.pl_total)

    @property
    def attendance_rate(self) -> float | None:
        """(出席 + 迟到) / 应到."""
        return _rate(self.ev_present + self.ev_late, self.ev_expected)

    @property
    def checkin_rate(self) -> float | None:
        if self.checkin_due is None:
            return None
        return _rate(self.checkin_done, self.checkin_due)

    @property
    def study_rate(self) -> float | None:
        return _rate(self.st_confirmed, self.st_total)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def sum_counts(counts: Sequence[Counts]) -> Counts:
    """The sums of several rows' figures, as SQL's SUM gives them (checkin_due stays None
    when no row has a daily check-in)."""
    sums: dict[str, int | None] = {}
    for f in fields(Counts):
        present = [v for c in counts if (v := getattr(c, f.name)) is not None]
        sums[f.name] = sum(present) if present or f.name != "checkin_due" else None
    return Counts(**sums)  # type: ignore[arg-type]


@dataclass(frozen=True)
class MemberSummary:
    member_id: int
    name: str
    branch_id: int
    status: str
    joined_at: datetime
    counts: Counts


@dataclass(frozen=True)
class BranchSummary:
    branch_id: int
    name: str
    members: int
    counts: Counts
    daily_checkin: bool = False

    @property
    def score(self) -> float:
        """The mean of the rates that apply, for ranking (0 when none apply)."""
        c = self.counts
        rates = [r for r in (c.attendance_rate, c.checkin_rate, c.study_rate) if r is not None]
        return sum(rates) / len(rates) if rates else 0.0


def _scope(
    branch_ids: Sequence[int] | None, member_ids: Sequence[int] | None = None
) -> ColumnElement[bool]:
    cond = col(Member.active).is_(True)
    if branch_ids is not None:
        cond = and_(cond, col(Member.branch_id).in_(list(branch_ids)))
    if member_ids is not None:
        cond = and_(cond, col(Member.id).in_(list(member_ids)))
    return cond


def _sum_if(cond: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


# ---- the rules as SQL conditions -------------------------------------------------------


def _due_expr(dues: Sequence[CheckinDue], joins: Sequence[datetime]) -> ColumnElement[int | None]:
    """Slots due per member: how many of the branch's closing instants fall after joining.

    A step function of Member.created_at, with a step only where some member joined
    (`joins`: the join instants within the closes' span): a year has 500 closes, and
    building 500 comparisons costs more than the query."""
    # Branches with the same windows share one step function: one CASE, not one per branch.
    by_closes: dict[tuple[datetime, ...], list[int]] = {}
    for due in dues:
        by_closes.setdefault(due.closes, []).append(due.branch_id)
    whens = []
    for closes, branch_ids in by_closes.items():
        n = len(closes)
        if not n:
            whens.append((col(Member.branch_id).in_(branch_ids), literal(0)))
            continue
        # Joined at J: owes the closes strictly after J, n - k where k = #closes <= J.
        ks = sorted({bisect_right(closes, j) for j in joins if closes[0] <= j < closes[-1]})
        stepped = [(col(Member.created_at) < closes[0], literal(n))]
        stepped += [(col(Member.created_at) < closes[k], literal(n - k)) for k in ks]
        per_member = case(*stepped, else_=literal(0))
        whens.append((col(Member.branch_id).in_(branch_ids), per_member))
    # Typed NULL: PostgreSQL cannot SUM an untyped one.
    no_checkin = cast(null(), Integer)
    if not whens:
        return no_checkin
    return case(*whens, else_=no_checkin)


async def _joins_within(
    s: AsyncSession, scope: ColumnElement[bool], dues: Sequence[CheckinDue]
) -> list[datetime]:
    """When members in scope joined, if within the span of the slots' closes (few)."""
    closes = [c for d in dues for c in d.closes]
    if not closes:
        return []
    stmt = (
        select(Member.created_at)
        .where(scope, col(Member.created_at) >= min(closes), col(Member.created_at) < max(closes))
        .distinct()
    )
    return list((await s.exec(stmt)).all())


def task_cutoff(due: date | None, created_at: datetime, tz: ZoneInfo) -> datetime:
    """The end of the task's date (due date, else publish date), as a UTC instant: members
    on the roster before it are expected to study the task."""
    day = due if due is not None else created_at.astimezone(tz).date()
    return datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)


def study_expected(cutoff: ColumnElement[datetime] | datetime) -> ColumnElement[bool]:
    """Join condition Member ↔ StudyTask: whom the task expects. `cutoff` is the task's
    task_cutoff() (a value, or a CASE over task ids)."""
    if isinstance(cutoff, datetime):
        cutoff = literal(cutoff, UTCDateTime())
    return and_(
        or_(col(StudyTask.branch_id).is_(None), col(StudyTask.branch_id) == col(Member.branch_id)),
        or_(
            col(StudyTask.audience) == StudyAudience.ALL.value,
            col(Member.status).in_(EXPECTED_STATUSES),
        ),
        col(Member.created_at) < cutoff,
    )


def pledge_expected(cutoff: ColumnElement[datetime] | datetime) -> ColumnElement[bool]:
    """Join condition Member ↔ Pledge: whom the pledge expects (any 身份). `cutoff` is
    its task_cutoff() (a value, or a CASE over pledge ids)."""
    if isinstance(cutoff, datetime):
        cutoff = literal(cutoff, UTCDateTime())
    return and_(
        or_(col(Pledge.branch_id).is_(None), col(Pledge.branch_id) == col(Member.branch_id)),
        col(Member.created_at) < cutoff,
    )


def meetings_counted(w: Window) -> ColumnElement[bool]:
    """Meetings that count in the window: started in it, sign-in closed by `now`."""
    return and_(
        col(Event.starts_at) >= w.start,
        col(Event.starts_at) < w.end,
        col(Event.starts_at) <= w.now - SIGNIN_CLOSES_AFTER,
    )


@dataclass(frozen=True)
class _Kind:
    """Study tasks or 廉洁承诺, counted alike: the item, whom one expects, its confirmations
    (and their column naming the item)."""

    model: Any
    expected: Callable[[ColumnElement[datetime]], ColumnElement[bool]]
    confirmation: Any
    key: Any


STUDY = _Kind(StudyTask, study_expected, StudyConfirmation, StudyConfirmation.task_id)
PLEDGES = _Kind(Pledge, pledge_expected, PledgeConfirmation, PledgeConfirmation.pledge_id)


@dataclass(frozen=True)
class _Owed:
    """The items of a kind that count (in a window, or one item), each with its cut-off."""

    kind: _Kind
    cutoffs: tuple[tuple[int, datetime], ...]

    @property
    def ids(self) -> list[int]:
        return [t for t, _ in self.cutoffs]

    def joins(self) -> ColumnElement[bool]:
        """Join condition Member ↔ item: the items, and whom each one expects."""
        item = self.kind.model
        by_cutoff: dict[datetime, list[int]] = {}
        for item_id, cutoff in self.cutoffs:
            by_cutoff.setdefault(cutoff, []).append(item_id)
        cutoff_expr: ColumnElement[datetime]
        if len(by_cutoff) == 1:
            cutoff_expr = literal(next(iter(by_cutoff)), UTCDateTime())
        else:
            whens = [(col(item.id).in_(i), literal(c, UTCDateTime())) for c, i in by_cutoff.items()]
            cutoff_expr = case(*whens)
        return and_(col(item.id).in_(self.ids), self.kind.expected(cutoff_expr))


def _dated_in(due: date | None, created_at: datetime, w: Window) -> bool:
    """A task's or pledge's date (due, else publish) falls in the window (the SQL below)."""
    if due is not None:
        return w.first <= due <= w.last
    return w.start <= created_at < w.end


async def _dated_rows(
    s: AsyncSession, model: Any, branch_ids: Sequence[int] | None, w: Window
) -> list[tuple[int, date | None, datetime]]:
    """Study tasks or pledges whose date falls in the window, visible to the branches."""
    stmt = select(model.id, model.due, model.created_at).where(
        or_(
            and_(col(model.due).is_not(None), col(model.due) >= w.first,
                 col(model.due) <= w.last),
            and_(col(model.due).is_(None), col(model.created_at) >= w.start,
                 col(model.created_at) < w.end),
        )
    )  # fmt: skip
    if branch_ids is not None:
        stmt = stmt.where(or_(col(model.branch_id).is_(None), col(model.branch_id).in_(branch_ids)))
    rows = (await s.exec(stmt.order_by(col(model.id)))).all()
    return [(i, d, c) for i, d, c in rows if i is not None]


def _cutoffs(
    rows: Sequence[tuple[int, date | None, datetime]], w: Window
) -> tuple[tuple[int, datetime], ...]:
    return tuple((i, task_cutoff(d, c, w.tz)) for i, d, c in rows if _dated_in(d, c, w))


async def _owed_in(
    s: AsyncSession, kind: _Kind, branch_ids: Sequence[int] | None, w: Window
) -> _Owed:
    """Items whose date (due, else publish) falls in the window, visible to the branches."""
    return _Owed(kind, _cutoffs(await _dated_rows(s, kind.model, branch_ids, w), w))


# ---- per member counts -----------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    """One window of a _member_counts query, with what counts in it."""

    w: Window
    dues: Sequence[CheckinDue]
    tasks: _Owed
    pledges: _Owed


def _item_window(item_id: Any, ids: Sequence[Sequence[int]]) -> list[Any]:
    """With several windows: a column `w`, the window each study task or pledge (ids per
    window) is dated in; an item is dated in one. Nothing for a single window."""
    if len(ids) == 1:
        return []
    return [case(*((col(item_id).in_(i), literal(n)) for n, i in enumerate(ids) if i)).label("w")]


def _confirmed_counts(
    name: str, owed: _Owed, key: Sequence[Any], scope: ColumnElement[bool]
) -> Any:
    """Per member in scope: the items owed (study tasks or pledges), confirmed, late; per
    window too when `key` (_item_window) numbers the items' windows."""
    item, confirmation = owed.kind.model, owed.kind.confirmation
    return (
        select(
            *key,
            col(Member.id).label("mid"),
            func.count(col(item.id)).label("total"),
            func.count(col(confirmation.id)).label("confirmed"),
            _sum_if(col(confirmation.late).is_(True)).label("late"),
        )
        .select_from(Member)
        .join(item, owed.joins())
        .outerjoin(
            confirmation, and_(owed.kind.key == item.id, confirmation.member_id == Member.id)
        )
        .where(scope)
        .group_by(*key, col(Member.id))
        .subquery(name)
    )


def _member_counts(
    branch_ids: Sequence[int] | None,
    member_ids: Sequence[int] | None,
    parts: Sequence[_Part],
    joins: Sequence[datetime],
) -> Select[Any]:
    """One row per active member in scope with every count (a subquery). With several
    windows (disjoint, e.g. a trend's months) one row per member and window, the window's
    index in column `w`: one statement built once, not one per window."""
    scope = _scope(branch_ids, member_ids)
    span = _span([p.w for p in parts])
    dues = [d for p in parts for d in p.dues]
    # Without daily check-in nothing depends on today: take the cheap path below.
    today = dues[0].today if dues else date.max
    # Once a period is over every check-in in it is in a closed slot; only a period
    # reaching today needs today's split by whether its slots have closed (in the other
    # windows of a trend that split comes to the same: no check-in falls on today).
    splits_today = any(today <= p.w.last for p in parts)
    # Several windows: a table of them (a CTE), joined by range. Rows are numbered by the
    # window they fall in and counted per member and window; SQLite then searches the
    # check-ins index once per window (a CASE over the windows costs more than the sums).
    win = None
    if len(parts) > 1:
        win = union_all(
            *(
                select(
                    literal(i).label("w"),
                    literal(p.w.first, Date()).label("d0"),
                    literal(p.w.last, Date()).label("d1"),
                    literal(p.w.start, UTCDateTime()).label("t0"),
                    literal(p.w.end, UTCDateTime()).label("t1"),
                )
                for i, p in enumerate(parts)
            )
        ).cte("win")
    keys = [] if win is None else [win.c.w]
    counted = [
        *keys,
        col(CheckIn.member_id).label("mid"),
        _sum_if(col(CheckIn.on_time).is_(True)).label("on_time"),
        func.count().label("n"),
    ]
    if splits_today:
        # Check-ins dated after today (a summary asked "as of" a past moment) are not done.
        counted.append(_sum_if(col(CheckIn.day) < today).label("past"))

    def per_member(stmt: Select[Any]) -> Select[Any]:
        """Check-ins of the members in scope, counted per member (and window)."""
        if win is None:
            stmt = stmt.where(col(CheckIn.day) >= span.first, col(CheckIn.day) <= span.last)
        else:
            in_window = and_(col(CheckIn.day) >= win.c.d0, col(CheckIn.day) <= win.c.d1)
            stmt = stmt.select_from(CheckIn).join(win, in_window)
        if branch_ids is not None or member_ids is not None:
            stmt = stmt.where(col(CheckIn.member_id).in_(select(Member.id).where(scope)))
        return stmt.group_by(*keys, col(CheckIn.member_id))

    # The counts read only the (member, day, on_time) index; today's slots, which need
    # the row, come from a second subquery of today's check-ins alone.
    ck_sq = per_member(select(*counted)).subquery("ck")
    td_sq = None
    if splits_today:
        td_sq = per_member(
            select(
                *keys,
                col(CheckIn.member_id).label("mid"),
                _sum_if(CheckIn.slot == Slot.MORNING.value).label("tm"),
                _sum_if(CheckIn.slot == Slot.EVENING.value).label("te"),
            ).where(CheckIn.day == today)
        ).subquery("td")

    ev = (
        select(
            *keys,
            col(Member.id).label("mid"),
            func.count(col(Event.id)).label("expected"),
            _sum_if(Attendance.status == AttendanceStatus.PRESENT.value).label("present"),
            _sum_if(Attendance.status == AttendanceStatus.LATE.value).label("late"),
            _sum_if(Attendance.status == AttendanceStatus.LEAVE.value).label("leave"),
        )
        .select_from(Member)
        .join(Event, and_(expected_at_event(), meetings_counted(span)))
    )
    if win is not None:
        ev = ev.join(win, and_(col(Event.starts_at) >= win.c.t0, col(Event.starts_at) < win.c.t1))
    ev_sq = (
        ev.outerjoin(
            Attendance, and_(Attendance.event_id == Event.id, Attendance.member_id == Member.id)
        )
        .where(scope)
        .group_by(*keys, col(Member.id))
        .subquery("ev")
    )

    z = func.coalesce
    # Study tasks and pledges are counted alike, each in its own subquery ("st", "pl"),
    # left out when nothing of the kind counts in any window. An item is dated in one
    # window, so the windows' items together say whom each one expects.
    confirmed = []
    for prefix, kind, of in (
        ("st", STUDY, [p.tasks for p in parts]),
        ("pl", PLEDGES, [p.pledges for p in parts]),
    ):
        owed = _Owed(kind, tuple(c for o in of for c in o.cutoffs))
        if owed.cutoffs:
            key = _item_window(kind.model.id, [o.ids for o in of])
            confirmed.append(_confirmed_counts(prefix, owed, key, scope))
    by_name = {sq.name: sq for sq in confirmed}
    columns: list[Any] = []
    for prefix in ("st", "pl"):
        found = by_name.get(prefix)
        for f in ("total", "confirmed", "late"):
            value = z(found.c[f], 0) if found is not None else literal(0)
            columns.append(value.label(f"{prefix}_{f}"))

    if td_sq is not None:
        morning_closed = sorted({d.branch_id for d in dues if Slot.MORNING.value in d.closed_today})
        evening_closed = sorted({d.branch_id for d in dues if Slot.EVENING.value in d.closed_today})
        done = (
            z(ck_sq.c.past, 0)
            + case((col(Member.branch_id).in_(morning_closed), z(td_sq.c.tm, 0)), else_=0)
            + case((col(Member.branch_id).in_(evening_closed), z(td_sq.c.te, 0)), else_=0)
        )
    else:
        done = z(ck_sq.c.n, 0)

    due: ColumnElement[Any]
    if win is None:
        due = _due_expr(parts[0].dues, joins)

        def on(sq: Any) -> ColumnElement[bool]:
            return sq.c.mid == Member.id
    else:
        numbers = win
        due = case(
            *((win.c.w == i, _due_expr(p.dues, joins)) for i, p in enumerate(parts)),
            else_=cast(null(), Integer),
        )

        def on(sq: Any) -> ColumnElement[bool]:
            return and_(sq.c.mid == Member.id, sq.c.w == numbers.c.w)

    stmt = select(
        *keys,
        col(Member.id).label("member_id"),
        col(Member.name).label("name"),
        # type_coerce: a plain expression, so the subquery's column collection does not
        # copy the foreign key (SQLAlchemy rebuilds ForeignKey objects for every proxy,
        # the largest part of building the statement).
        type_coerce(col(Member.branch_id), Integer).label("branch_id"),
        col(Member.status).label("status"),
        col(Member.created_at).label("joined_at"),
        z(ck_sq.c.on_time, 0).label("ck_on_time"),
        (z(ck_sq.c.n, 0) - z(ck_sq.c.on_time, 0)).label("ck_late"),
        due.label("ck_due"),
        done.label("ck_done"),
        z(ev_sq.c.expected, 0).label("ev_expected"),
        z(ev_sq.c.present, 0).label("ev_present"),
        z(ev_sq.c.late, 0).label("ev_late"),
        z(ev_sq.c.leave, 0).label("ev_leave"),
        *columns,
    ).select_from(Member)
    if win is not None:
        stmt = stmt.join(win, true())
    stmt = stmt.outerjoin(ck_sq, on(ck_sq)).outerjoin(ev_sq, on(ev_sq))
    if td_sq is not None:
        stmt = stmt.outerjoin(td_sq, on(td_sq))
    for sq in confirmed:
        stmt = stmt.outerjoin(sq, on(sq))
    return stmt.where(scope)


_FIELDS = (
    "ck_on_time",
    "ck_late",
    "ck_due",
    "ck_done",
    "ev_expected",
    "ev_present",
    "ev_late",
    "ev_leave",
    "st_total",
    "st_confirmed",
    "st_late",
    "pl_total",
    "pl_confirmed",
    "pl_late",
)


def _columns(sq: Any) -> list[ColumnElement[Any]]:
    """The _FIELDS of a _member_counts subquery, 已签 capped at 应签 (a check-in in a slot
    that is not due to this member, e.g. on a day the calendar later made a rest day, is
    shown but never makes up for a missed one), and nothing when nothing is due."""
    out = []
    for f in _FIELDS:
        if f == "ck_done":
            due = sq.c.ck_due
            out.append(
                case((due.is_(None), 0), (sq.c.ck_done > due, due), else_=sq.c.ck_done).label(f)
            )
        else:
            out.append(sq.c[f])
    return out


def _counts(row: Sequence[Any]) -> Counts:
    """A Counts from the _FIELDS columns of a result row, in order."""
    values = dict(zip(_FIELDS, row, strict=True))
    due = values["ck_due"]
    return Counts(
        checkin_on_time=int(values["ck_on_time"]),
        checkin_late=int(values["ck_late"]),
        checkin_due=None if due is None else int(due),
        checkin_done=int(values["ck_done"]),
        ev_expected=int(values["ev_expected"]),
        ev_present=int(values["ev_present"]),
        ev_late=int(values["ev_late"]),
        ev_leave=int(values["ev_leave"]),
        st_total=int(values["st_total"]),
        st_confirmed=int(values["st_confirmed"]),
        st_late=int(values["st_late"]),
        pl_total=int(values["pl_total"]),
        pl_confirmed=int(values["pl_confirmed"]),
        pl_late=int(values["pl_late"]),
    )


async def member_summaries(
    s: AsyncSession,
    branch_ids: Sequence[int] | None,
    w: Window,
    dues: Sequence[CheckinDue],
    member_ids: Sequence[int] | None = None,
) -> list[MemberSummary]:
    """Per member of the branches (None: every branch; `member_ids`: only those), ordered
    by branch then member id."""
    tasks = await _owed_in(s, STUDY, branch_ids, w)
    pledges = await _owed_in(s, PLEDGES, branch_ids, w)
    joins = await _joins_within(s, _scope(branch_ids, member_ids), dues)
    part = _Part(w, dues, tasks, pledges)
    sq = _member_counts(branch_ids, member_ids, [part], joins).subquery("mc")
    stmt = select(
        sq.c.member_id, sq.c.name, sq.c.branch_id, sq.c.status, sq.c.joined_at, *_columns(sq)
    ).order_by(sq.c.branch_id, sq.c.member_id)
    rows = (await s.exec(stmt)).all()  # type: ignore[call-overload]
    return [MemberSummary(r[0], r[1], r[2], r[3], r[4], _counts(r[5:])) for r in rows]


async def branch_summaries(
    s: AsyncSession, branch_ids: Sequence[int] | None, w: Window, dues: Sequence[CheckinDue]
) -> list[BranchSummary]:
    """Per branch (None: every branch with members), the members' counts summed by SQL."""
    tasks = await _owed_in(s, STUDY, branch_ids, w)
    pledges = await _owed_in(s, PLEDGES, branch_ids, w)
    joins = await _joins_within(s, _scope(branch_ids), dues)
    sq = _member_counts(branch_ids, None, [_Part(w, dues, tasks, pledges)], joins).subquery("mc")
    stmt = (
        select(sq.c.branch_id, Branch.name, func.count(), *_branch_sums(sq))
        .join(Branch, Branch.id == sq.c.branch_id)
        .group_by(sq.c.branch_id, Branch.name)
        .order_by(sq.c.branch_id)
    )
    rows = (await s.exec(stmt)).all()  # type: ignore[call-overload]
    due_branches = {d.branch_id for d in dues}
    return [
        BranchSummary(r[0], r[1], int(r[2]), _counts(r[3:]), daily_checkin=r[0] in due_branches)
        for r in rows
    ]


def _branch_sums(sq: Any) -> list[ColumnElement[Any]]:
    sums = []
    for column in _columns(sq):
        # A branch without daily check-in keeps NULL: SUM of NULLs is NULL.
        summed = func.sum(column)
        sums.append(summed if column.name == "ck_due" else func.coalesce(summed, 0))
    return sums


async def branch_summaries_by_window(
    s: AsyncSession,
    branch_ids: Sequence[int],
    windows: Sequence[tuple[Window, Sequence[CheckinDue]]],
) -> list[list[BranchSummary]]:
    """branch_summaries for each window (e.g. the 12 months of a trend; they must not
    overlap), the same counts in four statements however many windows: the tasks, pledges
    and join instants of the whole span once, then one _member_counts numbering its
    rows by window, summed per window and branch."""
    if not windows:
        return []
    span = _span([w for w, _ in windows])
    tasks = await _dated_rows(s, StudyTask, branch_ids, span)
    pledges = await _dated_rows(s, Pledge, branch_ids, span)
    joins = await _joins_within(s, _scope(branch_ids), [d for _, ds in windows for d in ds])
    parts = [
        _Part(w, dues, _Owed(STUDY, _cutoffs(tasks, w)), _Owed(PLEDGES, _cutoffs(pledges, w)))
        for w, dues in windows
    ]
    sq = _member_counts(branch_ids, None, parts, joins).subquery("mc")
    number = sq.c.w if len(parts) > 1 else literal(0).label("w")
    stmt = select(number, sq.c.branch_id, func.count(), *_branch_sums(sq)).group_by(
        *([sq.c.w] if len(parts) > 1 else []), sq.c.branch_id
    )
    rows = (await s.exec(stmt)).all()  # type: ignore[call-overload]
    names = dict(
        (await s.exec(select(Branch.id, Branch.name).where(col(Branch.id).in_(branch_ids)))).all()
    )
    out: list[list[BranchSummary]] = [[] for _ in windows]
    for r in sorted(rows, key=lambda r: (r[0], r[1])):
        due_branches = {d.branch_id for d in windows[r[0]][1]}
        out[r[0]].append(
            BranchSummary(r[1], names.get(r[1], ""), int(r[2]), _counts(r[3:]),
                          daily_checkin=r[1] in due_branches)
        )  # fmt: skip
    return out


# ---- lists -----------------------------------------------------------------------------


async def missing_checkins(
    s: AsyncSession, closes: Mapping[int, datetime], day: date, slot: str
) -> list[tuple[int, str, int]]:
    """(branch id, name, member id) of active members who owe `slot` on `day` and have no
    check-in in it. `closes`: branch id -> when the slot closes (closed, or closing) there;
    a member who joined after that owes nothing."""
    if not closes:
        return []
    owes = or_(
        *(and_(col(Member.branch_id) == b, col(Member.created_at) < c) for b, c in closes.items())
    )
    done = exists().where(CheckIn.member_id == Member.id, CheckIn.day == day, CheckIn.slot == slot)
    stmt = (
        select(Member.branch_id, Member.name, Member.id)
        .where(_scope(list(closes)), owes, ~done)
        .order_by(col(Member.branch_id), col(Member.id))
    )
    return [(b, n, i) for b, n, i in (await s.exec(stmt)).all() if i is not None]


@dataclass(frozen=True)
class StudyRoll:
    """Who a task expects in some branches, split by whether they confirmed it."""

    done: list[tuple[int, str, int]]  # (branch id, name, member id)
    missing: list[tuple[int, str, int]]


async def study_roll(
    s: AsyncSession, task: StudyTask, branch_ids: Sequence[int], tz: ZoneInfo
) -> StudyRoll:
    """The members of the branches `task` expects, confirmed or not."""
    assert task.id is not None
    cutoff = task_cutoff(task.due, task.created_at, tz)
    return await _roll(s, _Owed(STUDY, ((task.id, cutoff),)), branch_ids)


async def _roll(s: AsyncSession, owed: _Owed, branch_ids: Sequence[int]) -> StudyRoll:
    """Who in the branches owes the one study task or pledge (`owed`), confirmed or not."""
    item, confirmation = owed.kind.model, owed.kind.confirmation
    stmt = (
        select(Member.branch_id, Member.name, Member.id, confirmation.id)
        .select_from(Member)
        .join(item, owed.joins())
        .outerjoin(
            confirmation, and_(owed.kind.key == item.id, confirmation.member_id == Member.id)
        )
        .where(_scope(branch_ids))
        .order_by(col(Member.branch_id), col(Member.id))
    )
    roll = StudyRoll([], [])
    for b, n, i, confirmed in (await s.exec(stmt)).all():
        assert i is not None
        (roll.done if confirmed is not None else roll.missing).append((b, n, i))
    return roll


async def study_missing_members(
    s: AsyncSession, task_id: int, branch_id: int, tz: ZoneInfo
) -> list[Member]:
    """Members of the branch the task expects who have not confirmed it (for pushes)."""
    task = await s.get(StudyTask, task_id)
    if task is None:
        return []
    cutoff = task_cutoff(task.due, task.created_at, tz)
    stmt = (
        select(Member)
        .join(StudyTask, and_(StudyTask.id == task_id, study_expected(cutoff)))
        .outerjoin(
            StudyConfirmation,
            and_(StudyConfirmation.task_id == task_id, StudyConfirmation.member_id == Member.id),
        )
        .where(_scope([branch_id]), col(StudyConfirmation.id).is_(None))
        .order_by(col(Member.id))
    )
    return list((await s.exec(stmt)).all())


async def roster_since(s: AsyncSession, branch_id: int) -> datetime | None:
    """When the branch's roster was first imported (its earliest member); None: empty."""
    stmt = select(func.min(Member.created_at)).where(Member.branch_id == branch_id)
    return (await s.exec(stmt)).one()


@dataclass(frozen=True)
class AttendanceRow:
    """One expected member at one counted meeting (for the export)."""

    branch: str
    number: int | None
    starts_at: datetime
    kind: str  # with its group: 党小组会（第一党小组）
    name: str
    status: str
    reason: str
    entered_by: str = ""  # the secretary who entered it afterwards (补签, 补假)


async def meeting_tallies(
    s: AsyncSession, branch_ids: Sequence[int] | None, w: Window
) -> list[tuple[int, datetime, int, int]]:
    """Each counted meeting of the window: branch, start, expected, came (出席 + 迟到).

    The member counts above, summed per meeting instead of per member (same expected and
    counted rules), so a month's sums equal that month's 汇总 figures: the 看板's trends."""
    came = col(Attendance.status).in_([AttendanceStatus.PRESENT.value, AttendanceStatus.LATE.value])
    stmt = (
        select(Event.branch_id, Event.starts_at, func.count(col(Member.id)), _sum_if(came))
        .select_from(Member)
        .join(Event, and_(expected_at_event(), meetings_counted(w)))
        .outerjoin(
            Attendance, and_(Attendance.event_id == Event.id, Attendance.member_id == Member.id)
        )
        .where(_scope(branch_ids))
        .group_by(col(Event.id), col(Event.branch_id), col(Event.starts_at))
    )
    return [(b, at, int(n), int(c or 0)) for b, at, n, c in (await s.exec(stmt)).all()]


async def attendance_rows(
    s: AsyncSession, branch_ids: Sequence[int] | None, w: Window
) -> list[AttendanceRow]:
    """Each expected member of each counted meeting in the window, 缺席 where no row exists."""
    status = func.coalesce(Attendance.status, AttendanceStatus.ABSENT.value)
    secretary = aliased(Member)
    stmt = (
        select(
            Branch.name, Event.number, Event.starts_at, Event.kind, Event.party_group,
            Member.name, status, Attendance.reason, secretary.name,
        )
        .select_from(Event)
        .join(Branch, Branch.id == Event.branch_id)
        .join(Member, expected_at_event())
        .outerjoin(
            Attendance, and_(Attendance.event_id == Event.id, Attendance.member_id == Member.id)
        )
        .outerjoin(secretary, secretary.id == Attendance.entered_by)
        .where(_scope(branch_ids), meetings_counted(w))
        .order_by(col(Event.starts_at), col(Event.id), col(Member.id))
    )  # fmt: skip
    rows = (await s.exec(stmt)).all()  # type: ignore[call-overload]
    return [
        AttendanceRow(b, no, at, f"{k}（{g}）" if g else k, n, st, r or "", by or "")
        for b, no, at, k, g, n, st, r, by in rows
    ]


@dataclass(frozen=True)
class StudyRow:
    """One member and one study task that counts in the window (for the export)."""

    task_id: int
    title: str
    due: date | None
    branch: str
    name: str
    confirmed_at: datetime | None
    late: bool


async def study_rows(
    s: AsyncSession, branch_ids: Sequence[int] | None, w: Window
) -> list[StudyRow]:
    tasks = await _owed_in(s, STUDY, branch_ids, w)
    if not tasks.cutoffs:
        return []
    rows = await _confirmation_rows(s, tasks, branch_ids)
    return [StudyRow(*r) for r in rows]


async def _confirmation_rows(
    s: AsyncSession, owed: _Owed, branch_ids: Sequence[int] | None
) -> list[tuple[int, str, date | None, str, str, datetime | None, bool]]:
    """Each member owing each study task or pledge (`owed`): id, title, due, branch,
    name, when confirmed, late; by item, branch, member (the export's rows)."""
    item, confirmation = owed.kind.model, owed.kind.confirmation
    stmt = (
        select(
            item.id,
            item.title,
            item.due,
            Branch.name,
            Member.name,
            confirmation.at,
            confirmation.late,
        )
        .select_from(item)
        .join(Member, owed.joins())
        .join(Branch, Branch.id == Member.branch_id)
        .outerjoin(
            confirmation, and_(owed.kind.key == item.id, confirmation.member_id == Member.id)
        )
        .where(_scope(branch_ids))
        .order_by(col(item.id), col(Member.branch_id), col(Member.id))
    )
    rows = (await s.exec(stmt)).all()  # type: ignore[call-overload]
    return [(i, ti, d, b, n, at, bool(late)) for i, ti, d, b, n, at, late in rows]


# ---- 廉洁承诺 ----------------------------------------------------------------------------


async def pledge_roll(
    s: AsyncSession, pledge: Pledge, branch_ids: Sequence[int], tz: ZoneInfo
) -> StudyRoll:
    """The members of the branches `pledge` expects, confirmed or not."""
    assert pledge.id is not None
    cutoff = task_cutoff(pledge.due, pledge.created_at, tz)
    return await _roll(s, _Owed(PLEDGES, ((pledge.id, cutoff),)), branch_ids)


@dataclass(frozen=True)
class PledgeRow:
    """One member and one pledge that counts in the window (for the export)."""

    pledge_id: int
    title: str
    due: date | None
    branch: str
    name: str
    confirmed_at: datetime | None
    late: bool


async def pledge_rows(
    s: AsyncSession, branch_ids: Sequence[int] | None, w: Window
) -> list[PledgeRow]:
    pledges = await _owed_in(s, PLEDGES, branch_ids, w)
    if not pledges.cutoffs:
        return []
    rows = await _confirmation_rows(s, pledges, branch_ids)
    return [PledgeRow(*r) for r in rows]
