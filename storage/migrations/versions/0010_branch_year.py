"""branch year: 换届 terms, 民主评议 grades, 廉洁承诺 pledges, meeting notes for the 台账

- branch_terms: each election of a branch's committee and its term in years.
- appraisals: a member's 评定等次 per year (one per member and year).
- pledges, pledge_confirmations: the admin's pledge and who confirmed it, like study.
- meeting_notes: 纪要 text and images attached to a meeting.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    op.create_table(
        "branch_terms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("elected_on", sa.Date(), nullable=False),
        sa.Column("years", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False, server_default=""),
        _ts("recorded_at"),
        _fk("branch_terms", "branch_id", "branches"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branch_terms")),
        sa.UniqueConstraint("branch_id", "elected_on", name="uq_branch_terms_once"),
    )
    op.create_index(op.f("ix_branch_terms_branch_id"), "branch_terms", ["branch_id"])

    op.create_table(
        "appraisals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(length=10), nullable=False),
        sa.Column("by_member_id", sa.Integer(), nullable=True),
        _ts("at"),
        _fk("appraisals", "branch_id", "branches"),
        _fk("appraisals", "member_id", "members"),
        _fk("appraisals", "by_member_id", "members"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appraisals")),
        sa.UniqueConstraint("member_id", "year", name="uq_appraisals_once"),
    )
    op.create_index(op.f("ix_appraisals_branch_id"), "appraisals", ["branch_id"])

    op.create_table(
        "pledges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False, server_default=""),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _ts("created_at"),
        _fk("pledges", "branch_id", "branches"),
        _fk("pledges", "created_by", "members"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pledges")),
    )
    op.create_index(op.f("ix_pledges_branch_id"), "pledges", ["branch_id"])

    op.create_table(
        "pledge_confirmations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pledge_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        _ts("at"),
        sa.Column("late", sa.Boolean(), nullable=False),
        _fk("pledge_confirmations", "pledge_id", "pledges"),
        _fk("pledge_confirmations", "member_id", "members"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pledge_confirmations")),
        sa.UniqueConstraint("pledge_id", "member_id", name="uq_pledge_once"),
    )
    op.create_index(
        op.f("ix_pledge_confirmations_pledge_id"), "pledge_confirmations", ["pledge_id"]
    )
    op.create_index(
        op.f("ix_pledge_confirmations_member_id"), "pledge_confirmations", ["member_id"]
    )

    op.create_table(
        "meeting_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("body", sa.Text(), nullable=False, server_default=""),
        sa.Column("image", sa.String(length=1000), nullable=False, server_default=""),
        sa.Column("by_member_id", sa.Integer(), nullable=True),
        _ts("at"),
        _fk("meeting_notes", "event_id", "events"),
        _fk("meeting_notes", "by_member_id", "members"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_notes")),
    )
    op.create_index(op.f("ix_meeting_notes_event_id"), "meeting_notes", ["event_id"])


def downgrade() -> None:
    for table in ("meeting_notes", "pledge_confirmations", "pledges", "appraisals"):
        op.drop_table(table)
    op.drop_table("branch_terms")
