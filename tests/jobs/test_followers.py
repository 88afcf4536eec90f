"""Followers of a dub or a batch (the SSE streams, MCP's progress) share one way of waiting:
woken by the hub's notifications, with a look into the store every ``event_poll_s`` in case
a notification was lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TypeVar

from dubbing_studio.bootstrap import build_studio
from dubbing_studio.config import Settings
from dubbing_studio.domain.jobs import DubBatch, JobStatus
from dubbing_studio.jobs import DubStore
from dubbing_studio.jobs.store import EVENT_PAGE
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.services.batches import BatchService
from dubbing_studio.services.dubs import DubService
from dubbing_studio.services.events import EventHub
from tests.jobs.conftest import T0, make_job

T = TypeVar("T")
# The fallback look comes an hour after the last one: what a follower sees within
# SEEN_WITHIN_S came through a notification.
HOUR_S = 3600.0
SEEN_WITHIN_S = 120.0


class RecordingHub(EventHub):
    """Remembers how long each wait was allowed to last."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    async def wait(self, signals: Sequence[asyncio.Event], seconds: float) -> bool:  # type: ignore[override]
        self.waits.append(seconds)
        return await EventHub.wait(signals, seconds)


def service_with(store: DubStore, tmp_path: Path, poll_s: float, hub: EventHub) -> DubService:
    settings = Settings(
        data_dir=tmp_path / "data",
        temp_dir=tmp_path / "tmp",
        event_poll_s=poll_s,
        _env_file=None,  # type: ignore[call-arg]
    )
    artifacts = ArtifactStore(settings.data_dir / "artifacts")
    return DubService(settings, build_studio(settings), store, artifacts, hub)


def add_batch(store: DubStore, *job_ids: str) -> str:
    store.create_batch(DubBatch("batch", T0, ("es",), ("talk.mp4",)))
    for minutes, job_id in enumerate(job_ids):
        store.create_job(make_job(job_id, minutes, batch_id="batch"))
    return "batch"


async def next_of(follower: AsyncIterator[T]) -> T:
    async with asyncio.timeout(SEEN_WITHIN_S):
        return await anext(follower)


async def test_a_batch_and_a_dub_follower_wake_on_a_notification(
    store: DubStore, tmp_path: Path
) -> None:
    dubs = service_with(store, tmp_path, HOUR_S, EventHub())
    batch_id = add_batch(store, "one", "two")
    batch = BatchService(dubs).follow(batch_id)
    dub = dubs.follow("two", 0)
    assert (await next_of(batch)).status == "queued"
    waiting = asyncio.ensure_future(next_of(dub))
    await asyncio.sleep(0)  # both followers now wait for news

    await dubs._end("one", JobStatus.SUCCEEDED)
    view = await next_of(batch)
    assert [job.status for job in view.jobs] == [JobStatus.SUCCEEDED, JobStatus.QUEUED]
    await dubs._event("two", "progress", {"progress": 0.5})
    assert (await waiting).data == {"progress": 0.5}

    await dubs._end("two", JobStatus.CANCELLED)
    assert (await next_of(batch)).finished
    assert [event.type async for event in dub] == ["done"]
    assert [view async for view in batch] == []


async def test_a_batch_follower_looks_again_after_the_configured_poll(
    store: DubStore, tmp_path: Path
) -> None:
    """A change nobody announced (a notification lost) is found by the next look."""
    hub = RecordingHub()
    dubs = service_with(store, tmp_path, 0.05, hub)
    batch = BatchService(dubs).follow(add_batch(store, "one"))
    assert (await next_of(batch)).status == "queued"
    store.update_job("one", status=JobStatus.RUNNING, progress=0.25)  # no event, no notify

    view = await next_of(batch)
    assert view.status == "running" and view.progress == 0.25
    assert hub.waits and set(hub.waits) == {0.05}


async def test_a_dub_follower_reads_on_after_a_full_page(store: DubStore, tmp_path: Path) -> None:
    """More events than one query returns are all read before the follower waits."""
    hub = RecordingHub()
    dubs = service_with(store, tmp_path, HOUR_S, hub)
    store.create_job(make_job("long", 0))
    for index in range(EVENT_PAGE + 3):
        store.add_event("long", "progress", {"index": index})
    follower = dubs.follow("long", 0)

    seen = [(await next_of(follower)).data["index"] for _ in range(EVENT_PAGE + 3)]

    assert seen == list(range(EVENT_PAGE + 3))
    assert hub.waits == []
