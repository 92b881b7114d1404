"""inbound_messages.delivered_at: a reply sent apart from the platform's answer goes out once

A long connection's reply (DingTalk's sessionWebhook, WeCom's aibot_respond_msg) and a late
reply to an HTTP callback travel apart from the platform's answer, and the platform may
deliver the same message again (on another replica, too). Whoever sends the reply claims
this column first, with a conditional UPDATE; a re-delivery finds it set and sends nothing.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: a plain ADD COLUMN on both backends, no table rebuild.
    op.add_column(
        "inbound_messages", sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_column("delivered_at")
