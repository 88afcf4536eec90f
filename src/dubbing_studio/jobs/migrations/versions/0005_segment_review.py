"""Each line's spoken language, the reasons to review it, the words cut to fit it, and the
language its translation went through.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dub_segments") as batch:
        batch.add_column(sa.Column("language", sa.String(32), nullable=True))
        batch.add_column(sa.Column("flags", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(
            sa.Column("words_trimmed", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("translated_via", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dub_segments") as batch:
        batch.drop_column("translated_via")
        batch.drop_column("words_trimmed")
        batch.drop_column("flags")
        batch.drop_column("language")
