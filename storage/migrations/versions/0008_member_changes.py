"""member_changes: every change to a person, with who, when and from which file or command

- member_changes: one row per 新增, 更新 (detail: 字段 旧 → 新), 离开, 重新加入, 改名, kept
  when the member leaves; roster import writes them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("detail", sa.String(length=2000), nullable=False, server_default=""),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_changes_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_changes")),
    )
    with op.batch_alter_table("member_changes") as batch:
        batch.create_index(batch.f("ix_member_changes_member_id"), ["member_id"])
        batch.create_index(batch.f("ix_member_changes_phone"), ["phone"])
        batch.create_index(batch.f("ix_member_changes_at"), ["at"])


def downgrade() -> None:
    op.drop_table("member_changes")
