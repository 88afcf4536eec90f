"""The job store's contract, run against a SQLite file and (when configured) PostgreSQL
(see ``conftest.py``)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError, StatementError

from dubbing_studio.domain.dub import (
    DubPlan,
    FitOutcome,
    MixPolicy,
    Segment,
    SegmentStatus,
    TimingPolicy,
)
from dubbing_studio.domain.jobs import JobStatus
from dubbing_studio.domain.speech import Glossary, Word
from dubbing_studio.jobs import DubStore
from dubbing_studio.jobs.schema import Base
from dubbing_studio.jobs.store import Load
from tests.conftest import service_url
from tests.jobs.conftest import POSTGRES_URL_ENV, T0, _drop_all, make_job

T = TypeVar("T")

FULL_PLAN = DubPlan(
    target_language="es",
    source_language="en",
    transcriber="whisper",
    translator="apertium",
    synthesizer="piper",
    voice="es_ES-davefx",
    speaker_voices={"SPEAKER_00": "es_ES-davefx", "SPEAKER_01": "es_MX-ald"},
    glossary=Glossary(keep=("NASA", "Apollo"), force=(("moon", "luna"), ("ship", "nave"))),
    timing=TimingPolicy(max_speed=1.4, min_speed=0.8, max_overrun_s=0.2, min_line_s=0.5),
    mix=MixPolicy(background="replace", duck_db=-12.0, fade_s=0.3, target_lufs=-23.0),
    keep_original_audio=True,
    audio_formats=("mp3", "wav"),
    video_format="mkv",
)


def make_segment(segment_id: str, start: float, speaker: str = "a", **changes: Any) -> Segment:
    segment = Segment(
        id=segment_id, start=start, end=start + 1.5, speaker=speaker, source_text="hello"
    )
    return replace(segment, **changes)


def run_in_threads(count: int, fn: Callable[[int], T]) -> list[T]:
    """Runs ``fn(0..count-1)`` at once (a barrier lines them up) and re-raises any error."""
    barrier = threading.Barrier(count)

    def call(index: int) -> T:
        barrier.wait()
        return fn(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(call, range(count)))


# Schema


def test_migrate_is_idempotent_and_matches_the_models(store: DubStore) -> None:
    store.create_job(make_job())
    store.migrate()
    assert store.get_job("job-1") == make_job()
    engine = create_engine(store.url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()


def test_sqlite_file_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "new" / "nested" / "studio.db"
    dub_store = DubStore(f"sqlite:///{path}")
    dub_store.migrate()
    dub_store.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# Jobs


def test_create_and_get_keep_every_field(store: DubStore) -> None:
    berlin = timezone(timedelta(hours=2))
    job = make_job(
        created_at=T0.astimezone(berlin),
        status=JobStatus.RUNNING,
        plan=FULL_PLAN,
        stage="synthesize",
        progress=0.25,
        eta_s=12.5,
        error="boom",
        error_code="engine_failed",
        source_language="en",
        duration_s=61.25,
        outputs={"audio": "dub.mp3", "subtitles": "dub.srt"},
        idempotency_key="key-1",
        segments_done=3,
        segments_total=12,
        attempts=2,
        client_id="key:0123abcd",
    )
    assert store.create_job(job) == job
    stored = store.get_job(job.id)
    assert stored == job
    assert stored.plan == FULL_PLAN
    assert stored.created_at.tzinfo == UTC
    assert stored.updated_at.tzinfo == UTC
    assert store.get_job("missing") is None


def test_naive_datetimes_are_refused(store: DubStore) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        store.create_job(make_job(created_at=datetime(2026, 1, 1)))


def test_list_jobs_pages_newest_first_with_id_tiebreak(store: DubStore) -> None:
    for job_id, minutes in [("j1", 0), ("j2", 1), ("j3", 2), ("j4", 2), ("j5", 3)]:
        store.create_job(make_job(job_id, minutes))
    pages = [store.list_jobs(limit=2, offset=offset) for offset in (0, 2, 4, 6)]
    assert [[job.id for job in jobs] for jobs, _ in pages] == [
        ["j5", "j4"],
        ["j3", "j2"],
        ["j1"],
        [],
    ]
    assert {total for _, total in pages} == {5}


def test_idempotency_key_returns_the_first_job(store: DubStore) -> None:
    first = store.create_job(make_job("j1", idempotency_key="upload-1"))
    assert store.create_job(make_job("j2", idempotency_key="upload-1")) == first
    store.create_job(make_job("j3", idempotency_key="upload-2"))
    store.create_job(make_job("j4"))
    store.create_job(make_job("j5"))  # jobs without a key never collide
    assert store.list_jobs(limit=10, offset=0)[1] == 4
    with pytest.raises(IntegrityError):
        store.create_job(make_job("j4"))  # a duplicate id is an error, not a replay


def test_racing_idempotent_creates_make_one_job(store: DubStore) -> None:
    created = run_in_threads(
        4, lambda i: store.create_job(make_job(f"j{i}", idempotency_key="same"))
    )
    assert len({job.id for job in created}) == 1
    assert store.list_jobs(limit=10, offset=0)[1] == 1


def test_update_job_sets_fields_and_updated_at(store: DubStore) -> None:
    store.create_job(make_job(source_language="en"))
    updated = store.update_job(
        "job-1",
        status=JobStatus.SUCCEEDED,
        progress=1.0,
        plan=FULL_PLAN,
        outputs={"video": "dub.mkv"},
        eta_s=None,
    )
    assert updated.updated_at > T0
    assert updated == replace(
        make_job(source_language="en"),
        updated_at=updated.updated_at,
        status=JobStatus.SUCCEEDED,
        progress=1.0,
        plan=FULL_PLAN,
        outputs={"video": "dub.mkv"},
    )
    assert store.get_job("job-1") == updated
    assert store.update_job("job-1", status="failed").status is JobStatus.FAILED


def test_update_job_rejects_unknown_jobs_and_fields(store: DubStore) -> None:
    with pytest.raises(KeyError):
        store.update_job("missing", progress=0.5)
    store.create_job(make_job())
    for bad in ({"id": "other"}, {"colour": "red"}):
        with pytest.raises(TypeError):
            store.update_job("job-1", **bad)


def never_gone(owner: str) -> bool:
    return False


def test_claim_unfinished_returns_queued_and_running_oldest_first(store: DubStore) -> None:
    statuses = [
        JobStatus.RUNNING,
        JobStatus.SUCCEEDED,
        JobStatus.QUEUED,
        JobStatus.FAILED,
        JobStatus.CANCELLED,
        JobStatus.QUEUED,
    ]
    for minutes, status in enumerate(statuses):
        store.create_job(make_job(f"j{minutes}", minutes, status=status))
    claimed = store.claim_unfinished("node-a", 60, never_gone)
    assert [job.id for job in claimed] == ["j0", "j2", "j5"]
    assert {store.holder(job.id) for job in claimed} == {"node-a"}
    assert store.claim_unfinished("node-b", 60, never_gone) == [], "claimed by a live node"
    again = store.claim_unfinished("node-a", 60, never_gone)
    assert [job.id for job in again] == ["j0", "j2", "j5"], "its own claims do not hold it back"
    taken = store.claim_unfinished("node-b", 60, lambda owner: owner == "node-a")
    assert [job.id for job in taken] == ["j0", "j2", "j5"], "a dead node's claims are taken"
    store.claim_unfinished("node-c", 0, lambda owner: True)  # a claim that lapses at once
    assert len(store.claim_unfinished("node-d", 60, never_gone)) == 3


def test_nodes_resuming_at_once_each_claim_a_job_once(store: DubStore) -> None:
    for minutes in range(12):
        status = JobStatus.RUNNING if minutes % 2 else JobStatus.QUEUED
        store.create_job(make_job(f"j{minutes:02}", minutes, status=status))
    url = store.url.render_as_string(hide_password=False)
    nodes = [DubStore(url) for _ in range(4)]  # each its own connections, as on 4 nodes
    try:
        claims = run_in_threads(
            4, lambda i: store_ids(nodes[i].claim_unfinished(f"node-{i}", 60, never_gone))
        )
    finally:
        for node in nodes:
            node.close()
    every = sorted(job_id for ids in claims for job_id in ids)
    assert every == [f"j{minutes:02}" for minutes in range(12)], claims


def store_ids(jobs: list[Any]) -> list[str]:
    return [job.id for job in jobs]


def test_delete_job_cascades_to_segments_and_events(store: DubStore) -> None:
    for job_id in ("j1", "j2"):
        store.create_job(make_job(job_id))
        store.replace_segments(job_id, [make_segment("s1", 0.0)], None)
        store.add_event(job_id, "status", {"status": "queued"})
    assert store.delete_job("j1")
    assert not store.delete_job("j1")
    assert store.get_job("j1") is None
    assert store.get_segments("j1") == []
    assert store.events_after("j1", 0) == []
    assert len(store.get_segments("j2")) == 1
    assert len(store.events_after("j2", 0)) == 1


def test_a_deleted_job_gives_up_only_the_artifacts_no_other_job_refers_to(
    store: DubStore,
) -> None:
    for minutes, job_id in enumerate(("j1", "j2", "j3")):
        store.create_job(make_job(job_id, minutes))
    store.add_artifact_refs("j1", ["aa/mine.json", "bb/shared.npz", "aa/mine.json"])
    store.add_artifact_refs("j1", ["bb/shared.npz", "cc/late.wav"])  # again: no error
    store.add_artifact_refs("j2", ["bb/shared.npz"])
    store.add_artifact_refs("j3", [])
    removed: list[list[str]] = []
    assert store.delete_job("j1", removed.append)
    assert removed == [["aa/mine.json", "cc/late.wav"]]
    assert store.delete_job("j3", removed.append)
    assert len(removed) == 1, "a job with no references removes nothing"
    assert store.delete_job("j2", removed.append)
    assert removed[-1] == ["bb/shared.npz"], "its last user gone, the shared file goes too"
    with pytest.raises(IntegrityError):
        store.add_artifact_refs("j1", ["aa/mine.json"])  # a run of a deleted job stops


def test_a_failed_removal_keeps_the_job_and_its_references(store: DubStore) -> None:
    store.create_job(make_job("j1"))
    store.add_artifact_refs("j1", ["aa/mine.json"])

    def fail(paths: list[str]) -> None:
        raise PermissionError(paths[0])

    with pytest.raises(PermissionError):
        store.delete_job("j1", fail)
    assert store.get_job("j1") is not None
    removed: list[list[str]] = []
    assert store.delete_job("j1", removed.append)
    assert removed == [["aa/mine.json"]]


def test_racing_deletes_of_two_users_remove_a_shared_artifact_once(store: DubStore) -> None:
    url = store.url.render_as_string(hide_password=False)
    for attempt in range(5):
        ids = [f"r{attempt}-a", f"r{attempt}-b"]
        for minutes, job_id in enumerate(ids):
            store.create_job(make_job(job_id, minutes))
            store.add_artifact_refs(job_id, ["dd/shared.npz", f"ee/{job_id}.json"])
        assert sorted(delete_at_once(url, ids)) == [
            "dd/shared.npz",
            *(f"ee/{job_id}.json" for job_id in ids),
        ]


def delete_at_once(url: str, ids: list[str]) -> list[str]:
    """Deletes the jobs at once, each through its own store (as on its own node); the
    artifact paths each deletion removed."""
    nodes = [DubStore(url) for _ in ids]
    removed: list[str] = []
    try:
        run_in_threads(len(ids), lambda i: nodes[i].delete_job(ids[i], removed.extend))
    finally:
        for node in nodes:
            node.close()
    return removed


def test_start_run_counts_every_attempt_even_when_runs_race(store: DubStore) -> None:
    store.create_job(make_job())
    started = run_in_threads(6, lambda i: store.start_run("job-1", status=JobStatus.RUNNING))
    assert sorted(job.attempts for job in started) == [1, 2, 3, 4, 5, 6]
    job = store.get_job("job-1")
    assert job.attempts == 6 and job.status is JobStatus.RUNNING
    assert store.update_job("job-1", attempts=5).attempts == 5  # a graceful stop gives one back
    with pytest.raises(KeyError):
        store.start_run("missing")


def test_load_counts_unfinished_jobs_and_the_soonest_etas(store: DubStore) -> None:
    jobs = [
        ("a1", "alice", JobStatus.QUEUED, None),
        ("a2", "alice", JobStatus.RUNNING, 30.0),
        ("a3", "alice", JobStatus.SUCCEEDED, None),
        ("b1", "bob", JobStatus.RUNNING, 10.0),
        ("b2", "bob", JobStatus.RUNNING, None),
        ("n1", None, JobStatus.QUEUED, None),
    ]
    for minutes, (job_id, client, status, eta) in enumerate(jobs):
        store.create_job(make_job(job_id, minutes, client_id=client, status=status, eta_s=eta))
    alice = store.load("alice")
    assert (alice.unfinished, alice.client_unfinished) == (5, 2)
    assert (alice.next_free_s, alice.client_next_free_s) == (10.0, 30.0)
    nobody = store.load("carol")
    assert (nobody.client_unfinished, nobody.client_next_free_s, nobody.usage) == (0, None, ())


def test_usage_counts_the_last_day_and_outlives_deleted_jobs(store: DubStore) -> None:
    now = datetime.now(UTC)
    recent = now - timedelta(hours=2)
    for job_id, at, seconds in [("old", now - timedelta(hours=25), 500.0), ("new", recent, 60.0)]:
        store.create_job(
            make_job(job_id, created_at=at, updated_at=at, client_id="alice", duration_s=seconds)
        )
    store.create_job(make_job("bob's", client_id="bob", duration_s=30.0))
    assert store.load("alice").usage == ((recent, 60.0),)
    assert store.delete_job("new")
    assert store.load("alice").usage == ((recent, 60.0),), "deleting a dub gives no minutes back"


def test_a_refused_admission_stores_nothing(store: DubStore) -> None:
    def refuse(load: Load) -> None:
        raise RuntimeError(f"full at {load.unfinished}")

    with pytest.raises(RuntimeError, match="full at 0"):
        store.create_job(make_job(client_id="alice", duration_s=60.0), refuse)
    assert store.get_job("job-1") is None
    assert store.load("alice").usage == ()


def test_an_idempotent_retry_is_admitted_unchecked_as_the_first_job(store: DubStore) -> None:
    first = store.create_job(make_job("j1", idempotency_key="upload-1"))

    def refuse(load: Load) -> None:
        raise AssertionError("a retry of an accepted request must not be checked")

    assert store.create_job(make_job("j2", idempotency_key="upload-1"), refuse) == first


def test_racing_admissions_never_take_more_places_than_there_are(store: DubStore) -> None:
    def at_most_two(load: Load) -> None:
        if load.unfinished >= 2:
            raise RuntimeError("full")

    def admit(i: int) -> bool:
        try:
            store.create_job(make_job(f"j{i}", client_id="alice"), at_most_two)
        except RuntimeError:
            return False
        return True

    assert sorted(run_in_threads(6, admit)) == [False] * 4 + [True] * 2
    assert store.load("alice").client_unfinished == 2


# Segments


def test_segments_roundtrip_in_playing_order(store: DubStore) -> None:
    store.create_job(make_job())
    full = make_segment(
        "s2",
        2.0,
        words=(Word(2.0, 2.4, "hello", 0.9), Word(2.5, 3.1, "moon")),
        target_text="hola",
        voice="es_ES-davefx",
        status=SegmentStatus.READY,
        target_edited=True,
        audio_key="fit-0123",
        synthesized_s=1.75,
        fitted_s=1.5,
        speed=1.17,
        overrun_s=0.05,
        outcome=FitOutcome.SPED_UP,
    )
    # Same start: speaker, then id, decide.
    others = [
        make_segment("s3", 0.5, "b"),
        make_segment("s1", 0.5, "a"),
        make_segment("s0", 0.5, "b"),
    ]
    store.replace_segments("job-1", [full, *others], "en")
    assert store.get_segments("job-1") == [others[1], others[2], others[0], full]
    assert store.get_segment("job-1", "s2") == full
    assert store.get_segment("job-1", "missing") is None
    assert store.get_job("job-1").source_language == "en"

    store.replace_segments("job-1", [others[0]], None)  # None keeps the job's language
    assert store.get_segments("job-1") == [others[0]]
    assert store.get_job("job-1").source_language == "en"
    with pytest.raises(KeyError):
        store.replace_segments("missing", [], None)


def test_update_segment_stores_the_whole_segment(store: DubStore) -> None:
    store.create_job(make_job())
    original = make_segment("s1", 0.0, status=SegmentStatus.READY, outcome=FitOutcome.FITS)
    store.replace_segments("job-1", [original, make_segment("s2", 3.0)], None)
    edited = original.edited(
        target_text="adiós", target_edited=True, status=SegmentStatus.STALE, outcome=None
    )
    assert store.update_segment("job-1", edited) == edited
    assert store.get_segment("job-1", "s1") == edited
    assert store.get_segment("job-1", "s2") == make_segment("s2", 3.0)
    with pytest.raises(KeyError):
        store.update_segment("job-1", make_segment("missing", 0.0))
    with pytest.raises(KeyError):
        store.update_segment("other-job", edited)


# Events


def test_events_are_numbered_per_job_and_resumable(store: DubStore) -> None:
    store.create_job(make_job("j1"))
    store.create_job(make_job("j2"))
    added = [
        store.add_event("j1", "progress", {"progress": i / 10, "stage": "mix"}) for i in range(5)
    ]
    assert [event.seq for event in added] == [1, 2, 3, 4, 5]
    assert store.add_event("j2", "status", {"status": "running"}).seq == 1
    assert store.events_after("j1", 0) == added
    assert store.events_after("j1", 3) == added[3:]
    assert store.events_after("j1", 1, limit=2) == added[1:3]
    assert all(event.created_at.tzinfo == UTC for event in added)
    with pytest.raises(KeyError):
        store.add_event("missing", "status", {})


def test_prune_events_keeps_the_newest_and_never_reuses_numbers(store: DubStore) -> None:
    store.create_job(make_job())
    for i in range(6):
        store.add_event("job-1", "progress", {"i": i})
    assert store.prune_events("job-1", keep_last=2) == 4
    assert [event.seq for event in store.events_after("job-1", 0)] == [5, 6]
    assert store.prune_events("job-1", keep_last=2) == 0
    assert store.add_event("job-1", "done", {}).seq == 7
    with pytest.raises(ValueError):
        store.prune_events("job-1", keep_last=-1)


# Concurrency


def test_concurrent_writers_do_not_fail(store: DubStore) -> None:
    """Four threads write at once (as worker threads and the runner do); with SQLite every
    one must wait its turn rather than fail with "database is locked"."""
    store.create_job(make_job("shared"))
    rounds = 25

    def work(worker: int) -> None:
        job_id = f"worker-{worker}"
        store.create_job(make_job(job_id))
        store.replace_segments(job_id, [make_segment("s1", 0.0)], "en")
        for i in range(rounds):
            store.add_event("shared", "progress", {"worker": worker, "i": i})
            store.update_job(job_id, progress=i / rounds, stage="synthesize")
            store.update_segment(job_id, make_segment("s1", 0.0, target_text=str(i)))
            store.list_jobs(limit=5, offset=0)

    run_in_threads(4, work)
    events = store.events_after("shared", 0)
    assert [event.seq for event in events] == list(range(1, 4 * rounds + 1))
    assert store.get_job("worker-3").progress == (rounds - 1) / rounds


@pytest.mark.services
def test_nodes_starting_at_once_on_a_fresh_database_all_find_it_migrated() -> None:
    """API nodes and workers each migrate at start-up; on a fresh PostgreSQL they race to
    create the same tables (``alembic_version`` first) unless one waits for the other."""
    url = service_url(POSTGRES_URL_ENV, "PostgreSQL")
    _drop_all(url)
    stores = [DubStore(url) for _ in range(4)]
    start = threading.Barrier(len(stores))

    def start_node(store: DubStore) -> None:
        start.wait()
        store.migrate()

    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            list(pool.map(start_node, stores))  # raises what any of them raised
        stores[0].create_job(make_job())
        assert [s.get_job("job-1") is not None for s in stores] == [True] * len(stores)
    finally:
        for store in stores:
            store.close()
        _drop_all(url)
