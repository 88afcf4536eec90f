"""The step of a dub's run on workers (one actor per step, each on its capability's queue).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dub_jobs") as batch:
        batch.add_column(sa.Column("step", sa.String(32), nullable=True))
        batch.add_column(
            sa.Column("recognising", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Unfinished dubs of the one-actor era start their run again (stored stages are found).
    op.execute("UPDATE dub_jobs SET step = 'recognise' WHERE status IN ('queued', 'running')")


def downgrade() -> None:
    with op.batch_alter_table("dub_jobs") as batch:
        batch.drop_column("recognising")
        batch.drop_column("step")
