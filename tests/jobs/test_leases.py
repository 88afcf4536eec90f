"""Leases of jobs to worker processes: one claimant wins, a lapsed lease is taken over, and
only its holder renews or releases it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from dubbing_studio.domain.jobs import JobStatus
from dubbing_studio.jobs import DubStore

from .conftest import make_job


def test_a_job_is_leased_to_one_worker_until_released(store: DubStore) -> None:
    store.create_job(make_job())
    assert store.claim("job-1", "a:1", 60) is not None
    assert store.claim("job-1", "b:2", 60) is None, "a live lease holds it"
    assert store.holder("job-1") == "a:1"
    assert store.leases() == {"job-1": "a:1"}
    assert not store.renew("job-1", "b:2", 60), "only the holder renews"
    assert store.renew("job-1", "a:1", 60)
    store.release("job-1", "b:2")
    assert store.holder("job-1") == "a:1", "only the holder releases"
    store.release("job-1", "a:1")
    assert store.holder("job-1") is None
    assert store.claim("job-1", "b:2", 60) is not None


def test_a_lapsed_lease_makes_a_running_job_an_orphan_for_another_worker(
    store: DubStore,
) -> None:
    store.create_job(make_job())
    store.claim("job-1", "a:1", 0.2)
    store.start_run("job-1", status=JobStatus.RUNNING)
    assert store.orphaned() == []
    time.sleep(0.4)  # the worker stopped renewing: it died
    assert store.holder("job-1") is None
    assert store.orphaned() == ["job-1"]
    taken = store.claim("job-1", "b:2", 60)
    assert taken is not None and taken.attempts == 1
    assert store.orphaned() == [] and store.holder("job-1") == "b:2"
    assert not store.renew("job-1", "a:1", 60), "the dead worker's lease is gone"


def test_a_finished_or_missing_job_is_never_claimed(store: DubStore) -> None:
    store.create_job(make_job(status=JobStatus.CANCELLED))
    assert store.claim("job-1", "a:1", 60) is None
    assert store.claim("nope", "a:1", 60) is None


def test_a_job_on_workers_is_claimed_only_at_its_step_and_moves_on_in_one_write(
    store: DubStore,
) -> None:
    store.create_job(make_job(step="recognise"))
    assert store.claim("job-1", "a:1", 60, "translate") is None, "not at that step yet"
    taken = store.claim("job-1", "a:1", 60, "recognise")
    assert taken is not None
    store.start_run("job-1", status=JobStatus.RUNNING)
    assert not store.advance("job-1", "b:2", "recognise", "translate", 0, 60), "holder only"
    assert store.advance("job-1", "a:1", "recognise", "translate", taken.attempts, 60)
    job = store.get_job("job-1")
    assert job is not None and (job.step, job.attempts) == ("translate", 0)
    assert store.holder("job-1") is None and store.orphaned(60) == [], "its message is due"
    assert store.claim("job-1", "b:2", 60, "recognise") is None, "a step done is not redone"
    assert store.claim("job-1", "b:2", 60, "translate") is not None


def test_a_step_message_nobody_took_is_swept_once_per_wait(store: DubStore) -> None:
    store.create_job(make_job(step="recognise"))
    store.claim("job-1", "a:1", 60, "recognise")
    store.start_run("job-1", status=JobStatus.RUNNING)
    store.advance("job-1", "a:1", "recognise", "translate", 0, 0.2)
    time.sleep(0.4)  # the worker died before sending the next step's message
    assert store.orphaned(60) == ["job-1"]
    assert store.orphaned(60) == [], "sent again once, then given time to be taken"
    assert store.claim("job-1", "b:2", 60, "translate") is not None


def test_a_queued_job_whose_message_was_lost_is_sent_again_once_per_wait(
    store: DubStore,
) -> None:
    store.create_job(make_job(step="recognise"))  # queued long ago, and no worker took it
    just_now = datetime.now(UTC)
    store.create_job(make_job("job-2", step="recognise", created_at=just_now, updated_at=just_now))
    assert store.orphaned(60) == ["job-1"], "job-2's message has had less than the wait"
    assert store.orphaned(60) == [], "sent again once, then given time to be taken"
    assert store.claim("job-1", "a:1", 60, "recognise") is not None
    assert store.claim("job-2", "b:2", 0.2, "recognise") is not None
    time.sleep(0.4)  # its worker died before the run started
    assert store.orphaned(60) == ["job-2"]
