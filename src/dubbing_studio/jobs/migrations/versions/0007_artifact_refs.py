"""Which artifacts each job uses, in the database (was a per-project artifacts.json), so a
delete on one node sees what a run on another node uses.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "artifact_refs",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["dub_jobs.id"],
            name="fk_artifact_refs_job_id_dub_jobs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "path", name="pk_artifact_refs"),
    )
    op.create_index("ix_artifact_refs_path", "artifact_refs", ["path"])


def downgrade() -> None:
    op.drop_index("ix_artifact_refs_path", table_name="artifact_refs")
    op.drop_table("artifact_refs")
