"""纪要: meeting records for the 台账, with the images sent soon after, and the ledger rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.accounting import Window, meetings_counted
from storage.events import expected_at_event
from storage.models import Attendance, AttendanceStatus, Branch, Event, MeetingNote, Member


async def add(
    s: AsyncSession,
    event_id: int,
    by_member_id: int,
    at: datetime,
    *,
    topic: str = "",
    body: str = "",
    image: str = "",
) -> MeetingNote:
    note = MeetingNote(
        event_id=event_id, topic=topic, body=body, image=image, by_member_id=by_member_id, at=at
    )
    s.add(note)
    await s.flush()
    return note


async def notes_of(s: AsyncSession, event_id: int) -> Sequence[MeetingNote]:
    """The meeting's notes, oldest first."""
    stmt = (
        select(MeetingNote)
        .where(MeetingNote.event_id == event_id)
        .order_by(col(MeetingNote.at), col(MeetingNote.id))
    )
    return (await s.exec(stmt)).all()


async def has_notes(s: AsyncSession, event_id: int) -> bool:
    stmt = select(MeetingNote.id).where(MeetingNote.event_id == event_id).limit(1)
    return (await s.exec(stmt)).first() is not None


async def author_names(s: AsyncSession, notes: Sequence[MeetingNote]) -> dict[int, str]:
    """Who wrote the notes, by member id."""
    ids = list({n.by_member_id for n in notes if n.by_member_id is not None})
    if not ids:
        return {}
    stmt = select(Member.id, Member.name).where(col(Member.id).in_(ids))
    return {i: name for i, name in (await s.exec(stmt)).all() if i is not None}


async def last_written(
    s: AsyncSession, member_id: int, since: datetime
) -> tuple[MeetingNote, Event] | None:
    """The member's latest text note (a 纪要, not an image) written at or after `since`,
    with its meeting."""
    stmt = (
        select(MeetingNote, Event)
        .join(Event, col(Event.id) == col(MeetingNote.event_id))
        .where(MeetingNote.by_member_id == member_id, MeetingNote.image == "")
        .where(col(MeetingNote.at) >= since)
        .order_by(col(MeetingNote.at).desc(), col(MeetingNote.id).desc())
        .limit(1)
    )
    found = (await s.exec(stmt)).first()
    return None if found is None else (found[0], found[1])


async def without_notes(
    s: AsyncSession, started_after: datetime, started_before: datetime
) -> Sequence[tuple[Event, Branch]]:
    """Meetings not cancelled that started in (started_after, started_before] and have no
    note yet, with their branches, oldest first."""
    noted = select(MeetingNote.event_id).where(col(MeetingNote.event_id) == Event.id)
    stmt = (
        select(Event, Branch)
        .join(Branch, col(Branch.id) == col(Event.branch_id))
        .where(col(Event.cancelled_at).is_(None))
        .where(col(Event.starts_at) > started_after, col(Event.starts_at) <= started_before)
        .where(~noted.exists())
        .order_by(col(Event.starts_at), col(Event.id))
    )
    return (await s.exec(stmt)).all()


# ---- the 台账 -------------------------------------------------------------------------


@dataclass
class LedgerMeeting:
    """One meeting as the 三会一课 记录本 has it: who was expected and what happened."""

    event: Event
    branch: str
    expected: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    leave: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    absent: list[str] = field(default_factory=list)
    notes: list[MeetingNote] = field(default_factory=list)


async def ledger(
    s: AsyncSession, branch_ids: Sequence[int] | None, w: Window
) -> list[LedgerMeeting]:
    """The meetings that count in the window (storage.accounting.meetings_counted), not
    cancelled, each with the names the accounting rules give (as 汇总 and 导出) and its
    notes; by time."""
    stmt = (
        select(Event, Branch.name)
        .join(Branch, col(Branch.id) == col(Event.branch_id))
        .where(col(Event.cancelled_at).is_(None), meetings_counted(w))
        .order_by(col(Event.starts_at), col(Event.id))
    )
    if branch_ids is not None:
        stmt = stmt.where(col(Event.branch_id).in_(list(branch_ids)))
    found = {
        e.id: LedgerMeeting(e, name) for e, name in (await s.exec(stmt)).all() if e.id is not None
    }
    if not found:
        return []
    ids = list(found)
    status = func.coalesce(Attendance.status, AttendanceStatus.ABSENT.value)
    people = (
        select(Event.id, Member.name, status, Attendance.reason)
        .select_from(Event)
        .join(Member, expected_at_event())
        .outerjoin(
            Attendance, and_(Attendance.event_id == Event.id, Attendance.member_id == Member.id)
        )
        .where(col(Event.id).in_(ids), col(Member.active).is_(True))
        .order_by(col(Event.id), col(Member.id))
    )
    for event_id, name, st, reason in (await s.exec(people)).all():  # type: ignore[call-overload]
        m = found[event_id]
        m.expected.append(name)
        if st == AttendanceStatus.PRESENT.value:
            m.present.append(name)
        elif st == AttendanceStatus.LATE.value:
            m.late.append(name)
        elif st == AttendanceStatus.LEAVE.value:
            m.leave.append((name, reason or ""))
        else:
            m.absent.append(name)
    notes = (
        select(MeetingNote)
        .where(col(MeetingNote.event_id).in_(ids))
        .order_by(col(MeetingNote.at), col(MeetingNote.id))
    )
    for note in (await s.exec(notes)).all():
        found[note.event_id].notes.append(note)
    return list(found.values())
