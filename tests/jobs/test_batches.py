"""Batches in the store: a group of jobs plus the dubs refused when it was made, on SQLite and
PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

from dubbing_studio.domain.jobs import DubBatch, RejectedDub
from dubbing_studio.jobs import DubStore
from tests.jobs.conftest import T0, make_job


def test_a_batch_lists_its_jobs_and_rejections(store: DubStore) -> None:
    batch = DubBatch("b1", T0, ("es", "ca"), ("a.flac", "bad.flac"), client_id="c1")
    store.create_batch(batch)
    for index, language in enumerate(("es", "ca")):
        job = make_job(f"job-{index}")
        store.create_job(
            replace(job, batch_id="b1", plan=replace(job.plan, target_language=language))
        )
    store.create_job(make_job("elsewhere"))
    rejected = RejectedDub("bad.flac", "es", "Could not decode it.", "undecodable_media")
    store.reject_in_batch("b1", rejected)

    stored = store.get_batch("b1")
    assert stored == replace(batch, rejected=(rejected,))
    jobs = store.batch_jobs("b1")
    assert [j.id for j in jobs] == ["job-0", "job-1"] and jobs[0].batch_id == "b1"
    assert [j.plan.target_language for j in jobs] == ["es", "ca"]
    assert store.get_batch("nope") is None and store.batch_jobs("nope") == []
