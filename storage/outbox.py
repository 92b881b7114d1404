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
from storage.prepared import Prepared
from storage.rows import OutboxRow, from_select

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


_T = Outbox.__table__  # type: ignore[attr-defined]


def _claimable() -> sa.ColumnElement[bool]:
    now = sa.bindparam("now", type_=_T.c.due_at.type)
    return sa.or_(
        sa.and_(
            _T.c.state == OutboxState.PENDING.value,
            _T.c.due_at <= now,
            sa.or_(_T.c.next_attempt_at.is_(None), _T.c.next_attempt_at <= now),
        ),
        sa.and_(_T.c.state == OutboxState.SENDING.value, _T.c.claimed_until < now),
    )


def _due_ids() -> sa.Select[tuple[int]]:
    """The ids of the first `limit` claimable rows, oldest due first."""
    return (
        sa.select(_T.c.id)
        .where(_claimable())
        .order_by(_T.c.due_at, _T.c.id)
        .limit(sa.bindparam("limit"))
    )


def _claim(where: sa.ColumnElement[bool]) -> sa.Update:
    return (
        sa.update(_T)
        .where(where)
        .values(
            state=OutboxState.SENDING.value,
            claimed_by=sa.bindparam("token"),
            claimed_until=sa.bindparam("until", type_=_T.c.claimed_until.type),
        )
    )


# Pick the ids first: PostgreSQL may re-run a LIMIT subquery inside an UPDATE and so claim
# more rows than asked. FOR UPDATE SKIP LOCKED (ignored by SQLite) locks them.
_PICK = Prepared(_due_ids().with_for_update(skip_locked=True))
_CLAIM_ONE = Prepared(_claim(sa.and_(_T.c.id == sa.bindparam("row_id"), _claimable())))
# SQLite runs one writer at a time, so there one UPDATE claims the whole batch: its LIMIT
# subquery is evaluated once, under the write lock (a hundred single-row UPDATEs cost ~4x).
_CLAIM_BATCH = Prepared(_claim(_T.c.id.in_(_due_ids().scalar_subquery())))
_MINE = Prepared(
    sa.select(_T)
    .where(_T.c.claimed_by == sa.bindparam("token"), _T.c.state == OutboxState.SENDING.value)
    .order_by(_T.c.due_at, _T.c.id)
)
_SENT_ONE = Prepared(
    sa.update(_T)
    .where(_T.c.id == sa.bindparam("row_id"), _T.c.claimed_by == sa.bindparam("token"))
    .where(_T.c.state == OutboxState.SENDING.value)
    .values(
        state=OutboxState.SENT.value,
        sent_at=sa.bindparam("now", type_=_T.c.sent_at.type),
        attempts=_T.c.attempts + 1,
        last_error="",
        claimed_until=None,
    )
)


async def claim_due(
    s: AsyncSession, now: datetime, token: str, until: datetime, limit: int
) -> list[OutboxRow]:
    """Claim up to `limit` due rows for `token`; a row can be won by one claimer only.

    Each row's UPDATE re-checks its state itself, so of two workers racing for a row
    (SQLite serialises writers; PostgreSQL re-evaluates the WHERE after the row lock), one
    updates it and the other matches nothing. On PostgreSQL SKIP LOCKED lets them pass
    each other instead of queueing. A claim whose lease ran out (a crashed worker) is due
    again. Rows come back as read-only snapshots (prepared statements: a fan-out to
    hundreds of groups claims in batches of a hundred).
    """
    if s.bind is None or s.bind.dialect.name == "sqlite":
        await _CLAIM_BATCH.all(s, now=now, token=token, until=until, limit=limit)
    else:
        ids = [r[0] for r in await _PICK.all(s, now=now, limit=limit)]
        if not ids:
            return []
        await _CLAIM_ONE.many(
            s, [{"row_id": i, "now": now, "token": token, "until": until} for i in ids]
        )
    return [from_select(OutboxRow, r) for r in await _MINE.all(s, token=token)]


class ClaimedGroup(NamedTuple):
    """What sending needs of a target group."""

    id: int
    platform: str
    chat_id: str
    name: str


_G = Group.__table__  # type: ignore[attr-defined]
_CLAIMED_GROUPS = Prepared(
    sa.select(_G.c.id, _G.c.platform, _G.c.chat_id, _G.c.name).where(
        # state first: the (state, due_at) index finds the few rows being sent, where
        # claimed_by alone would scan the whole outbox, a year of pushes.
        _G.c.id.in_(
            sa.select(_T.c.group_id).where(
                _T.c.state == OutboxState.SENDING.value,
                _T.c.claimed_by == sa.bindparam("token"),
            )
        )
    )
)


async def claimed_groups(s: AsyncSession, token: str) -> list[ClaimedGroup]:
    """The target groups of the rows claimed under `token`: one statement for a batch of a
    hundred, in the claim's own transaction."""
    return [ClaimedGroup(*r) for r in await _CLAIMED_GROUPS.all(s, token=token)]


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
    s: AsyncSession, row_ids: list[int], token: str, now: datetime
) -> set[int]:
    """Record many sends of one claim at once; returns the ids it recorded."""
    changed = await _SENT_ONE.many(s, [{"row_id": i, "token": token, "now": now} for i in row_ids])
    if changed == len(row_ids):
        return set(row_ids)
    # Some claims were lost (a lease ran out), or the driver does not count: find out which
    # rows this update recorded.
    mine = select(Outbox.id).where(
        col(Outbox.id).in_(row_ids),
        Outbox.claimed_by == token,
        Outbox.state == OutboxState.SENT.value,
        Outbox.sent_at == now,
    )
    return {i for i in (await s.exec(mine)).all() if i is not None}


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
