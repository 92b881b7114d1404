"""Queries the reminder rules need: rule events, who is missing, the monthly figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from storage.accounting import study_missing_members
from storage.events import expected_at_event
from storage.models import (
    Account,
    Attendance,
    AttendanceStatus,
    Branch,
    Event,
    Member,
    Role,
    StudyTask,
)


@dataclass(frozen=True)
class RuleEvent:
    """A meeting the annual plan asks of a branch, to be created once."""

    branch_id: int
    kind: str
    starts_at: datetime
    place: str
    rule_key: str
    period: tuple[datetime, datetime]  # the branch's own meeting of this kind in it counts
    party_group: str = ""  # a 党小组会 of one 党小组; "" the whole branch


_IN_CHUNK = 500  # keys per IN (...): well inside every SQLite build's variable limit


async def ensure_rule_events(s: AsyncSession, wanted: Sequence[RuleEvent], now: datetime) -> int:
    """Create each rule event once (by rule_key), unless its branch already has a meeting of
    that kind in the same period: its own, a rule meeting moved there, or one cancelled (a
    cancelled meeting stands for its period, so the rule does not bring it back). For a
    党小组会 of one 党小组, a meeting of that group or of the whole branch counts. Returns
    how many it asked to insert (another replica's planner may have won some of them).

    The planner asks for every branch's meetings on every pass (250 branches: 750 events),
    so this reads what exists in two queries and writes only what is missing."""
    if not wanted:
        return 0
    keys = [w.rule_key for w in wanted]
    have: set[str] = set()
    for i in range(0, len(keys), _IN_CHUNK):
        stmt = select(Event.rule_key).where(col(Event.rule_key).in_(keys[i : i + _IN_CHUNK]))
        have.update(k for k in (await s.exec(stmt)).all() if k is not None)
    todo = [w for w in wanted if w.rule_key not in have]
    if not todo:
        return 0
    own_stmt = select(Event.branch_id, Event.kind, Event.party_group, Event.starts_at).where(
        col(Event.starts_at) >= min(w.period[0] for w in todo),
        col(Event.starts_at) < max(w.period[1] for w in todo),
    )
    own: dict[tuple[int, str], list[tuple[str, datetime]]] = {}
    for branch_id, kind, group, starts in (await s.exec(own_stmt)).all():
        own.setdefault((branch_id, kind), []).append((group, starts))  # aware (UTCDateTime)

    def scheduled_by_branch(w: RuleEvent) -> bool:
        lo, hi = w.period
        return any(
            lo <= t < hi and (not w.party_group or g in ("", w.party_group))
            for g, t in own.get((w.branch_id, w.kind), ())
        )

    todo = sorted((w for w in todo if not scheduled_by_branch(w)), key=lambda w: w.starts_at)
    if not todo:
        return 0
    # Each branch's meetings are numbered on from its highest number, in time order.
    top_stmt = (
        select(Event.branch_id, sa.func.max(Event.number))
        .where(col(Event.branch_id).in_({w.branch_id for w in todo}))
        .group_by(col(Event.branch_id))
    )
    top: dict[int, int] = {b: n or 0 for b, n in (await s.exec(top_stmt)).all()}
    rows = []
    for w in todo:
        top[w.branch_id] = top.get(w.branch_id, 0) + 1
        rows.append(
            {
                "branch_id": w.branch_id,
                "number": top[w.branch_id],
                "kind": w.kind,
                "starts_at": w.starts_at,
                "place": w.place,
                "party_group": w.party_group,
                "rule_key": w.rule_key,
                "created_at": now,
            }
        )
    dialect = s.bind.dialect.name if s.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # ON CONFLICT (any unique key): another replica's planner may create the same events, or
    # take the same numbers, at the same moment; what it skipped, the next pass creates.
    stmt = insert(Event).on_conflict_do_nothing()
    await s.exec(stmt, params=rows)  # type: ignore[call-overload]
    return len(rows)


async def events_between(
    s: AsyncSession, start: datetime, end: datetime
) -> Sequence[tuple[Event, Branch]]:
    """Meetings starting in [start, end), cancelled ones left out (they push nothing)."""
    stmt = (
        select(Event, Branch)
        .join(Branch, col(Branch.id) == Event.branch_id)
        .where(col(Event.starts_at) >= start, col(Event.starts_at) < end)
        .where(col(Event.cancelled_at).is_(None))
        .order_by(col(Event.starts_at), col(Event.id))
    )
    return (await s.exec(stmt)).all()


async def secretaries(s: AsyncSession, branch_id: int | None = None) -> Sequence[Member]:
    """书记 of one branch, or of every branch."""
    stmt = select(Member).where(Member.role == Role.SECRETARY.value, Member.active)
    if branch_id is not None:
        stmt = stmt.where(Member.branch_id == branch_id)
    return (await s.exec(stmt.order_by(col(Member.branch_id), col(Member.id)))).all()


async def admins(s: AsyncSession) -> Sequence[Member]:
    """The county's 管理员 (active)."""
    stmt = select(Member).where(Member.role == Role.ADMIN.value, Member.active)
    return (await s.exec(stmt.order_by(col(Member.id)))).all()


def _expected_at(event_id: int | None) -> SelectOfScalar[Member]:
    """Active members the meeting expects (storage.events.expected_at_event)."""
    return (
        select(Member)
        .join(Event, expected_at_event())
        .where(col(Event.id) == event_id, col(Member.active))
    )


async def event_expected(s: AsyncSession, event: Event) -> Sequence[Member]:
    """Who the meeting expects (应到), in roster order."""
    return (await s.exec(_expected_at(event.id).order_by(col(Member.id)))).all()


async def event_absentees(s: AsyncSession, event: Event) -> Sequence[Member]:
    """Expected members with no attendance row (缺席): neither signed in nor on leave."""
    stmt = (
        _expected_at(event.id)
        .outerjoin(
            Attendance,
            sa.and_(Attendance.member_id == Member.id, Attendance.event_id == event.id),
        )
        .where(col(Attendance.id).is_(None))
        .order_by(col(Member.id))
    )
    return (await s.exec(stmt)).all()


async def event_leaves(s: AsyncSession, event: Event) -> Sequence[tuple[Member, str]]:
    """Expected members on leave (请假), with their reasons."""
    stmt = (
        select(Member, Attendance.reason)
        .join(Event, expected_at_event())
        .join(
            Attendance,
            sa.and_(Attendance.member_id == Member.id, Attendance.event_id == Event.id),
        )
        .where(col(Event.id) == event.id, col(Member.active))
        .where(Attendance.status == AttendanceStatus.LEAVE.value)
        .order_by(col(Member.id))
    )
    return [(m, reason) for m, reason in (await s.exec(stmt)).all()]


async def unconfirmed(
    s: AsyncSession, task_id: int, branch_id: int, tz: ZoneInfo
) -> Sequence[Member]:
    """Members of the branch the task expects (storage.accounting: its audience, on the
    roster by its due date) who have not confirmed it."""
    return await study_missing_members(s, task_id, branch_id, tz)


async def tasks_due_between(s: AsyncSession, first: date, last: date) -> Sequence[StudyTask]:
    stmt = select(StudyTask).where(col(StudyTask.due) >= first, col(StudyTask.due) <= last)
    return (await s.exec(stmt.order_by(col(StudyTask.id)))).all()


async def accounts_of_member(s: AsyncSession, member_id: int) -> Sequence[Account]:
    stmt = select(Account).where(Account.member_id == member_id).order_by(col(Account.id))
    return (await s.exec(stmt)).all()
