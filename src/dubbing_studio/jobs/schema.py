"""The job store's tables as SQLAlchemy declarative models.

Only portable types (strings, floats, booleans, JSON, timestamps) so one schema serves SQLite
and PostgreSQL. Enums are stored as their string values: adding a member then needs no
migration. ``migrations/versions`` must produce exactly these tables; a test compares them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend: SQLite keeps no offset, so it is stored as UTC
    and restored on read; a naive datetime is refused rather than guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the job store keeps aware UTC times")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    # Named constraints and indexes, so later migrations can refer to them by name.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class JobRow(Base):
    """A ``DubJob``; attribute names match its fields so updates map one to one."""

    __tablename__ = "dub_jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    input_name: Mapped[str] = mapped_column(Text)
    input_path: Mapped[str] = mapped_column(Text)
    input_digest: Mapped[str] = mapped_column(String(128))
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    stage: Mapped[str | None] = mapped_column(String(64))
    progress: Mapped[float] = mapped_column(Float)
    eta_s: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64))
    source_language: Mapped[str | None] = mapped_column(String(32))
    duration_s: Mapped[float | None] = mapped_column(Float)
    outputs: Mapped[dict[str, str]] = mapped_column(JSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    segments_done: Mapped[int] = mapped_column(Integer)
    segments_total: Mapped[int] = mapped_column(Integer)
    # The last event number handed out: incrementing it locks the row, so concurrent writers
    # get distinct numbers, and pruning never lets a number be reused.
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0)
    # Runs started; a job whose process died twice mid-run is failed, never resumed again.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    client_id: Mapped[str | None] = mapped_column(String(128))  # who submitted it (quotas)
    # The batch it was submitted in; no foreign key: SQLite cannot add one to a table.
    batch_id: Mapped[str | None] = mapped_column(String(64))
    # The worker process running it and when its claim lapses without a heartbeat; or, with
    # the embedded runner, the node that resumed it at start-up (``DubService.resume``).
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # On workers: the step of its run next to run (``pipeline.steps``), and whether the run
    # began from recognition rather than from stored lines (each step re-enters alike).
    step: Mapped[str | None] = mapped_column(String(32))
    recognising: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        Index(None, "created_at", "id"),
        Index(None, "status"),
        Index(None, "client_id", "status"),
        Index(None, "batch_id"),
    )


class BatchRow(Base):
    """A ``DubBatch``: its dubs are the jobs carrying its id."""

    __tablename__ = "dub_batches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    client_id: Mapped[str | None] = mapped_column(String(128))
    target_languages: Mapped[list[str]] = mapped_column(JSON)
    input_names: Mapped[list[str]] = mapped_column(JSON)
    rejected: Mapped[list[dict[str, str]]] = mapped_column(JSON)


class SegmentRow(Base):
    """A transcript line of one job (a domain ``Segment``); deleted with its job."""

    __tablename__ = "dub_segments"

    job_id: Mapped[str] = mapped_column(ForeignKey(JobRow.id, ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    speaker: Mapped[str] = mapped_column(String(64))
    source_text: Mapped[str] = mapped_column(Text)
    words: Mapped[list[list[Any]]] = mapped_column(JSON)  # [[start, end, text, probability]]
    target_text: Mapped[str] = mapped_column(Text)
    voice: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    target_edited: Mapped[bool] = mapped_column(Boolean)
    audio_key: Mapped[str | None] = mapped_column(String(255))
    synthesized_s: Mapped[float | None] = mapped_column(Float)
    fitted_s: Mapped[float | None] = mapped_column(Float)
    speed: Mapped[float | None] = mapped_column(Float)
    overrun_s: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(32))
    flags: Mapped[list[str]] = mapped_column(JSON, server_default="[]")
    words_trimmed: Mapped[int] = mapped_column(Integer, server_default="0")
    translated_via: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (Index(None, "job_id", "start_s", "speaker", "id"),)


class EventRow(Base):
    """A numbered event of one job; deleted with its job or by pruning."""

    __tablename__ = "dub_events"

    job_id: Mapped[str] = mapped_column(ForeignKey(JobRow.id, ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiKeyRow(Base):
    """An API key as its SHA-256 (keys are random and long, so no slow hash is needed); the
    key itself is shown once, when it is made."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the key's first characters, for lists
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UsageRow(Base):
    """Audio a client submitted for dubbing; kept apart from its job, so deleting a dub does
    not hand its minutes back to the daily quota."""

    __tablename__ = "dub_usage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(128))
    job_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    audio_s: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index(None, "client_id", "created_at"),)


class ArtifactRefRow(Base):
    """A job's use of an artifact (its path relative to the artifact root), recorded before
    the artifact is read or written: a delete removes only files no other job refers to, on
    whichever node either runs. Deleted with its job."""

    __tablename__ = "artifact_refs"

    job_id: Mapped[str] = mapped_column(ForeignKey(JobRow.id, ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(512), primary_key=True)

    __table_args__ = (Index(None, "path"),)
