"""Audio submitted per client, for the daily quota; it outlives the dubs it was for.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dub_usage",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audio_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dub_usage"),
    )
    op.create_index("ix_dub_usage_client_id_created_at", "dub_usage", ["client_id", "created_at"])


def downgrade() -> None:
    op.drop_table("dub_usage")
