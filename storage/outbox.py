"""The outbox: one row per push and target, claimed before sending so it goes out once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Group, Member, Outbox, OutboxState

_CHUNK = 200  # rows per INSERT, well under SQLite's bound-variable limit
_DEFAULTS: dict[str, Any] = {
    "group_id": None,
    "member_id": None,
    "state": OutboxState.PENDING.value,
    "attempts": 0,
    "next_attempt_at": None,
    "claimed_by": None,
    "claimed_until": None,
    "last_error": "",
    "sent_at": None,
}


async def enqueue(s: AsyncSession, rows: Sequence[dict[str, Any]], now: datetime) -> None:
    """Write rows ahead of time, once per key.

    A row already written is left alone, except that a pending row nobody has tried yet
    takes the new due time and text (a calendar override or an edited template).
    """
    if not rows:
        return
    dialect = s.bind.dialect.name if s.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for i in range(0, len(rows), _CHUNK):
        # A multi-row INSERT needs every column in every row.
        chunk = [{**_DEFAULTS, "created_at": now, **r} for r in rows[i : i + _CHUNK]]
        stmt = insert(Outbox).values(chunk)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={"due_at": stmt.excluded.due_at, "payload": stmt.excluded.payload},
            where=sa.and_(
                col(Outbox.state) == OutboxState.PENDING.value, col(Outbox.attempts) == 0
            ),
        )
        await s.exec(stmt)  # type: ignore[call-overload]


async def mark_missed(s: AsyncSession, before: datetime, now: datetime) -> int:
    """Rows that fell due before `before` and were never tried: too late to send."""
    stmt = (
        sa.update(Outbox)
        .where(col(Outbox.state) == OutboxState.PENDING.value)
        .where(col(Outbox.attempts) == 0)
        .where(col(Outbox.due_at) < before)
        .values(state=OutboxState.MISSED.value, last_error="停机超过宽限期，未发送", sent_at=None)
    )
    result = await s.exec(stmt)  # type: ignore[call-overload]
    return int(result.rowcount or 0)


_PENDING, _SENDING = OutboxState.PENDING.value, OutboxState.SENDING.value


async def withdraw(s: AsyncSession, prefix: str, why: str, retire_as: str = "") -> int:
    """Withdraw the pushes whose keys start with `prefix` (a meeting cancelled or moved):
    rows still waiting are marked skipped with `why`. Returns how many.

    With `retire_as`, every row of the prefix (sent ones too) is renamed from `prefix` to
    `retire_as`, so the planner writes the occurrences afresh under the old keys (a moved
    meeting's preview, day-of and sign-in pushes for its new time). `retire_as` must not
    itself start with `prefix`, and must be new (e.g. carry the moment of the move).
    """
    mine = col(Outbox.key).startswith(prefix, autoescape=True)
    stmt = (
        sa.update(Outbox)
        .where(mine, col(Outbox.state) == _PENDING)
        .values(state=OutboxState.SKIPPED.value, last_error=why[:500], next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    result = await s.exec(stmt)  # type: ignore[call-overload]
    if retire_as:
        assert not retire_as.startswith(prefix)
        # A row being sent right now keeps its id and claim: the worker records it by id.
        rename = (
            sa.update(Outbox)
            .where(mine)
            .values(key=sa.func.replace(Outbox.key, prefix, retire_as))
            .execution_options(synchronize_session=False)
        )
        await s.exec(rename)  # type: ignore[call-overload]
    return int(result.rowcount or 0)


def _claimable(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(
            col(Outbox.state) == _PENDING,
            col(Outbox.due_at) <= now,
            sa.or_(col(Outbox.next_attempt_at).is_(None), col(Outbox.next_attempt_at) <= now),
        ),
        sa.and_(col(Outbox.state) == _SENDING, col(Outbox.claimed_until) < now),
    )


async def claim_due(
    s: AsyncSession, now: datetime, token: str, until: datetime, limit: int
) -> list[Outbox]:
    """Claim up to `limit` due rows for `token`; a row can be won by one claimer only.

    The UPDATE re-checks each row's state itself, so of two workers racing for a row
    (SQLite serialises writers; PostgreSQL re-evaluates the WHERE after the row lock), one
    updates it and the other matches nothing. On PostgreSQL SKIP LOCKED lets them pass
    each other instead of queueing. A claim whose lease ran out (a crashed worker) is due
    again. Returns every row claimed under `token` and not finished, oldest due first.
    """
    # Pick the ids first: PostgreSQL may re-run a LIMIT subquery inside an UPDATE and so
    # claim more rows than asked. FOR UPDATE SKIP LOCKED (ignored by SQLite) locks them.
    pick = (
        select(Outbox.id)
        .where(_claimable(now))
        .order_by(col(Outbox.due_at), col(Outbox.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await s.exec(pick)).all())
    if ids:
        claim = (
            sa.update(Outbox)
            .where(col(Outbox.id).in_(ids), _claimable(now))
            .values(state=_SENDING, claimed_by=token, claimed_until=until)
            .execution_options(synchronize_session=False)
        )
        await s.exec(claim)  # type: ignore[call-overload]
    mine = (
        select(Outbox)
        .where(Outbox.claimed_by == token, Outbox.state == _SENDING)
        .order_by(col(Outbox.due_at), col(Outbox.id))
        .execution_options(populate_existing=True)  # the UPDATE above bypassed the session
    )
    return list((await s.exec(mine)).all())


class ClaimedGroup(NamedTuple):
    """What sending needs of a target group."""

    id: int
    platform: str
    chat_id: str
    name: str


async def claimed_groups(s: AsyncSession, token: str) -> list[ClaimedGroup]:
    """The target groups of the rows claimed under `token`: one statement for a batch of a
    hundred, in the claim's own transaction."""
    # state first: the (state, due_at) index finds the few rows being sent, where
    # claimed_by alone would scan the whole outbox, a year of pushes.
    targets = select(Outbox.group_id).where(Outbox.state == _SENDING, Outbox.claimed_by == token)
    stmt = select(Group.id, Group.platform, Group.chat_id, Group.name).where(
        col(Group.id).in_(targets)
    )
    return [ClaimedGroup(*r) for r in (await s.exec(stmt)).all()]  # type: ignore[arg-type]


async def _finish(s: AsyncSession, row_id: int, token: str, **values: Any) -> bool:
    stmt = (
        sa.update(Outbox)
        .where(col(Outbox.id) == row_id, col(Outbox.claimed_by) == token)
        .where(col(Outbox.state) == OutboxState.SENDING.value)
        .values(claimed_until=None, **values)
    )
    result = await s.exec(stmt)  # type: ignore[call-overload]
    return bool(result.rowcount)


async def mark_sent(s: AsyncSession, row_id: int, token: str, now: datetime) -> bool:
    return await _finish(
        s,
        row_id,
        token,
        state=OutboxState.SENT.value,
        sent_at=now,
        attempts=Outbox.attempts + 1,
        last_error="",
    )


async def mark_sent_many(
    s: AsyncSession, row_ids: Sequence[int], token: str, now: datetime
) -> set[int]:
    """mark_sent for many rows in one statement (a fan-out's results); the ids whose claim
    was still ours."""
    if not row_ids:
        return set()
    stmt = (
        sa.update(Outbox)
        .where(col(Outbox.id).in_(row_ids), col(Outbox.claimed_by) == token)
        .where(col(Outbox.state) == OutboxState.SENDING.value)
        .values(
            claimed_until=None,
            state=OutboxState.SENT.value,
            sent_at=now,
            attempts=Outbox.attempts + 1,
            last_error="",
        )
        .returning(col(Outbox.id))
    )
    return set((await s.exec(stmt)).scalars().all())  # type: ignore[call-overload]


async def mark_skipped(s: AsyncSession, row_id: int, token: str, why: str) -> bool:
    return await _finish(s, row_id, token, state=OutboxState.SKIPPED.value, last_error=why[:500])


async def mark_retry(
    s: AsyncSession, row_id: int, token: str, next_at: datetime, error: str
) -> bool:
    return await _finish(
        s,
        row_id,
        token,
        state=OutboxState.PENDING.value,
        next_attempt_at=next_at,
        attempts=Outbox.attempts + 1,
        last_error=error[:500],
    )


async def mark_failed(s: AsyncSession, row_id: int, token: str, error: str) -> bool:
    return await _finish(
        s,
        row_id,
        token,
        state=OutboxState.FAILED.value,
        attempts=Outbox.attempts + 1,
        last_error=error[:500],
    )


async def release(s: AsyncSession, token: str, exclude: Iterable[int] = ()) -> int:
    """Hand back rows claimed but not started (a worker stopping or running late)."""
    stmt = (
        sa.update(Outbox)
        .where(col(Outbox.claimed_by) == token, col(Outbox.state) == OutboxState.SENDING.value)
        .where(col(Outbox.id).not_in(list(exclude)))
        .values(state=OutboxState.PENDING.value, claimed_until=None)
    )
    result = await s.exec(stmt)  # type: ignore[call-overload]
    return int(result.rowcount or 0)


async def next_due(s: AsyncSession, after: datetime, until: datetime) -> datetime | None:
    """The earliest due time of a pending row in (after, until]."""
    stmt = select(sa.func.min(Outbox.due_at)).where(
        Outbox.state == OutboxState.PENDING.value,
        col(Outbox.due_at) > after,
        col(Outbox.due_at) <= until,
    )
    # min() keeps the column's type, so the value comes back aware UTC like the column.
    return (await s.exec(stmt)).one()


async def listing(
    s: AsyncSession, failed_only: bool = False, limit: int = 200
) -> Sequence[tuple[Outbox, str | None, str | None]]:
    """Rows newest-due first, with the target group's or member's name."""
    stmt = (
        select(Outbox, Group.name, Member.name)
        .outerjoin(Group, col(Group.id) == Outbox.group_id)
        .outerjoin(Member, col(Member.id) == Outbox.member_id)
    )
    if failed_only:
        stmt = stmt.where(
            col(Outbox.state).in_([OutboxState.FAILED.value, OutboxState.MISSED.value])
        )
    stmt = stmt.order_by(col(Outbox.due_at).desc(), col(Outbox.id).desc()).limit(limit)
    return (await s.exec(stmt)).all()


async def rows_by_kind(s: AsyncSession, kind: str | None = None) -> Sequence[Outbox]:
    stmt = select(Outbox).order_by(col(Outbox.due_at), col(Outbox.id))
    if kind is not None:
        stmt = stmt.where(Outbox.kind == kind)
    return (await s.exec(stmt)).all()


async def member_name(s: AsyncSession, member_id: int) -> str | None:
    """The name a failure reason gives for a direct push's person."""
    return (await s.exec(select(Member.name).where(Member.id == member_id))).first()


_RESENDABLE = (OutboxState.FAILED.value, OutboxState.MISSED.value)


async def resend(
    s: AsyncSession,
    now: datetime,
    ids: Sequence[int] | None = None,
    since: datetime | None = None,
) -> list[int]:
    """Put failed and missed rows back in the queue, due `now`, as if never tried; their ids.

    `ids` picks rows (others given are left alone); else every failed or missed row, or
    those due at or after `since`. Sent, skipped and pending rows are never touched: a
    push goes out once."""
    stmt = sa.update(Outbox).where(col(Outbox.state).in_(_RESENDABLE))
    if ids is not None:
        stmt = stmt.where(col(Outbox.id).in_(list(ids)))
    if since is not None:
        stmt = stmt.where(col(Outbox.due_at) >= since)
    stmt = stmt.values(
        state=OutboxState.PENDING.value,
        attempts=0,
        next_attempt_at=None,
        claimed_by=None,
        claimed_until=None,
        due_at=now,  # a missed row would otherwise be marked missed again at once
        last_error="",
        sent_at=None,
    ).returning(col(Outbox.id))
    return sorted((await s.exec(stmt)).scalars().all())  # type: ignore[call-overload]
