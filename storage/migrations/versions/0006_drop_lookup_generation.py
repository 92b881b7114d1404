"""drop the lookup generation (SQLite): nothing keeps lookups between messages any more

Migration 0004 added a counter and triggers that bumped it on every change to branches,
members, accounts, chat groups and events, so the dispatcher could keep a message's sender,
group and open event between messages on SQLite. Every message now looks them up afresh in
its own transaction, so the triggers only cost each of those writes an extra UPDATE.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WATCHED = ("branches", "members", "accounts", "chat_groups", "events")
CHANGES = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # 0004 created nothing on PostgreSQL
    for table in WATCHED:
        for change in CHANGES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{change.lower()}_bumps_lookups")
    op.execute("DROP TABLE IF EXISTS lookup_generation")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE TABLE lookup_generation "
        "(id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL)"
    )
    op.execute("INSERT INTO lookup_generation (id, value) VALUES (1, 0)")
    for table in WATCHED:
        for change in CHANGES:
            op.execute(
                f"CREATE TRIGGER {table}_{change.lower()}_bumps_lookups AFTER {change} ON {table} "
                "BEGIN UPDATE lookup_generation SET value = value + 1 WHERE id = 1; END"
            )
