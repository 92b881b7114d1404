"""meetings as secretaries run them: numbers, cancellations, who is expected, who entered it

- members.party_group (党小组) and members.committee (支委: a 职务 such as 组织委员, or 委员;
  empty for members not on the committee): who is expected at 党小组会 and 支委会.
- events.number: a short number per branch, shown in 日程 and used by 改期/取消/请假/补签;
  existing events are numbered by time. events.party_group: a 党小组会 of one group (empty:
  the whole branch). events.cancelled_at / cancel_reason: 取消 keeps the row (leave given
  for it stays on record) but nothing counts or pushes it any more.
- attendance.entered_by: the secretary who entered a 补签/补假 afterwards (empty: the
  member's own sign-in or leave).
- study_tasks.audience: 党员 (Party members and probationary members) or 全体 (all staff).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Columns with a constant default or nullable: plain ADD COLUMN on both backends.
    op.add_column(
        "members",
        sa.Column("party_group", sa.String(length=50), nullable=False, server_default=""),
    )
    op.add_column(
        "members",
        sa.Column("committee", sa.String(length=20), nullable=False, server_default=""),
    )
    op.add_column("events", sa.Column("number", sa.Integer(), nullable=True))
    op.add_column(
        "events",
        sa.Column("party_group", sa.String(length=50), nullable=False, server_default=""),
    )
    op.add_column("events", sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "events",
        sa.Column("cancel_reason", sa.String(length=200), nullable=False, server_default=""),
    )
    op.add_column(
        "study_tasks",
        sa.Column("audience", sa.String(length=10), nullable=False, server_default="党员"),
    )
    with op.batch_alter_table("attendance") as batch:
        batch.add_column(sa.Column("entered_by", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_attendance_entered_by_members", "members", ["entered_by"], ["id"]
        )
    # Number the meetings each branch has, in time order.
    op.execute(
        """
        UPDATE events SET number = (
            SELECT count(*) FROM events AS e
            WHERE e.branch_id = events.branch_id
              AND (e.starts_at < events.starts_at
                   OR (e.starts_at = events.starts_at AND e.id <= events.id))
        )
        """
    )
    op.create_index("uq_events_branch_number", "events", ["branch_id", "number"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_events_branch_number", table_name="events")
    with op.batch_alter_table("attendance") as batch:
        batch.drop_constraint("fk_attendance_entered_by_members", type_="foreignkey")
        batch.drop_column("entered_by")
    with op.batch_alter_table("study_tasks") as batch:
        batch.drop_column("audience")
    with op.batch_alter_table("events") as batch:
        for name in ("cancel_reason", "cancelled_at", "party_group", "number"):
            batch.drop_column(name)
    with op.batch_alter_table("members") as batch:
        batch.drop_column("committee")
        batch.drop_column("party_group")
