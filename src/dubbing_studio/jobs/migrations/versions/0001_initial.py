"""Jobs, their transcript segments and their events.

Revision ID: 0001
Revises:
Create Date: 2026-05-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dub_jobs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("input_name", sa.Text(), nullable=False),
        sa.Column("input_path", sa.Text(), nullable=False),
        sa.Column("input_digest", sa.String(128), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("stage", sa.String(64), nullable=True),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("eta_s", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("source_language", sa.String(32), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("segments_done", sa.Integer(), nullable=False),
        sa.Column("segments_total", sa.Integer(), nullable=False),
        sa.Column("last_event_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dub_jobs"),
        sa.UniqueConstraint("idempotency_key", name="uq_dub_jobs_idempotency_key"),
    )
    op.create_index("ix_dub_jobs_created_at_id", "dub_jobs", ["created_at", "id"])
    op.create_index("ix_dub_jobs_status", "dub_jobs", ["status"])

    op.create_table(
        "dub_segments",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("speaker", sa.String(64), nullable=False),
        sa.Column("source_text", sa.Text(), nullable=False),
        sa.Column("words", sa.JSON(), nullable=False),
        sa.Column("target_text", sa.Text(), nullable=False),
        sa.Column("voice", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("target_edited", sa.Boolean(), nullable=False),
        sa.Column("audio_key", sa.String(255), nullable=True),
        sa.Column("synthesized_s", sa.Float(), nullable=True),
        sa.Column("fitted_s", sa.Float(), nullable=True),
        sa.Column("speed", sa.Float(), nullable=True),
        sa.Column("overrun_s", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["dub_jobs.id"],
            name="fk_dub_segments_job_id_dub_jobs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "id", name="pk_dub_segments"),
    )
    op.create_index(
        "ix_dub_segments_job_id_start_s_speaker_id",
        "dub_segments",
        ["job_id", "start_s", "speaker", "id"],
    )

    op.create_table(
        "dub_events",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["dub_jobs.id"],
            name="fk_dub_events_job_id_dub_jobs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "seq", name="pk_dub_events"),
    )


def downgrade() -> None:
    op.drop_table("dub_events")
    op.drop_table("dub_segments")
    op.drop_table("dub_jobs")
