"""Secretaries' summaries: every figure is counted by the database (GROUP BY).

Only calendar arithmetic happens in Python (which check-in slots fell due, per branch);
it reaches SQL as a small CASE expression, never as rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
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
)
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.events import SIGNIN_CLOSES_AFTER
from storage.members import EXPECTED_STATUSES
from storage.models import (
    Attendance,
    AttendanceStatus,
    Branch,
    CheckIn,
    Event,
    Member,
    Slot,
    StudyConfirmation,
    StudyTask,
)


@dataclass(frozen=True)
class CheckinDue:
    """The daily check-in slots of one branch that closed within the period.

    `steps` are (end of a working day as a UTC instant, slots due from that day to the end
    of the period), ascending: a member who joined before the first instant owes the first
    count, and so on. `closed_today` are the slots of today that have already closed.
    """

    branch_id: int
    steps: tuple[tuple[datetime, int], ...]
    today: date
    closed_today: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Window:
    """A period as the queries need it: local dates and [start, end) UTC instants."""

    first: date
    last: date
    start: datetime
    end: datetime
    now: datetime


@dataclass(frozen=True)
class Counts:
    """Figures of one member, or the sums of a branch."""

    checkin_on_time: int = 0
    checkin_late: int = 0
    checkin_due: int | None = None  # None: the branch has no daily check-in
    checkin_done: int = 0  # check-ins in slots that have closed
    ev_expected: int = 0
    ev_present: int = 0
    ev_late: int = 0
    ev_leave: int = 0
    st_total: int = 0
    st_confirmed: int = 0  # on time and late
    st_late: int = 0

    @property
    def checkin_missing(self) -> int:
        return max(0, (self.checkin_due or 0) - self.checkin_done)

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
    def attendance_rate(self) -> float | None:
        """(出席 + 迟到) / 应到."""
        return _rate(self.ev_present + self.ev_late, self.ev_expected)

    @property
    def checkin_rate(self) -> float | None:
        if self.checkin_due is None:
            return None
        return _rate(min(self.checkin_done, self.checkin_due), self.checkin_due)

    @property
    def study_rate(self) -> float | None:
        return _rate(self.st_confirmed, self.st_total)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class MemberSummary:
    member_id: int
    name: str
    branch_id: int
    status: str
    counts: Counts


@dataclass(frozen=True)
class BranchSummary:
    branch_id: int
    name: str
    members: int
    counts: Counts
    daily_checkin: bool = field(default=False)

    @property
    def score(self) -> float:
        """The mean of the rates that apply, for ranking (0 when none apply)."""
        c = self.counts
        rates = [r for r in (c.attendance_rate, c.checkin_rate, c.study_rate) if r is not None]
        return sum(rates) / len(rates) if rates else 0.0


def _scope(branch_ids: Sequence[int] | None) -> ColumnElement[bool]:
    base = col(Member.active).is_(True)
    if branch_ids is None:
        return base
    return and_(base, col(Member.branch_id).in_(list(branch_ids)))


def _sum_if(cond: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _due_expr(dues: Sequence[CheckinDue]) -> ColumnElement[int | None]:
    """Slots due per member: a step function of the member's join time, per branch."""
    # Branches with the same windows share one step function: one CASE, not one per branch.
    by_steps: dict[tuple[tuple[datetime, int], ...], list[int]] = {}
    for due in dues:
        by_steps.setdefault(due.steps, []).append(due.branch_id)
    whens = []
    for steps, branch_ids in by_steps.items():
        stepped = [(col(Member.created_at) < end, literal(n)) for end, n in steps]
        per_member = case(*stepped, else_=literal(0)) if stepped else literal(0)
        whens.append((col(Member.branch_id).in_(branch_ids), per_member))
    # Typed NULL: PostgreSQL cannot SUM an untyped one.
    no_checkin = cast(null(), Integer)
    if not whens:
        return no_checkin
    return case(*whens, else_=no_checkin)


def _member_counts(
    branch_ids: Sequence[int] | None, w: Window, dues: Sequence[CheckinDue]
) -> Select[Any]:
    """One row per active member in scope with every count (a subquery)."""
    scope = _scope(branch_ids)
    in_scope = select(Member.id).where(scope)
    # Without daily check-in nothing depends on today: take the cheap path below.
    today = dues[0].today if dues else date.max
    # Once the period is over every check-in in it counts; only a period reaching today
    # needs today's slots split by whether they have closed (and costs more per row).
    splits_today = today <= w.last
    counted = [
        col(CheckIn.member_id).label("mid"),
        _sum_if(col(CheckIn.on_time).is_(True)).label("on_time"),
        func.count().label("n"),
    ]
    if splits_today:
        counted += [
            _sum_if(col(CheckIn.day) < today).label("past"),
            _sum_if(and_(CheckIn.day == today, CheckIn.slot == Slot.MORNING.value)).label("tm"),
            _sum_if(and_(CheckIn.day == today, CheckIn.slot == Slot.EVENING.value)).label("te"),
        ]
    ck = (
        select(*counted)
        .where(col(CheckIn.day) >= w.first, col(CheckIn.day) <= w.last)
        .group_by(col(CheckIn.member_id))
    )
    if branch_ids is not None:
        ck = ck.where(col(CheckIn.member_id).in_(in_scope))
    ck_sq = ck.subquery("ck")

    closed_by = w.now - SIGNIN_CLOSES_AFTER
    ev = (
        select(
            col(Member.id).label("mid"),
            func.count(col(Event.id)).label("expected"),
            _sum_if(Attendance.status == AttendanceStatus.PRESENT.value).label("present"),
            _sum_if(Attendance.status == AttendanceStatus.LATE.value).label("late"),
            _sum_if(Attendance.status == AttendanceStatus.LEAVE.value).label("leave"),
        )
        .select_from(Member)
        .join(
            Event,
            and_(
                Event.branch_id == Member.branch_id,
                col(Event.starts_at) >= w.start,
                col(Event.starts_at) < w.end,
                col(Event.starts_at) <= closed_by,
                # Nobody is expected at a meeting held before they were on the roster.
                col(Event.starts_at) >= col(Member.created_at),
            ),
        )
        .outerjoin(
            Attendance, and_(Attendance.event_id == Event.id, Attendance.member_id == Member.id)
        )
        .where(scope, col(Member.status).in_(EXPECTED_STATUSES))
        .group_by(col(Member.id))
        .subquery("ev")
    )

    st = (
        select(
            col(Member.id).label("mid"),
            func.count(col(StudyTask.id)).label("total"),
            func.count(col(StudyConfirmation.id)).label("confirmed"),
            _sum_if(col(StudyConfirmation.late).is_(True)).label("late"),
        )
        .select_from(Member)
        .join(
            StudyTask,
            and_(
                or_(col(StudyTask.branch_id).is_(None), StudyTask.branch_id == Member.branch_id),
                col(StudyTask.created_at) >= w.start,
                col(StudyTask.created_at) < w.end,
            ),
        )
        .outerjoin(
            StudyConfirmation,
            and_(
                StudyConfirmation.task_id == StudyTask.id,
                StudyConfirmation.member_id == Member.id,
            ),
        )
        .where(scope)
        .group_by(col(Member.id))
        .subquery("st")
    )

    z = func.coalesce
    if splits_today:
        morning_closed = [d.branch_id for d in dues if Slot.MORNING.value in d.closed_today]
        evening_closed = [d.branch_id for d in dues if Slot.EVENING.value in d.closed_today]
        done = (
            z(ck_sq.c.past, 0)
            + case((col(Member.branch_id).in_(morning_closed), z(ck_sq.c.tm, 0)), else_=0)
            + case((col(Member.branch_id).in_(evening_closed), z(ck_sq.c.te, 0)), else_=0)
        )
    else:
        done = z(ck_sq.c.n, 0)
    return (
        select(
            col(Member.id).label("member_id"),
            col(Member.name).label("name"),
            col(Member.branch_id).label("branch_id"),
            col(Member.status).label("status"),
            z(ck_sq.c.on_time, 0).label("ck_on_time"),
            (z(ck_sq.c.n, 0) - z(ck_sq.c.on_time, 0)).label("ck_late"),
            _due_expr(dues).label("ck_due"),
            done.label("ck_done"),
            z(ev.c.expected, 0).label("ev_expected"),
            z(ev.c.present, 0).label("ev_present"),
            z(ev.c.late, 0).label("ev_late"),
            z(ev.c.leave, 0).label("ev_leave"),
            z(st.c.total, 0).label("st_total"),
            z(st.c.confirmed, 0).label("st_confirmed"),
            z(st.c.late, 0).label("st_late"),
        )
        .select_from(Member)
        .outerjoin(ck_sq, ck_sq.c.mid == Member.id)
        .outerjoin(ev, ev.c.mid == Member.id)
        .outerjoin(st, st.c.mid == Member.id)
        .where(scope)
    )


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
)


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
    )


async def member_summaries(
    s: AsyncSession, branch_ids: Sequence[int] | None, w: Window, dues: Sequence[CheckinDue]
) -> list[MemberSummary]:
    """Per member of the branches (None: every branch), ordered by branch then member id."""
    sq = _member_counts(branch_ids, w, dues).subquery("mc")
    stmt = select(
        sq.c.member_id, sq.c.name, sq.c.branch_id, sq.c.status, *(sq.c[f] for f in _FIELDS)
    ).order_by(sq.c.branch_id, sq.c.member_id)
    rows = (await s.exec(stmt)).all()  # type: ignore[call-overload]
    return [MemberSummary(r[0], r[1], r[2], r[3], _counts(r[4:])) for r in rows]


async def branch_summaries(
    s: AsyncSession, branch_ids: Sequence[int] | None, w: Window, dues: Sequence[CheckinDue]
) -> list[BranchSummary]:
    """Per branch (None: every branch with members), the members' counts summed by SQL."""
    sq = _member_counts(branch_ids, w, dues).subquery("mc")
    sums = []
    for f in _FIELDS:
        # A branch without daily check-in keeps NULL: SUM of NULLs is NULL.
        sums.append(func.sum(sq.c[f]) if f == "ck_due" else func.coalesce(func.sum(sq.c[f]), 0))
    stmt = (
        select(sq.c.branch_id, Branch.name, func.count(), *sums)
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


async def missing_checkins(
    s: AsyncSession, branch_ids: Sequence[int], day: date, slot: str
) -> list[tuple[int, str, int]]:
    """(branch id, name, member id) of active members with no check-in in `slot` on `day`."""
    done = exists().where(CheckIn.member_id == Member.id, CheckIn.day == day, CheckIn.slot == slot)
    stmt = (
        select(Member.branch_id, Member.name, Member.id)
        .where(_scope(branch_ids), ~done)
        .order_by(col(Member.branch_id), col(Member.id))
    )
    return [(b, n, i) for b, n, i in (await s.exec(stmt)).all() if i is not None]


async def missing_study(
    s: AsyncSession, task_id: int, branch_ids: Sequence[int]
) -> list[tuple[int, str, int]]:
    """(branch id, name, member id) of active members of the branches without a confirmation."""
    done = exists().where(
        StudyConfirmation.task_id == task_id, StudyConfirmation.member_id == Member.id
    )
    stmt = (
        select(Member.branch_id, Member.name, Member.id)
        .where(_scope(branch_ids), ~done)
        .order_by(col(Member.branch_id), col(Member.id))
    )
    return [(b, n, i) for b, n, i in (await s.exec(stmt)).all() if i is not None]


async def study_progress(s: AsyncSession, task_id: int, branch_ids: Sequence[int]) -> int:
    """How many active members of the branches confirmed the task."""
    stmt = (
        select(func.count())
        .select_from(StudyConfirmation)
        .join(Member, Member.id == StudyConfirmation.member_id)
        .where(StudyConfirmation.task_id == task_id, _scope(branch_ids))
    )
    return int((await s.exec(stmt)).one())


async def newest_task(s: AsyncSession, branch_id: int | None) -> StudyTask | None:
    """The newest task visible to a branch (its own or county-wide); None branch: any."""
    stmt = select(StudyTask).order_by(col(StudyTask.id).desc()).limit(1)
    if branch_id is not None:
        stmt = stmt.where(or_(col(StudyTask.branch_id).is_(None), StudyTask.branch_id == branch_id))
    return (await s.exec(stmt)).first()


@dataclass(frozen=True)
class AttendanceRow:
    """One expected member at one closed event (for the export)."""

    branch: str
    starts_at: datetime
    kind: str
    name: str
    status: str
    reason: str


async def attendance_rows(
    s: AsyncSession, branch_ids: Sequence[int] | None, w: Window
) -> list[AttendanceRow]:
    """Each expected member of each closed event in the window, 缺席 where no row exists."""
    status = func.coalesce(Attendance.status, AttendanceStatus.ABSENT.value)
    stmt = (
        select(Branch.name, Event.starts_at, Event.kind, Member.name, status, Attendance.reason)
        .select_from(Event)
        .join(Branch, Branch.id == Event.branch_id)
        .join(
            Member,
            and_(
                Member.branch_id == Event.branch_id,
                col(Event.starts_at) >= col(Member.created_at),
            ),
        )
        .outerjoin(
            Attendance, and_(Attendance.event_id == Event.id, Attendance.member_id == Member.id)
        )
        .where(_scope(branch_ids), col(Member.status).in_(EXPECTED_STATUSES))
        .where(col(Event.starts_at) >= w.start, col(Event.starts_at) < w.end)
        .where(col(Event.starts_at) <= w.now - SIGNIN_CLOSES_AFTER)
        .order_by(col(Event.starts_at), col(Event.id), col(Member.id))
    )
    rows = (await s.exec(stmt)).all()  # type: ignore[call-overload]
    return [AttendanceRow(b, at, k, n, st, r or "") for b, at, k, n, st, r in rows]


@dataclass(frozen=True)
class StudyRow:
    """One member and one study task created in the window (for the export)."""

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
    stmt = (
        select(
            StudyTask.id,
            StudyTask.title,
            StudyTask.due,
            Branch.name,
            Member.name,
            StudyConfirmation.at,
            StudyConfirmation.late,
        )
        .select_from(StudyTask)
        .join(
            Member,
            or_(col(StudyTask.branch_id).is_(None), StudyTask.branch_id == Member.branch_id),
        )
        .join(Branch, Branch.id == Member.branch_id)
        .outerjoin(
            StudyConfirmation,
            and_(
                StudyConfirmation.task_id == StudyTask.id,
                StudyConfirmation.member_id == Member.id,
            ),
        )
        .where(_scope(branch_ids))
        .where(col(StudyTask.created_at) >= w.start, col(StudyTask.created_at) < w.end)
        .order_by(col(StudyTask.id), col(Member.branch_id), col(Member.id))
    )
    rows = (await s.exec(stmt)).all()  # type: ignore[call-overload]
    return [StudyRow(t, ti, d, b, n, at, bool(late)) for t, ti, d, b, n, at, late in rows]
