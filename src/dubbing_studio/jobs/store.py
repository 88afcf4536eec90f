"""Dub projects, their editable transcripts and their event streams, in SQLite or PostgreSQL.

Every method is synchronous and runs in its own short transaction, so callers may use one
``DubStore`` from the event loop's worker threads and the job runner at once.

SQLite notes: WAL lets readers run beside the one writer; the busy timeout makes a second
writer wait instead of failing. Write transactions start with ``BEGIN IMMEDIATE``: a deferred
transaction that reads first and writes later fails at once with "database is locked" when
another writer got in between, whatever the timeout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    Engine,
    Row,
    and_,
    create_engine,
    delete,
    event,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Executable

from dubbing_studio.domain.dub import DubPlan, FitOutcome, Segment, SegmentStatus
from dubbing_studio.domain.jobs import DubBatch, DubJob, JobEvent, JobStatus, RejectedDub
from dubbing_studio.domain.keys import ApiKey
from dubbing_studio.domain.speech import Word
from dubbing_studio.jobs.schema import (
    ApiKeyRow,
    ArtifactRefRow,
    BatchRow,
    EventRow,
    JobRow,
    SegmentRow,
    UsageRow,
)

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
EVENT_PAGE = 500  # events read at most per query; a follower reads on at once after a full one
_WRITE = "dubbing_studio_write"  # execution option marking a write transaction
_QUEUED = JobStatus.QUEUED.value
_RUNNING = JobStatus.RUNNING.value
_UNFINISHED = (_QUEUED, _RUNNING)
_JOB_FIELDS = frozenset(f.name for f in dataclasses.fields(DubJob))
_UPDATABLE = _JOB_FIELDS - {"id"}
USAGE_WINDOW = timedelta(days=1)  # quotas on submitted audio are per day
ADMISSION_LOCK = 0x0D0B  # PostgreSQL advisory lock serializing admissions
MIGRATION_LOCK = 0x0D0D  # PostgreSQL advisory lock serializing schema upgrades
# PostgreSQL advisory lock on artifact references: taken shared to add references and
# exclusive to delete a job's, so a delete never misses a reference added meanwhile.
ARTIFACT_REFS_LOCK = 0x0D0C
EVENTS_CHANNEL = "dubbing_studio_events"  # PostgreSQL NOTIFY channel: payload, a job id


@dataclass(frozen=True, slots=True)
class Load:
    """What admitting one more job of a client depends on."""

    unfinished: int  # queued and running jobs in the studio
    client_unfinished: int  # of them, the client's
    next_free_s: float | None  # the soonest ETA of a running job, if any is known
    client_next_free_s: float | None  # the same among the client's running jobs
    usage: tuple[tuple[datetime, float], ...]  # the client's (when, audio s) in the window


Admit = Callable[[Load], None]
"""Raises to refuse a job; called inside the transaction that would insert it."""


class DubStore:
    """The persistent store of dub jobs; ``migrate()`` once before use."""

    def __init__(self, database_url: str) -> None:
        self.url = make_url(database_url)
        sqlite = self.url.get_backend_name() == "sqlite"
        self._engine = create_engine(
            self.url,
            connect_args={"check_same_thread": False} if sqlite else {},
            pool_pre_ping=not sqlite,  # a server restart leaves dead pooled connections
        )
        if sqlite:
            _configure_sqlite(self._engine)
        self._write_engine = self._engine.execution_options(**{_WRITE: True})
        self._reads = sessionmaker(self._engine, expire_on_commit=False)
        self._writes = sessionmaker(self._write_engine, expire_on_commit=False)

    @property
    def postgres(self) -> bool:
        return self.url.get_backend_name() == "postgresql"

    def ping(self) -> None:
        """Raises when the database cannot be reached."""
        with self._engine.connect() as connection:
            connection.execute(select(1))

    def close(self) -> None:
        """Closes pooled connections (at shutdown, or before deleting a SQLite file)."""
        self._engine.dispose()

    def migrate(self) -> None:
        """Brings the schema to the latest revision; a no-op when it is already there."""
        if self.url.get_backend_name() == "sqlite" and self.url.database:
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        config = Config()
        # Config values go through configparser interpolation: a literal % must be doubled.
        config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
        with self._write_engine.begin() as connection:
            if self.postgres:  # nodes starting at once: one migrates, the others then find it done
                connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    # Jobs

    def create_job(self, job: DubJob, admit: Admit | None = None) -> DubJob:
        """Inserts ``job``; a job already stored under its idempotency key wins, so a retried
        request returns the first job instead of starting a second.

        With ``admit``, the studio's load is read and checked in the inserting transaction,
        serialized with other admissions, so racing requests cannot both take the last
        place; the job's audio is then recorded against its client for ``USAGE_WINDOW``."""
        try:
            with self._writes.begin() as session:
                if admit is not None:
                    if session.get_bind().dialect.name == "postgresql":
                        session.execute(select(func.pg_advisory_xact_lock(ADMISSION_LOCK)))
                    if job.idempotency_key is not None and (
                        existing := _by_idempotency_key(session, job.idempotency_key)
                    ):
                        return existing
                    admit(_load(session, job.client_id))
                session.add(JobRow(**_job_columns(job)))
                if job.client_id is not None and job.duration_s:
                    session.add(
                        UsageRow(
                            client_id=job.client_id,
                            job_id=job.id,
                            created_at=job.created_at,
                            audio_s=job.duration_s,
                        )
                    )
                    session.execute(
                        delete(UsageRow).where(
                            UsageRow.client_id == job.client_id,
                            UsageRow.created_at < _now() - USAGE_WINDOW,
                        )
                    )
        except IntegrityError:
            if job.idempotency_key is None:
                raise
            existing = self.find_by_idempotency_key(job.idempotency_key)
            if existing is None:  # the conflict was something else, e.g. the id
                raise
            return existing
        return job

    def get_job(self, job_id: str) -> DubJob | None:
        with self._reads.begin() as session:
            row = session.get(JobRow, job_id)
            return None if row is None else _job_from_row(row)

    def find_by_idempotency_key(self, key: str) -> DubJob | None:
        with self._reads.begin() as session:
            return _by_idempotency_key(session, key)

    def list_jobs(self, limit: int, offset: int) -> tuple[list[DubJob], int]:
        """A page of jobs, newest first, and the total count."""
        with self._reads.begin() as session:
            total = session.scalar(select(func.count()).select_from(JobRow)) or 0
            rows = session.scalars(
                select(JobRow)
                .order_by(JobRow.created_at.desc(), JobRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return [_job_from_row(row) for row in rows], total

    def update_job(self, job_id: str, **changes: Any) -> DubJob:
        """Sets the given ``DubJob`` fields (any but ``id``) and ``updated_at`` (now, unless
        given); only those columns are written, so concurrent updates of other fields stay.
        Raises ``KeyError`` when the job does not exist."""
        return self._update(job_id, changes)

    def start_run(self, job_id: str, **changes: Any) -> DubJob:
        """Like ``update_job``, and counts one more attempt in the same write: done before a
        run does any work, so a process that dies mid-run leaves the count behind."""
        return self._update(job_id, changes, {"attempts": JobRow.attempts + 1})

    def load(self, client_id: str | None) -> Load:
        """The studio's load as ``create_job`` checks it, for a check before an upload."""
        with self._reads.begin() as session:
            return _load(session, client_id)

    def _update(
        self, job_id: str, changes: dict[str, Any], expressions: dict[str, Any] | None = None
    ) -> DubJob:
        if invalid := changes.keys() - _UPDATABLE:
            raise TypeError(f"not updatable job fields: {sorted(invalid)}")
        values = (
            {"updated_at": _now()}
            | {name: _column_value(name, value) for name, value in changes.items()}
            | (expressions or {})
        )
        with self._writes.begin() as session:
            row = session.scalar(
                update(JobRow).where(JobRow.id == job_id).values(values).returning(JobRow)
            )
            if row is None:
                raise KeyError(job_id)
            return _job_from_row(row)

    def count_by_status(self) -> dict[str, int]:
        """How many jobs are in each state, every state listed (for metrics)."""
        with self._reads.begin() as session:
            rows = session.execute(
                select(JobRow.status, func.count()).group_by(JobRow.status)
            ).all()
        return {status.value: 0 for status in JobStatus} | {row[0]: row[1] for row in rows}

    def claim_unfinished(
        self, owner: str, hold_s: float, taken_over: Callable[[str], bool]
    ) -> list[DubJob]:
        """Queued and running jobs, oldest first, that no one else has claimed: what a
        restarted runner must resume. Each is leased to ``owner`` for ``hold_s`` in the same
        transaction (rows locked, locked ones skipped), so nodes starting at once never both
        resume a job. A live lease of ``owner``'s, or one whose owner ``taken_over`` says is
        gone (a dead process of this machine), does not hold a job back."""
        now = _now()
        query = (
            select(JobRow)
            .where(JobRow.status.in_(_UNFINISHED))
            .order_by(JobRow.created_at, JobRow.id)
            .with_for_update(skip_locked=True)
        )
        claimed = []
        with self._writes.begin() as session:
            for row in session.scalars(query):
                other = row.lease_owner not in (None, owner)
                held = row.lease_until is not None and row.lease_until >= now
                if other and held and not taken_over(row.lease_owner or ""):
                    continue
                row.lease_owner, row.lease_until = owner, now + timedelta(seconds=hold_s)
                claimed.append(_job_from_row(row))
        return claimed

    def delete_job(
        self, job_id: str, remove_unreferenced: Callable[[list[str]], None] | None = None
    ) -> bool:
        """Deletes a job with its segments, events and artifact references; False when there
        was none. ``remove_unreferenced`` is given the artifact paths no other job refers to
        and runs inside the transaction, so no job can refer to one of them again before they
        are gone (SQLite: the write lock; PostgreSQL: ``ARTIFACT_REFS_LOCK``)."""
        mine = ArtifactRefRow.__table__.alias("mine")
        shared = exists().where(ArtifactRefRow.path == mine.c.path, ArtifactRefRow.job_id != job_id)
        unreferenced = select(mine.c.path).where(mine.c.job_id == job_id, ~shared)
        with self._writes.begin() as session:
            if self.postgres:  # two deletes racing must not both keep (or both remove) a file
                session.execute(select(func.pg_advisory_xact_lock(ARTIFACT_REFS_LOCK)))
            paths = sorted(session.scalars(unreferenced))
            session.execute(delete(ArtifactRefRow).where(ArtifactRefRow.job_id == job_id))
            deleted = _rowcount(session, delete(JobRow).where(JobRow.id == job_id)) > 0
            if paths and remove_unreferenced is not None:
                remove_unreferenced(paths)
            return deleted

    # Artifact references

    def add_artifact_refs(self, job_id: str, paths: Iterable[str]) -> None:
        """Records that ``job_id`` uses these artifacts (paths relative to the artifact root),
        before it uses them; ones already recorded stay as they are. Raises
        ``IntegrityError`` when the job is gone: a run of a deleted job must stop."""
        rows = [{"job_id": job_id, "path": path} for path in dict.fromkeys(paths)]
        if not rows:
            return
        dialect = postgresql if self.postgres else sqlite
        statement = dialect.insert(ArtifactRefRow.__table__).on_conflict_do_nothing()
        with self._writes.begin() as session:
            if self.postgres:
                session.execute(select(func.pg_advisory_xact_lock_shared(ARTIFACT_REFS_LOCK)))
            session.execute(statement, rows)

    # Batches

    def create_batch(self, batch: DubBatch) -> DubBatch:
        with self._writes.begin() as session:
            session.add(
                BatchRow(
                    id=batch.id,
                    created_at=batch.created_at,
                    client_id=batch.client_id,
                    target_languages=list(batch.target_languages),
                    input_names=list(batch.input_names),
                    rejected=[dataclasses.asdict(r) for r in batch.rejected],
                )
            )
        return batch

    def reject_in_batch(self, batch_id: str, rejected: RejectedDub) -> None:
        """Records a dub of the batch that could not be queued."""
        with self._writes.begin() as session:
            row = session.get(BatchRow, batch_id)
            if row is None:
                raise KeyError(batch_id)
            row.rejected = [*row.rejected, dataclasses.asdict(rejected)]

    def get_batch(self, batch_id: str) -> DubBatch | None:
        with self._reads.begin() as session:
            row = session.get(BatchRow, batch_id)
            if row is None:
                return None
            return DubBatch(
                id=row.id,
                created_at=row.created_at,
                client_id=row.client_id,
                target_languages=tuple(row.target_languages),
                input_names=tuple(row.input_names),
                rejected=tuple(RejectedDub(**r) for r in row.rejected),
            )

    def batch_jobs(self, batch_id: str) -> list[DubJob]:
        """The batch's dubs in the order they were made."""
        with self._reads.begin() as session:
            rows = session.scalars(
                select(JobRow)
                .where(JobRow.batch_id == batch_id)
                .order_by(JobRow.created_at, JobRow.id)
            )
            return [_job_from_row(row) for row in rows]

    # Leases: which worker process runs a job (dubs on worker processes only)

    def claim(
        self, job_id: str, owner: str, lease_s: float, step: str | None = None
    ) -> DubJob | None:
        """Leases an unfinished job that no live lease holds to ``owner`` for ``lease_s``;
        None when another worker holds it, or it has ended or is gone, or (with ``step``)
        it is at another step. The row is locked (skipped when another claimant has it), so
        two claimants never both win."""
        now = _now()
        query = select(JobRow).where(
            JobRow.id == job_id,
            JobRow.status.in_(_UNFINISHED),
            or_(
                JobRow.lease_owner.is_(None),
                JobRow.lease_until.is_(None),
                JobRow.lease_until < now,
            ),
        )
        if step is not None:
            query = query.where(JobRow.step == step)
        with self._writes.begin() as session:
            row = session.scalar(query.with_for_update(skip_locked=True))
            if row is None:
                return None
            row.lease_owner, row.lease_until = owner, now + timedelta(seconds=lease_s)
            return _job_from_row(row)

    def renew(self, job_id: str, owner: str, lease_s: float) -> bool:
        """The heartbeat: extends ``owner``'s lease; False when it no longer holds one."""
        statement = (
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.lease_owner == owner)
            .values(lease_until=_now() + timedelta(seconds=lease_s))
        )
        with self._writes.begin() as session:
            return _rowcount(session, statement) > 0

    def advance(
        self, job_id: str, owner: str, step: str, to: str, attempts: int, wait_s: float
    ) -> bool:
        """Moves ``owner``'s job from ``step`` to ``to`` and lets go of it, in one write,
        giving back the attempt the finished step counted. The job stays reserved for
        ``wait_s``: the message for ``to`` must be taken by then, or the sweep sends it
        again (see ``orphaned``). False when ``owner`` no longer holds it at ``step``."""
        statement = (
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.lease_owner == owner, JobRow.step == step)
            .values(
                step=to,
                attempts=attempts,
                lease_owner=None,
                lease_until=_now() + timedelta(seconds=wait_s),
                updated_at=_now(),
            )
        )
        with self._writes.begin() as session:
            return _rowcount(session, statement) > 0

    def release(self, job_id: str, owner: str) -> None:
        statement = (
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )
        with self._writes.begin() as session:
            session.execute(statement)

    def holder(self, job_id: str) -> str | None:
        """The worker whose live lease holds the job, if any."""
        with self._reads.begin() as session:
            return session.scalar(
                select(JobRow.lease_owner).where(JobRow.id == job_id, JobRow.lease_until >= _now())
            )

    def leases(self) -> dict[str, str]:
        """Live leases: job id -> worker."""
        with self._reads.begin() as session:
            rows = session.execute(
                select(JobRow.id, JobRow.lease_owner).where(JobRow.lease_until >= _now())
            ).all()
        return {job_id: owner for job_id, owner in rows if owner}

    def orphaned(self, wait_s: float = 0.0) -> list[str]:
        """Jobs to be sent again: running ones whose lease lapsed (a dead worker's, or a
        step's message nobody took), and queued ones no worker took within ``wait_s`` of
        being queued (their message lost) or whose claim lapsed. Each is reserved for
        ``wait_s`` more in the same write, so sweeping workers send it once, and once per
        ``wait_s`` while it waits in a queue."""
        now = _now()
        lapsed = JobRow.lease_until < now
        statement = (
            update(JobRow)
            .where(
                or_(
                    and_(JobRow.status == _RUNNING, or_(JobRow.lease_until.is_(None), lapsed)),
                    and_(
                        JobRow.status == _QUEUED,
                        or_(
                            lapsed,
                            and_(
                                JobRow.lease_until.is_(None),
                                JobRow.updated_at < now - timedelta(seconds=wait_s),
                            ),
                        ),
                    ),
                )
            )
            .values(lease_owner=None, lease_until=now + timedelta(seconds=wait_s))
            .returning(JobRow.id)
        )
        with self._writes.begin() as session:
            return list(session.scalars(statement))

    # Segments

    def replace_segments(
        self, job_id: str, segments: list[Segment], source_language: str | None
    ) -> None:
        """Makes ``segments`` the job's whole transcript; ``source_language``, when given, is
        stored on the job in the same transaction. Raises ``KeyError`` for an unknown job."""
        with self._writes.begin() as session:
            job = session.get(JobRow, job_id)
            if job is None:
                raise KeyError(job_id)
            if source_language is not None:
                job.source_language = source_language
            session.execute(delete(SegmentRow).where(SegmentRow.job_id == job_id))
            session.add_all(SegmentRow(**_segment_columns(job_id, s)) for s in segments)

    def get_segments(self, job_id: str) -> list[Segment]:
        """The transcript in playing order (start, then speaker, then id)."""
        with self._reads.begin() as session:
            rows = session.scalars(
                select(SegmentRow)
                .where(SegmentRow.job_id == job_id)
                .order_by(SegmentRow.start_s, SegmentRow.speaker, SegmentRow.id)
            )
            return [_segment_from_row(row) for row in rows]

    def get_segment(self, job_id: str, segment_id: str) -> Segment | None:
        with self._reads.begin() as session:
            row = session.get(SegmentRow, (job_id, segment_id))
            return None if row is None else _segment_from_row(row)

    def update_segment(self, job_id: str, segment: Segment) -> Segment:
        """Stores ``segment`` whole over the one with its id; ``KeyError`` if there is none."""
        with self._writes.begin() as session:
            statement = (
                update(SegmentRow)
                .where(SegmentRow.job_id == job_id, SegmentRow.id == segment.id)
                .values(_segment_columns(job_id, segment))
            )
            if _rowcount(session, statement) == 0:
                raise KeyError((job_id, segment.id))
        return segment

    # Events

    def add_event(self, job_id: str, type: str, data: dict[str, Any]) -> JobEvent:
        """Appends an event numbered one past the job's last (1 for the first); numbers are
        never reused, even after pruning. Raises ``KeyError`` for an unknown job."""
        with self._writes.begin() as session:
            seq = session.scalar(
                update(JobRow)
                .where(JobRow.id == job_id)
                .values(last_event_seq=JobRow.last_event_seq + 1)
                .returning(JobRow.last_event_seq)
            )
            if seq is None:
                raise KeyError(job_id)
            job_event = JobEvent(job_id=job_id, seq=seq, type=type, data=data, created_at=_now())
            session.add(EventRow(**dataclasses.asdict(job_event)))
            if self.postgres:  # wakes the followers on every API node, once this commits
                session.execute(select(func.pg_notify(EVENTS_CHANNEL, job_id)))
        return job_event

    def events_after(self, job_id: str, after_seq: int, limit: int = EVENT_PAGE) -> list[JobEvent]:
        """Events numbered above ``after_seq``, in order: an SSE client's resume point."""
        with self._reads.begin() as session:
            rows = session.scalars(
                select(EventRow)
                .where(EventRow.job_id == job_id, EventRow.seq > after_seq)
                .order_by(EventRow.seq)
                .limit(limit)
            )
            return [
                JobEvent(
                    job_id=row.job_id,
                    seq=row.seq,
                    type=row.type,
                    data=row.data,
                    created_at=row.created_at,
                )
                for row in rows
            ]

    def prune_events(self, job_id: str, keep_last: int) -> int:
        """Deletes all but the job's ``keep_last`` newest events; returns how many went."""
        if keep_last < 0:
            raise ValueError(f"keep_last must be >= 0, not {keep_last}")
        cutoff = (
            select(JobRow.last_event_seq - keep_last).where(JobRow.id == job_id).scalar_subquery()
        )
        with self._writes.begin() as session:
            return _rowcount(
                session, delete(EventRow).where(EventRow.job_id == job_id, EventRow.seq <= cutoff)
            )


def _configure_sqlite(engine: Engine) -> None:
    """Per-connection pragmas, and SQLAlchemy (not the sqlite3 module) emitting BEGIN."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the "begin" hook below starts transactions
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # With WAL, NORMAL stays consistent; a power cut may lose the last commits only.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")  # for ON DELETE CASCADE
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _by_idempotency_key(session: Session, key: str) -> DubJob | None:
    row = session.scalar(select(JobRow).where(JobRow.idempotency_key == key))
    return None if row is None else _job_from_row(row)


def _load(session: Session, client_id: str | None) -> Load:
    unfinished = session.execute(
        select(JobRow.client_id, JobRow.status, JobRow.eta_s).where(JobRow.status.in_(_UNFINISHED))
    ).all()
    mine = [row for row in unfinished if client_id is not None and row[0] == client_id]
    usage = session.execute(
        select(UsageRow.created_at, UsageRow.audio_s)
        .where(UsageRow.client_id == client_id, UsageRow.created_at >= _now() - USAGE_WINDOW)
        .order_by(UsageRow.created_at)
    ).all()
    return Load(
        unfinished=len(unfinished),
        client_unfinished=len(mine),
        next_free_s=_soonest_eta(unfinished),
        client_next_free_s=_soonest_eta(mine),
        usage=tuple((at, audio_s) for at, audio_s in usage),
    )


def _soonest_eta(jobs: Sequence[Row[str | None, str, float | None]]) -> float | None:
    """The smallest ETA of a running job: when a place in the queue is expected to free up."""
    etas = [eta for _, status, eta in jobs if status == _RUNNING and eta is not None]
    return min(etas, default=None)


def _rowcount(session: Session, statement: Executable) -> int:
    """Rows a DML statement touched (a Session's results are not typed as cursor results)."""
    return session.connection().execute(statement).rowcount


def _now() -> datetime:
    return datetime.now(UTC)


def _column_value(name: str, value: Any) -> Any:
    """A ``DubJob`` field's value as its ``JobRow`` column stores it."""
    if name == "plan":
        return value.to_dict()
    if name == "status":
        return JobStatus(value).value
    return value


def _job_columns(job: DubJob) -> dict[str, Any]:
    return {name: _column_value(name, getattr(job, name)) for name in _JOB_FIELDS}


def _job_from_row(row: JobRow) -> DubJob:
    values = {name: getattr(row, name) for name in _JOB_FIELDS}
    values["status"] = JobStatus(row.status)
    values["plan"] = DubPlan.from_dict(row.plan)
    return DubJob(**values)


def _segment_columns(job_id: str, segment: Segment) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "id": segment.id,
        "start_s": segment.start,
        "end_s": segment.end,
        "speaker": segment.speaker,
        "source_text": segment.source_text,
        "words": [[w.start, w.end, w.text, w.probability] for w in segment.words],
        "target_text": segment.target_text,
        "voice": segment.voice,
        "status": segment.status.value,
        "target_edited": segment.target_edited,
        "audio_key": segment.audio_key,
        "synthesized_s": segment.synthesized_s,
        "fitted_s": segment.fitted_s,
        "speed": segment.speed,
        "overrun_s": segment.overrun_s,
        "outcome": None if segment.outcome is None else segment.outcome.value,
        "language": segment.language,
        "flags": list(segment.flags),
        "words_trimmed": segment.words_trimmed,
        "translated_via": segment.translated_via,
    }


def _segment_from_row(row: SegmentRow) -> Segment:
    return Segment(
        id=row.id,
        start=row.start_s,
        end=row.end_s,
        speaker=row.speaker,
        source_text=row.source_text,
        words=tuple(Word(*word) for word in row.words),
        target_text=row.target_text,
        voice=row.voice,
        status=SegmentStatus(row.status),
        target_edited=row.target_edited,
        audio_key=row.audio_key,
        synthesized_s=row.synthesized_s,
        fitted_s=row.fitted_s,
        speed=row.speed,
        overrun_s=row.overrun_s,
        outcome=None if row.outcome is None else FitOutcome(row.outcome),
        language=row.language,
        flags=tuple(row.flags or ()),
        words_trimmed=row.words_trimmed or 0,
        translated_via=row.translated_via,
    )


# API keys


class ApiKeyStore:
    """API keys in the job store's database, by the SHA-256 of the key (see ``ApiKeyRow``).

    Shares the ``DubStore``'s connections: one database, one migration history.
    """

    def __init__(self, store: DubStore) -> None:
        self._reads = store._reads
        self._writes = store._writes

    def add(self, key_id: str, name: str, key_hash: str, prefix: str) -> ApiKey:
        row = ApiKeyRow(id=key_id, name=name, key_hash=key_hash, prefix=prefix, created_at=_now())
        with self._writes.begin() as session:
            session.add(row)
        return _key_from_row(row)

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones too, oldest first."""
        with self._reads.begin() as session:
            rows = session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id))
            return [_key_from_row(row) for row in rows]

    def revoke(self, key_id: str) -> ApiKey | None:
        """Marks the key revoked (once: a second revoke keeps the first time); None when there
        is no such key."""
        with self._writes.begin() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None:
                return None
            if row.revoked_at is None:
                row.revoked_at = _now()
            return _key_from_row(row)

    def find_active(self, key_hash: str) -> ApiKey | None:
        with self._reads.begin() as session:
            row = session.scalar(
                select(ApiKeyRow).where(
                    ApiKeyRow.key_hash == key_hash, ApiKeyRow.revoked_at.is_(None)
                )
            )
            return None if row is None else _key_from_row(row)

    def any_active(self) -> bool:
        with self._reads.begin() as session:
            found = session.scalar(
                select(ApiKeyRow.id).where(ApiKeyRow.revoked_at.is_(None)).limit(1)
            )
            return found is not None

    def mark_used(self, key_id: str, when: datetime) -> None:
        with self._writes.begin() as session:
            session.execute(
                update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=when)
            )


def _key_from_row(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )
