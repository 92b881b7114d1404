"""Read-only snapshots of table rows, for the paths every message and every push takes.

Reading an attribute of a SQLModel instance goes through pydantic's `__getattr__` hook and
SQLAlchemy's instrumentation, ~1,300 instructions a read (callgrind); a 签到 reads its
sender, branch, group and event some forty times. On a slotted dataclass a read is a few
dozen. Each class lists its table's columns in `select(table)` order, so a row builds it
positionally; `from_select` checks that order once per class, and
tests/test_rows.py checks it for every class.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache
from typing import Any, ClassVar, Protocol, TypeVar

from storage.models import Branch, Event, Group, Member, Outbox
from storage.prepared import Row, columns_of


class _Snapshot(Protocol):
    TABLE: ClassVar[type[Any]]


S = TypeVar("S", bound=_Snapshot)


@dataclass(frozen=True, slots=True)
class BranchRow:
    TABLE: ClassVar[type[Any]] = Branch
    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MemberRow:
    TABLE: ClassVar[type[Any]] = Member
    id: int
    name: str
    branch_id: int
    status: str
    role: str
    phone: str
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class GroupRow:
    TABLE: ClassVar[type[Any]] = Group
    id: int
    name: str
    platform: str
    chat_id: str
    branch_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EventRow:
    TABLE: ClassVar[type[Any]] = Event
    id: int
    branch_id: int
    kind: str
    starts_at: datetime
    place: str
    rule_key: str | None
    created_by: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxRow:
    TABLE: ClassVar[type[Any]] = Outbox
    id: int
    key: str
    kind: str
    group_id: int | None
    member_id: int | None
    payload: str
    due_at: datetime
    state: str
    attempts: int
    next_attempt_at: datetime | None
    claimed_by: str | None
    claimed_until: datetime | None
    last_error: str
    sent_at: datetime | None
    created_at: datetime


def from_select(cls: type[S], row: Row) -> S:
    """`cls` from a `select(cls.TABLE)` row."""
    _check(cls)
    return cls(*row)


@cache
def _check(cls: type[Any]) -> None:
    names = tuple(f.name for f in fields(cls))
    if names != columns_of(cls.TABLE):
        raise TypeError(f"{cls.__name__} does not match {cls.TABLE.__name__}'s columns")
