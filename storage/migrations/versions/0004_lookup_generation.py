"""lookup generation (SQLite); drop the check-in index the unique key already covers

Every message looks up its sender, its group and, for 签到, the branch's open event. On
SQLite the dispatcher keeps those between messages (storage/lookups.py) for as long as a
counter, bumped by these triggers on every change to the tables they come from, stays the
same; the CLI and other processes change it too, because the triggers are in the database.
A later migration that rebuilds one of these tables (batch mode) must create its triggers
again.

ix_checkins_member_id duplicated the first column of uq_checkin_once (member_id, day,
slot): every check-in wrote one more random page for nothing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WATCHED = ("branches", "members", "accounts", "chat_groups", "events")
CHANGES = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.drop_index("ix_checkins_member_id", table_name="checkins")
    if op.get_bind().dialect.name != "sqlite":
        return  # replicas on PostgreSQL look everything up afresh
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


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in WATCHED:
            for change in CHANGES:
                op.execute(f"DROP TRIGGER {table}_{change.lower()}_bumps_lookups")
        op.drop_table("lookup_generation")
    op.create_index("ix_checkins_member_id", "checkins", ["member_id"], unique=False)
