"""Batches: several files into several languages in one request, as a group of dub jobs.

Each (file, language) pair is an ordinary dub project carrying the batch's id, so it is run,
followed, edited and deleted like any other; the batch itself only remembers what was sent
and which dubs could not be queued. The dubs of one file share its recognition (the
transcript is keyed by the input, not the target language, and the pipeline lets one run
compute it while the others wait).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread

from dubbing_studio.domain.dub import DubPlan
from dubbing_studio.domain.errors import NotFound, StudioError
from dubbing_studio.domain.jobs import DubBatch, DubJob, JobStatus, RejectedDub
from dubbing_studio.services.dubs import DubService


@dataclass(frozen=True, slots=True)
class BatchFile:
    """One received file of a batch (a temp file the batch adopts or removes)."""

    path: Path
    filename: str
    kind: str


@dataclass(frozen=True, slots=True)
class BatchView:
    batch: DubBatch
    jobs: tuple[DubJob, ...]

    @property
    def counts(self) -> dict[str, int]:
        counts = Counter(job.status.value for job in self.jobs)
        return {status.value: counts.get(status.value, 0) for status in JobStatus} | {
            "rejected": len(self.batch.rejected)
        }

    @property
    def finished(self) -> bool:
        return all(job.status.finished for job in self.jobs)

    @property
    def status(self) -> str:
        """``queued`` until a dub starts, ``running`` until all ended; then ``succeeded``
        (every dub), ``failed`` (none) or ``partial``."""
        if not self.finished:
            started = any(job.status != JobStatus.QUEUED for job in self.jobs)
            return "running" if started else "queued"
        succeeded = sum(1 for job in self.jobs if job.status == JobStatus.SUCCEEDED)
        if succeeded == len(self.jobs) and not self.batch.rejected:
            return "succeeded"
        return "failed" if succeeded == 0 else "partial"

    @property
    def progress(self) -> float:
        total = len(self.jobs) + len(self.batch.rejected)
        done = sum(1.0 if job.status.finished else job.progress for job in self.jobs)
        return round((done + len(self.batch.rejected)) / total, 4) if total else 1.0

    def snapshot(self) -> dict[str, Any]:
        """The batch as its event stream sends it: whole, so a reconnect needs no cursor."""
        return {
            "id": self.batch.id,
            "status": self.status,
            "progress": self.progress,
            "counts": self.counts,
            "dubs": [
                {
                    "id": job.id,
                    "input_name": job.input_name,
                    "target_language": job.plan.target_language,
                    "status": job.status.value,
                    "stage": job.stage,
                    "progress": job.progress,
                    "error": job.error,
                }
                for job in self.jobs
            ],
        }


class BatchService:
    def __init__(self, dubs: DubService) -> None:
        self.dubs = dubs

    async def create(
        self, files: Sequence[BatchFile], plans: Sequence[DubPlan], client_id: str | None
    ) -> BatchView:
        """Queue a dub per file and plan, file by file (so a file's languages run side by
        side and share its recognition). A plan no engine can serve refuses the whole batch
        (422); a dub that cannot be queued (a file that will not open, a spent quota) is
        recorded as rejected and the others go on. The files are adopted or removed."""
        try:
            for plan in plans:
                await anyio.to_thread.run_sync(self.dubs.pipeline.check, plan)
            await self.dubs.admit(client_id)
            batch = DubBatch(
                id=uuid.uuid4().hex,
                created_at=datetime.now(UTC),
                target_languages=tuple(plan.target_language for plan in plans),
                input_names=tuple(file.filename for file in files),
                client_id=client_id,
            )
            await self._db(self.dubs.store.create_batch, batch)
            for file in files:
                for index, plan in enumerate(plans):
                    last = index == len(plans) - 1
                    await self._queue(batch, file, plan, adopt=last, client_id=client_id)
        finally:
            for file in files:
                file.path.unlink(missing_ok=True)
        return await self.get(batch.id)

    async def _queue(
        self, batch: DubBatch, file: BatchFile, plan: DubPlan, *, adopt: bool, client_id: str | None
    ) -> None:
        """One dub of the batch; its project takes the file itself (``adopt``) or a copy."""
        upload = file.path if adopt else await anyio.to_thread.run_sync(_twin, file.path)
        try:
            await self.dubs.create(
                upload, file.filename, plan, kind=file.kind, client_id=client_id, batch_id=batch.id
            )
        except StudioError as exc:
            rejected = RejectedDub(file.filename, plan.target_language, exc.detail, exc.error_code)
            await self._db(self.dubs.store.reject_in_batch, batch.id, rejected)
        finally:
            upload.unlink(missing_ok=True)

    async def get(self, batch_id: str) -> BatchView:
        batch = await self._db(self.dubs.store.get_batch, batch_id)
        if batch is None:
            raise NotFound(f"No batch with id {batch_id!r}.")
        jobs = await self._db(self.dubs.store.batch_jobs, batch_id)
        return BatchView(batch, tuple(jobs))

    async def follow(self, batch_id: str) -> AsyncIterator[BatchView]:
        """The batch now, then again whenever one of its dubs moves, until every dub has
        ended. Woken as the dubs' own followers are (``DubService.follow``)."""
        hub = self.dubs.hub
        view = await self.get(batch_id)
        last: dict[str, Any] | None = None
        while True:
            signals = [hub.signal(job.id) for job in view.jobs if not job.status.finished]
            view = await self.get(batch_id)  # after taking the signals: no news is lost
            snapshot = view.snapshot()
            if snapshot != last:
                yield view
                last = snapshot
            if view.finished:
                return
            await hub.wait(signals, self.dubs.settings.event_poll_s)

    async def _db(self, fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: fn(*args))


def _twin(path: Path) -> Path:
    """A second name for an upload (a hard link; a copy across file systems)."""
    twin = path.with_name(f"{path.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.link(path, twin)
    except OSError:
        shutil.copyfile(path, twin)
    return twin
