"""Row snapshots mirror their tables, and cannot be changed by whoever holds one."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from storage import rows
from storage.models import Branch
from storage.prepared import columns_of

SNAPSHOTS = [rows.BranchRow, rows.MemberRow, rows.GroupRow, rows.EventRow, rows.OutboxRow]


@pytest.mark.parametrize("cls", SNAPSHOTS, ids=lambda c: c.__name__)
def test_each_snapshot_lists_its_tables_columns_in_select_order(cls: type[Any]) -> None:
    names = tuple(f.name for f in dataclasses.fields(cls))
    assert names == columns_of(cls.TABLE)


def test_a_snapshot_built_from_a_row_reads_back_its_values() -> None:
    when = datetime(2026, 11, 26, 0, 30, tzinfo=UTC)
    branch = rows.from_select(rows.BranchRow, (7, "第一支部", when))
    assert (branch.id, branch.name, branch.created_at) == (7, "第一支部", when)


def test_a_snapshot_cannot_be_changed() -> None:
    branch = rows.from_select(rows.BranchRow, (7, "第一支部", datetime.now(UTC)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        branch.name = "改名"  # type: ignore[misc]


def test_a_snapshot_whose_fields_drift_from_the_table_is_refused() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Stale:  # a column added by a migration but not here
        TABLE: ClassVar[type[Any]] = Branch
        id: int
        name: str

    with pytest.raises(TypeError, match="does not match"):
        rows.from_select(Stale, (1, "x"))
