"""The sender, group and open event every message needs, kept between messages on SQLite.

A 签到 looks up who sent it, which group it came from and whether the branch has a meeting
open for sign-in; those rows change a few times a day. On SQLite the dispatcher keeps them
here while the database's lookup generation stays the same: triggers (migration 0004) bump
it on every insert, update and delete of branches, members, accounts, chat groups and
events, whoever makes the change (this process, the CLI, a script). It is read at the start
of every message, inside the message's transaction, so a cached row is never older than
what a fresh query in that transaction would see.

Three rules keep that true:
- an entry is read after the generation it is filed under, never before;
- after a transaction rolls back everything is dropped: a batch may have read its own
  writes, undone now;
- a handler does not look up after writing one of those tables in the same message (a
  savepoint rolled back would not drop what it read).

On PostgreSQL, replicas change rows under each other between any two statements, so every
lookup goes to the database.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import events, groups, members
from storage.prepared import Prepared
from storage.rows import BranchRow, EventRow, GroupRow, MemberRow

_GEN = sa.table("lookup_generation", sa.column("id"), sa.column("value"))
_GENERATION = Prepared(sa.select(_GEN.c.value).where(_GEN.c.id == 1))

Sender = tuple[MemberRow, BranchRow] | tuple[None, None]


class Lookups:
    def __init__(self, enabled: bool, max_entries: int = 10_000) -> None:
        self.enabled = enabled
        self.max_entries = max_entries  # per kind; ~1.5 KB a sender
        self._generation: int | None = None
        self._senders: dict[tuple[str, str], Sender] = {}
        self._groups: dict[tuple[str, str], GroupRow | None] = {}
        # branch id -> (when it was read, the earliest event not closed then)
        self._events: dict[int, tuple[datetime, EventRow | None]] = {}

    async def refresh(self, s: AsyncSession) -> None:
        """Start of a message: drop everything if anything it came from has changed."""
        if not self.enabled:
            return
        row = await _GENERATION.first(s)
        generation = None if row is None else int(row[0])
        if generation != self._generation or generation is None:
            self.forget()
            self._generation = generation

    def forget(self) -> None:
        self._generation = None
        self._senders.clear()
        self._groups.clear()
        self._events.clear()

    def _cacheable(self) -> bool:
        return self.enabled and self._generation is not None

    async def sender(self, s: AsyncSession, platform: str, external_id: str) -> Sender:
        key = (platform, external_id)
        found = self._senders.get(key)
        if found is None:
            found = await members.member_and_branch_by_account(s, platform, external_id)
            if self._cacheable():
                _keep(self._senders, key, found, self.max_entries)
        return found

    async def group(self, s: AsyncSession, platform: str, chat_id: str) -> GroupRow | None:
        key = (platform, chat_id)
        if key in self._groups:
            return self._groups[key]
        found = await groups.group_by_chat(s, platform, chat_id)
        if self._cacheable():
            _keep(self._groups, key, found, self.max_entries)
        return found

    async def open_event(self, s: AsyncSession, branch_id: int, now: datetime) -> EventRow | None:
        """The branch's earliest event whose sign-in window contains `now`."""
        kept = self._events.get(branch_id)
        if kept is not None:
            read_at, upcoming = kept
            # Still the earliest event not closed, unless time went back or it has closed.
            if read_at <= now and (
                upcoming is None or now <= upcoming.starts_at + events.SIGNIN_CLOSES_AFTER
            ):
                return events.open_at(upcoming, now)
        upcoming = await events.next_not_closed(s, branch_id, now)
        if self._cacheable():
            _keep(self._events, branch_id, (now, upcoming), self.max_entries)
        return events.open_at(upcoming, now)


def _keep(table: dict, key: object, value: object, limit: int) -> None:  # type: ignore[type-arg]
    if len(table) >= limit:
        del table[next(iter(table))]  # the oldest entry
    table[key] = value
