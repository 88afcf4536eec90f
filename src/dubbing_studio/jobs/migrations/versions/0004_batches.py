"""Batches: files times languages submitted together; each dub job may name its batch.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dub_batches",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=True),
        sa.Column("target_languages", sa.JSON(), nullable=False),
        sa.Column("input_names", sa.JSON(), nullable=False),
        sa.Column("rejected", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dub_batches"),
    )
    op.add_column("dub_jobs", sa.Column("batch_id", sa.String(64), nullable=True))
    op.create_index("ix_dub_jobs_batch_id", "dub_jobs", ["batch_id"])


def downgrade() -> None:
    op.drop_index("ix_dub_jobs_batch_id", table_name="dub_jobs")
    with op.batch_alter_table("dub_jobs") as batch:
        batch.drop_column("batch_id")
    op.drop_table("dub_batches")
