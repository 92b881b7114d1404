"""talks: 谈心谈话, who talked with whom, when, and a note for the secretary and admin only

- talks: one row per talk recorded with `谈心 姓名 [要点]`; `谈心 情况` reads this year's.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "talks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("by_member_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_talks_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_talks_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["by_member_id"], ["members.id"], name=op.f("fk_talks_by_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_talks")),
    )
    with op.batch_alter_table("talks") as batch:
        batch.create_index(batch.f("ix_talks_branch_id"), ["branch_id"])
        batch.create_index(batch.f("ix_talks_member_id"), ["member_id"])
        batch.create_index(batch.f("ix_talks_at"), ["at"])


def downgrade() -> None:
    op.drop_table("talks")
