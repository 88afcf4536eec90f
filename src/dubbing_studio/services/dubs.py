"""Dub projects: create, run, follow, edit, re-voice, render, cancel and delete.

The HTTP API (and later the MCP server and workers) are thin shells over this service. A
project lives in ``data/projects/<id>/`` (its input and outputs) plus its rows in the store;
stage outputs live in the shared, content-keyed artifact store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread

from dubbing_studio import media
from dubbing_studio.config import Settings
from dubbing_studio.domain.dub import DubPlan, Segment, SegmentStatus, Transcript
from dubbing_studio.domain.errors import (
    NotFound,
    StudioError,
    ValidationFailed,
)
from dubbing_studio.domain.jobs import DubJob, JobEvent, JobStatus
from dubbing_studio.domain.languages import resolve_language
from dubbing_studio.jobs.runner import JobRunner
from dubbing_studio.jobs.store import EVENT_PAGE, DubStore
from dubbing_studio.pipeline.artifacts import ArtifactStore, UseCallback, digest_file
from dubbing_studio.pipeline.casting import cast_voices, parse_voice
from dubbing_studio.pipeline.context import (
    STAGES,
    DubContext,
    DubEngines,
    Progress,
    ProgressCallback,
)
from dubbing_studio.pipeline.runner import DubPipeline
from dubbing_studio.pipeline.speech import FittedLine, character_of, speak_line
from dubbing_studio.pipeline.steps import STEP_STAGES, STEPS
from dubbing_studio.pipeline.timing import windows
from dubbing_studio.services.events import EventHub
from dubbing_studio.services.quotas import QuotaPolicy
from dubbing_studio.services.studio import Studio
from dubbing_studio.services.subtitle_import import SubtitleImport

log = logging.getLogger(__name__)

# Share of a whole run each stage takes on this kind of machine, for progress and ETA.
STAGE_WEIGHTS = {
    "ingest": 0.02,
    "transcribe": 0.25,
    "translate": 0.05,
    "synthesize": 0.50,
    "hear_back": 0.05,
    "mix": 0.08,
    "export": 0.05,
}
EVENTS_KEPT = 2000
# Where versions before the store's artifact references kept a project's (imported once).
LEGACY_ARTIFACTS_FILE = "artifacts.json"
# Runs of one job that may end with the process dying before it is given up: a job found
# unfinished at start-up after this many is failed instead of taking the server down again.
MAX_CRASHED_RUNS = 2
CRASHED_DETAIL = "The dub stopped the server twice while running; it will not be retried."
CRASHED_CODE = "job_crashed"


class Conflict(StudioError):
    """The project is in a state that forbids this (HTTP 409)."""

    status_code = 409
    error_code = "conflict"


@dataclass(frozen=True, slots=True)
class SegmentEdit:
    """Fields a person may change on one line; None means unchanged."""

    source_text: str | None = None
    target_text: str | None = None
    speaker: str | None = None
    voice: str | None = None
    start: float | None = None
    end: float | None = None


class DubService:
    def __init__(
        self,
        settings: Settings,
        studio: Studio,
        store: DubStore,
        artifacts: ArtifactStore,
        hub: EventHub,
        engines: DubEngines | None = None,
    ) -> None:
        """``engines``: the pipeline's bundle (``bootstrap.dub_engines``); default the
        studio's own engines."""
        self.settings = settings
        self.studio = studio
        self.store = store
        self.artifacts = artifacts
        self.hub = hub
        self.pipeline = DubPipeline(engines or studio, artifacts)
        self.runner: JobRunner | None = None
        self.quotas = QuotaPolicy(settings.limits, settings.quotas)
        self.projects = settings.data_dir / "projects"
        # Names this service in the resume claims it takes on jobs (see ``resume``).
        self.node = f"{media.owner_tag()}{uuid.uuid4().hex[:8]}"
        self._legacy_imported = False  # see ``_import_legacy_records``, done on first delete
        # Told each finished stage's name and seconds (the app's metrics).
        self.on_stage_done: Callable[[str, float], None] = _ignore_stage
        # Where one line is re-voiced: None here; with worker processes, on a worker (it
        # stores the line and its audio; this node then only reads them).
        self.revoice_elsewhere: Callable[[str, str], Awaitable[None]] | None = None

    # --- lifecycle ----------------------------------------------------------------------
    async def resume(self) -> list[str]:
        """Requeue jobs a previous process left queued or running; their finished stages
        are found in the artifact store, so they continue where they stopped.

        A run counts as an attempt before it starts, and a graceful shutdown gives it back,
        so attempts on an unfinished job are runs that ended with the process dying. Such a
        job runs alone (a crash beside it must not be blamed on it); after
        ``MAX_CRASHED_RUNS`` it is failed for good.

        Jobs are claimed in the store first (for ``lease_s``), so of nodes that start at
        once over one database each job is resumed by one; a claim left by a dead process
        of this machine is taken over at once."""
        await anyio.to_thread.run_sync(self.remove_partial_files)
        jobs = await self._db(
            self.store.claim_unfinished, self.node, self.settings.lease_s, media.process_gone
        )
        resumed = []
        for job in sorted(jobs, key=lambda j: j.attempts == 0):  # suspects first
            if await self.given_up(job):
                continue
            job = await self._db(self.store.update_job, job.id, status=JobStatus.QUEUED)
            await self._submit(job)
            resumed.append(job.id)
        return resumed

    async def given_up(self, job: DubJob) -> bool:
        """Fails a job whose runs ended with their process dying ``MAX_CRASHED_RUNS`` times
        (see ``resume``); True if it was."""
        if job.attempts < MAX_CRASHED_RUNS:
            return False
        log.warning("Dub %s crashed its process %d times; failing it", job.id, job.attempts)
        await self._end(job.id, JobStatus.FAILED, CRASHED_DETAIL, CRASHED_CODE)
        return True

    def remove_partial_files(self, dead_only: bool = False) -> None:
        """Temp files of writes a killed process never finished. ``dead_only``: on storage
        other processes share, only those that dead processes of this machine left."""
        self.artifacts.remove_partials(dead_only)
        if self.projects.exists():
            for pattern in ("*/outputs/.partial-*", "*/outputs/.tmp-*", "*/.partial-*"):
                for partial in self.projects.glob(pattern):
                    if not dead_only or media.left_by_dead_process(partial):
                        partial.unlink(missing_ok=True)

    # --- create -------------------------------------------------------------------------
    async def admit(
        self,
        client_id: str | None,
        idempotency_key: str | None = None,
        audio_s: float | None = None,
    ) -> None:
        """Raises ``TooBusy`` when the queue or the client's quotas leave no room for another
        dub of ``audio_s`` (``None``: not known yet). Cheap: the API asks before receiving an
        upload. A retry of an accepted request (same idempotency key) is never refused."""
        if idempotency_key is not None and await self._db(
            self.store.find_by_idempotency_key, idempotency_key
        ):
            return
        self.quotas.check(await self._db(self.store.load, client_id), audio_s)

    async def create(
        self,
        upload_path: Path,
        input_name: str,
        plan: DubPlan,
        idempotency_key: str | None = None,
        kind: str = "media",
        client_id: str | None = None,
        subtitles: SubtitleImport | None = None,
        batch_id: str | None = None,
    ) -> DubJob:
        """Adopt an uploaded file as a new project and queue it. The upload is moved into
        the project's folder (or removed, when the idempotency key names an earlier job).
        The queue bound and ``client_id``'s quotas are checked with the input's duration
        before the upload is kept, and again, atomically, when the job is stored.
        ``subtitles`` become the project's lines before it runs (recognition, and with a
        translation, translation, are skipped)."""
        translating = subtitles is None or not subtitles.translation
        await anyio.to_thread.run_sync(self.pipeline.check, plan, translating)
        info = await anyio.to_thread.run_sync(
            lambda: media.probe_untrusted(
                upload_path,
                max_duration_s=self.settings.max_duration_s,
                sandbox=self.studio.media_sandbox,
            )
        )
        duration_s = round(info.duration, 3)
        transcript = (
            await anyio.to_thread.run_sync(
                subtitles.to_transcript, self.studio, plan.source_language, info.duration
            )
            if subtitles
            else None
        )
        await self.admit(client_id, idempotency_key, duration_s)  # before moving and hashing
        job_id = uuid.uuid4().hex
        folder = self.projects / job_id
        folder.mkdir(parents=True, exist_ok=False)
        stored = folder / f"input.{kind}"  # the sniffed container, never the client's name
        try:
            await anyio.to_thread.run_sync(shutil.move, upload_path, stored)
            digest = await anyio.to_thread.run_sync(digest_file, stored)
            now = datetime.now(UTC)
            job = DubJob(
                id=job_id,
                created_at=now,
                updated_at=now,
                status=JobStatus.QUEUED,
                input_name=input_name or stored.name,
                input_path=str(stored.relative_to(self.settings.data_dir)),
                input_digest=digest,
                plan=plan,
                duration_s=duration_s,
                idempotency_key=idempotency_key,
                client_id=client_id,
                batch_id=batch_id,
                step=STEPS[0],
            )
            created = await self._db(
                self.store.create_job, job, lambda load: self.quotas.check(load, duration_s)
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        if created.id != job_id:  # lost an idempotency race to a concurrent request
            shutil.rmtree(folder, ignore_errors=True)
            return created
        if transcript is not None:
            await self._db(
                self.store.replace_segments, job_id, list(transcript.segments), transcript.language
            )
        await self._event(job_id, "status", {"status": "queued", "stage": None})
        await self._submit(created)
        return created

    async def _submit(self, job: DubJob) -> None:
        if self.runner is None:
            raise RuntimeError("The dub service has no runner attached.")
        await self.runner.submit(job.id, job.client_id, alone=job.attempts > 0)

    # --- run ----------------------------------------------------------------------------
    async def execute(self, job_id: str) -> None:
        """Run (or continue, or re-render) one job to the end; called by the runner."""
        await self.execute_step(job_id, None)

    async def execute_step(self, job_id: str, step: str | None, worker: str | None = None) -> bool:
        """On workers: only ``step`` of the run (``pipeline.steps``), by ``worker``; None:
        the whole run. True when it succeeded."""
        job = await self._db(self.store.get_job, job_id)
        if job is None or job.status == JobStatus.CANCELLED:
            return False
        try:
            return await self._run(job, step, worker)
        except asyncio.CancelledError:
            if self.runner is not None and self.runner.stopping:
                # Shutting down: the job stays running and resumes at start-up. This run was
                # no crash, so the attempt it counted (if it got that far) is given back.
                await asyncio.shield(self._db(self.store.update_job, job_id, attempts=job.attempts))
            raise

    async def _run(self, job: DubJob, step: str | None, worker: str | None) -> bool:
        """One run, or one ``step`` of it; its attempt is stored before any work (see
        ``resume``). A later step re-enters the pipeline from the same transcript as the
        run's first step did, reporting only its own stages."""
        job_id = job.id
        started = time.monotonic()
        segments = await self._db(self.store.get_segments, job_id)
        if step is not None and job.stage is not None:  # a later step, or a step once more
            from_lines = not job.recognising
        else:
            from_lines = bool(segments and job.source_language)
        if step is None or step == STEPS[0]:
            await self._db(
                self.store.start_run,
                job_id,
                status=JobStatus.RUNNING,
                error=None,
                error_code=None,
                stage="ingest",
                progress=0.0,
                eta_s=None,
                recognising=not from_lines,
            )
            await self._event(job_id, "status", {"status": "running", "stage": "ingest"})
        else:
            await self._db(self.store.start_run, job_id, status=JobStatus.RUNNING)
        if step is not None:
            await self._event(job_id, "step", {"step": step, "worker": worker})
        events: asyncio.Queue[Progress | None] = asyncio.Queue()
        writer = asyncio.create_task(self._record_progress(job_id, events, started))
        clock = StageClock(events.put_nowait, self.on_stage_done)
        stages = STEP_STAGES[step] if step is not None else STAGES
        try:
            transcript = (
                Transcript(job.source_language, job.duration_s or 0.0, tuple(segments))
                if from_lines and job.source_language
                else None
            )
            result = await self.pipeline.run_through(
                step or STEPS[-1],
                self.input_path(job),
                job.plan,
                self._folder(job_id) / "outputs",
                transcript=transcript,
                progress=lambda event: clock(event) if event.stage in stages else None,
                on_use=self._recorder(job_id),
            )
            clock.finish()
            events.put_nowait(None)
            await writer
            if result is None:  # a step before the last: its outputs are stored
                return True
            await self._db(
                self.store.replace_segments, job_id, result.segments, result.source_language
            )
            await self._db(
                self.store.update_job,
                job_id,
                status=JobStatus.SUCCEEDED,
                stage=None,
                progress=1.0,
                eta_s=0.0,
                source_language=result.source_language,
                outputs={name: path.name for name, path in result.outputs.items()},
                segments_done=len(result.segments),
                segments_total=len(result.segments),
            )
        except asyncio.CancelledError:
            events.put_nowait(None)
            if self.runner is not None and self.runner.stopping:
                writer.cancel()  # shutting down: see ``execute``
            else:
                await asyncio.shield(self._finish(job_id, writer, JobStatus.CANCELLED))
            raise
        except StudioError as exc:
            events.put_nowait(None)
            await self._finish(job_id, writer, JobStatus.FAILED, exc.detail, exc.error_code)
            return False
        except Exception:
            log.exception("Dub %s failed", job_id)
            events.put_nowait(None)
            await self._finish(
                job_id,
                writer,
                JobStatus.FAILED,
                "The dub failed unexpectedly; the server log has the details.",
                "internal_error",
            )
            return False
        # Engine calls tell a client (and the tests) what a render actually recomputed.
        await self._event(
            job_id, "done", {"status": "succeeded", "engine_calls": dict(result.engine_calls)}
        )
        return True

    async def _finish(
        self,
        job_id: str,
        writer: asyncio.Task[None],
        status: JobStatus,
        detail: str | None = None,
        code: str | None = None,
    ) -> None:
        with contextlib.suppress(Exception):  # a failed progress write must not hide the end
            await writer
        await self._end(job_id, status, detail, code)

    async def _end(
        self, job_id: str, status: JobStatus, detail: str | None = None, code: str | None = None
    ) -> None:
        await self._db(
            self.store.update_job, job_id, status=status, error=detail, error_code=code, eta_s=None
        )
        if detail:
            await self._event(job_id, "error", {"detail": detail, "error_code": code})
        await self._event(job_id, "done", {"status": status.value})

    async def _record_progress(
        self, job_id: str, events: asyncio.Queue[Progress | None], started: float
    ) -> None:
        """Persist progress in order, off the event loop; segments as they appear. The ETA
        extrapolates the pace since ``started`` (a step on workers starts part-way)."""
        last_stage: str | None = None
        begun: float | None = None  # the overall fraction at the first event
        while (event := await events.get()) is not None:
            fraction = _overall(event)
            begun = fraction if begun is None else begun
            elapsed = time.monotonic() - started
            done = fraction - begun
            eta = elapsed / done * (1 - fraction) if done > 0.05 else None
            changes: dict[str, Any] = {
                "stage": event.stage,
                "progress": round(fraction, 4),
                "eta_s": round(eta, 1) if eta is not None else None,
            }
            if event.stage == "synthesize":
                changes.update(segments_done=event.done, segments_total=event.total)
            if event.language:
                changes["source_language"] = event.language
            await self._db(self.store.update_job, job_id, **changes)
            if event.stage != last_stage:
                await self._event(job_id, "status", {"status": "running", "stage": event.stage})
                last_stage = event.stage
            progress = {key: changes[key] for key in ("stage", "progress", "eta_s")}
            if event.language:
                progress["source_language"] = event.language
            progress.update(done=event.done, total=event.total, message=event.message)
            await self._event(job_id, "progress", progress)
            if event.stage in ("transcribe", "translate") and event.segments:
                await self._db(
                    self.store.replace_segments, job_id, list(event.segments), event.language
                )
            for segment in event.segments:
                if event.stage == "synthesize":
                    await self._db(self.store.update_segment, job_id, segment)
                await self._event(job_id, "segment", {"segment": segment_json(segment)})
        await self._db(self.store.prune_events, job_id, EVENTS_KEPT)

    # --- edit ---------------------------------------------------------------------------
    async def edit_segment(self, job_id: str, segment_id: str, edit: SegmentEdit) -> Segment:
        job = await self._idle_job(job_id)
        segments = await self._db(self.store.get_segments, job_id)
        current = _find(segments, segment_id)
        changes: dict[str, Any] = {"status": SegmentStatus.STALE}
        if edit.source_text is not None and edit.source_text != current.source_text:
            changes.update(
                source_text=edit.source_text.strip(), target_text="", target_edited=False
            )
        if edit.target_text is not None and edit.target_text != current.target_text:
            changes.update(target_text=edit.target_text.strip(), target_edited=True)
        if edit.speaker is not None:
            if not edit.speaker.strip():
                raise ValidationFailed("Speaker must not be empty.")
            changes["speaker"] = edit.speaker.strip()
            if edit.voice is None and changes["speaker"] != current.speaker:
                changes["voice"] = None  # the new speaker's voice, unless one is given
        if edit.voice is not None:
            target = resolve_language(job.plan.target_language).code
            changes["voice"] = (
                str(parse_voice(edit.voice, self.studio.registry, target)) if edit.voice else None
            )
        if edit.start is not None:
            changes["start"] = round(edit.start, 3)
        if edit.end is not None:
            changes["end"] = round(edit.end, 3)
        updated = current.edited(**changes)
        _check_timing(updated, segments, job.duration_s)
        saved = await self._db(self.store.update_segment, job_id, updated)
        await self._event(job_id, "segment", {"segment": segment_json(saved)})
        return saved

    async def synthesize_segment(self, job_id: str, segment_id: str) -> bytes:
        """Re-voice one line now and return it as WAV. The line stays stale until the next
        render puts it into the mix."""
        if self.revoice_elsewhere is None:
            line = await self.revoice(job_id, segment_id)
            clip, rate = line.samples, line.sample_rate
        else:
            await self._idle_job(job_id)
            await self.revoice_elsewhere(job_id, segment_id)
            segment = _find(await self._db(self.store.get_segments, job_id), segment_id)
            stored = self.artifacts.load_audio(segment.audio_key) if segment.audio_key else None
            if stored is None:
                raise NotFound(f"Line {segment_id} has no dubbed audio.")
            clip, rate = stored
        return await self.studio.gate.compute(media.encode_audio, clip, rate, "wav")

    async def revoice(self, job_id: str, segment_id: str) -> FittedLine:
        """Re-voice one line and store it, stale (see ``synthesize_segment``)."""
        job = await self._idle_job(job_id)
        segments = await self._db(self.store.get_segments, job_id)
        segment = _find(segments, segment_id)
        target = resolve_language(job.plan.target_language).code
        ctx = DubContext(
            self.pipeline.studio, self.artifacts.tracking(self._recorder(job_id)), job.plan
        )
        if not segment.target_text.strip():
            (text,), _, _ = await self.studio.translate(
                [segment.source_text],
                job.source_language or "en",
                target,
                glossary=job.plan.glossary,
                engine=job.plan.translator,
            )
            segment = segment.edited(target_text=text)
        ordered = sorted(segments, key=lambda s: (s.start, s.speaker))
        spans = windows(ordered, job.duration_s or segment.end, job.plan.timing)
        window = spans[[s.id for s in ordered].index(segment.id)]
        voice = (
            parse_voice(segment.voice, self.studio.registry, target)
            if segment.voice
            else cast_voices(self.studio.registry, _speakers(ordered), target, job.plan)[
                segment.speaker
            ]
        )
        character = character_of(segment.speaker, voice, ordered)
        line = await speak_line(
            ctx, segment, segment.start, window, voice, target, character=character
        )
        saved = await self._db(
            self.store.update_segment, job_id, line.segment.edited(status=SegmentStatus.STALE)
        )
        await self._event(job_id, "segment", {"segment": segment_json(saved)})
        return line

    async def render(self, job_id: str) -> DubJob:
        """Rebuild stale lines, then mix and export again."""
        if (await self._idle_job(job_id)).error_code == CRASHED_CODE:
            raise Conflict("The dub stopped the server twice while running; it cannot run again.")
        job = await self._db(
            self.store.update_job,
            job_id,
            status=JobStatus.QUEUED,
            progress=0.0,
            stage=None,
            error=None,
            error_code=None,
            attempts=0,  # a new run: earlier ones ended, crashed or not
            step=STEPS[0],
        )
        await self._event(job_id, "status", {"status": "queued", "stage": None})
        await self._submit(job)
        return job

    async def cancel(self, job_id: str) -> DubJob:
        job = await self.get(job_id)
        if job.status.finished:
            raise Conflict(f"The dub has already {job.status.value}.")
        await self._db(self.store.update_job, job_id, status=JobStatus.CANCELLED)
        if self.runner is not None and not await self.runner.cancel(job_id):
            await self._event(job_id, "done", {"status": "cancelled"})
        return await self.get(job_id)

    async def delete(self, job_id: str) -> None:
        """Remove the project, its rows and the artifacts no other project refers to (in the
        store, so runs on other processes count too)."""
        job = await self.get(job_id)
        if not job.status.finished and self.runner is not None:
            await self._db(self.store.update_job, job_id, status=JobStatus.CANCELLED)
            await self.runner.cancel(job_id)
        if not self._legacy_imported:
            await anyio.to_thread.run_sync(self._import_legacy_records)
            self._legacy_imported = True
        await self._db(self.store.delete_job, job_id, self.artifacts.remove)
        await anyio.to_thread.run_sync(
            lambda: shutil.rmtree(self._folder(job_id), ignore_errors=True)
        )
        self.hub.notify(job_id)

    def _import_legacy_records(self) -> None:
        """Moves the ``LEGACY_ARTIFACTS_FILE`` of projects an earlier version ran into the
        store's references, so no delete removes what they use or orphans it. Paths are
        relative to the artifact root, or absolute (older still)."""
        if not self.projects.exists():
            return
        root = self.artifacts.root
        for record in self.projects.glob(f"*/{LEGACY_ARTIFACTS_FILE}"):
            job_id = record.parent.name
            if self.store.get_job(job_id) is None:
                continue  # a folder without its project: nothing to keep it for
            paths = [Path(p) for p in json.loads(record.read_text(encoding="utf-8"))]
            relative = [
                (p.relative_to(root) if p.is_absolute() else p).as_posix()
                for p in paths
                if not p.is_absolute() or p.is_relative_to(root)
            ]
            self.store.add_artifact_refs(job_id, relative)
            record.unlink(missing_ok=True)

    # --- read ---------------------------------------------------------------------------
    async def get(self, job_id: str) -> DubJob:
        job = await self._db(self.store.get_job, job_id)
        if job is None:
            raise NotFound(f"No dub with id {job_id!r}.")
        return job

    async def find(self, job_id: str) -> DubJob | None:
        return await self._db(self.store.get_job, job_id)

    async def page(self, limit: int, offset: int) -> tuple[list[DubJob], int]:
        return await self._db(self.store.list_jobs, limit, offset)

    async def events_after(self, job_id: str, seq: int) -> list[JobEvent]:
        return await self._db(self.store.events_after, job_id, seq)

    async def follow(self, job_id: str, after: int) -> AsyncGenerator[JobEvent]:
        """The job's events numbered above ``after``, each once and in order, as they are
        stored, until its run ends (a "done" that is the newest event of a finished job; a
        replayed "done" of an earlier run is followed by newer ones) or it is deleted. It
        wakes on the hub's notifications, and looks anyway every ``event_poll_s``."""
        cursor, quiet_after_end = after, 0
        while True:
            signal = self.hub.signal(job_id)  # before reading: no notification is lost
            events = await self.events_after(job_id, cursor)
            for event in events:
                cursor = event.seq
                yield event
            job = await self.find(job_id)
            if job is None:
                return
            if events and events[-1].type == "done" and job.status.finished:
                return
            if len(events) >= EVENT_PAGE:  # a full page: more are stored already
                continue
            if job.status.finished and not events:
                # Finished before ``after`` (a reconnect after the end): one short look for
                # a late "done", then stop.
                quiet_after_end += 1
                if quiet_after_end > 1:
                    return
                await self.hub.wait([signal], 1.0)
                continue
            await self.hub.wait([signal], self.settings.event_poll_s)

    async def segments(self, job_id: str) -> list[Segment]:
        await self.get(job_id)
        return await self._db(self.store.get_segments, job_id)

    async def segment_audio(self, job_id: str, segment_id: str, track: str) -> bytes:
        """One line as WAV: the original audio of its span (only that window is decoded, in
        a child process), or its dubbed clip."""
        job = await self.get(job_id)
        segment = _find(await self._db(self.store.get_segments, job_id), segment_id)
        if track == "source":
            clip, rate = await self.studio.gate.compute(
                lambda: media.decode_untrusted(
                    self.input_path(job),
                    sample_rate=None,
                    channels="stereo",
                    start_s=segment.start,
                    end_s=segment.end,
                    max_duration_s=self.settings.max_duration_s,
                    work_dir=self.settings.temp_dir,
                    sandbox=self.studio.media_sandbox,
                )
            )
        else:
            stored = self.artifacts.load_audio(segment.audio_key) if segment.audio_key else None
            if stored is None:
                raise NotFound(f"Line {segment_id} has no dubbed audio yet.")
            clip, rate = stored
        return await self.studio.gate.compute(media.encode_audio, clip, rate, "wav")

    def output_path(self, job: DubJob, name: str) -> Path:
        filename = job.outputs.get(name)
        if filename is None:
            available = ", ".join(sorted(job.outputs)) or "none yet"
            raise NotFound(f"No output {name!r}; available: {available}.")
        folder = (self._folder(job.id) / "outputs").resolve()
        path = (folder / filename).resolve()
        if not path.is_relative_to(folder) or not path.is_file():
            raise NotFound(f"Output {name!r} is missing on disk.")
        return path

    def input_path(self, job: DubJob) -> Path:
        """Stored relative to the data folder (every node mounts it where it likes)."""
        return self.settings.data_dir / job.input_path

    # --- helpers ------------------------------------------------------------------------
    async def _idle_job(self, job_id: str) -> DubJob:
        job = await self.get(job_id)
        if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            raise Conflict("The dub is running; wait for it to finish or cancel it first.")
        return job

    async def _event(self, job_id: str, kind: str, data: dict[str, Any]) -> None:
        await self._db(self.store.add_event, job_id, kind, data)
        self.hub.notify(job_id)

    async def _db(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))

    def _folder(self, job_id: str) -> Path:
        return self.projects / job_id

    def _recorder(self, job_id: str) -> UseCallback:
        """Records in the store that ``job_id`` uses an artifact, before it does."""

        def record(paths: Sequence[Path]) -> None:
            self.store.add_artifact_refs(job_id, [path.as_posix() for path in paths])

        return record


class StageClock:
    """A progress callback that times stages as it passes events on: a stage runs from its
    first event to the next stage's first one, the last stage until ``finish`` (the run's
    end). A stage a failure interrupted is never reported."""

    def __init__(self, forward: ProgressCallback, on_stage_done: Callable[[str, float], None]):
        self._forward = forward
        self._on_stage_done = on_stage_done
        self._stage: str | None = None
        self._since = 0.0

    def __call__(self, event: Progress) -> None:
        if event.stage != self._stage:
            self.finish()
            self._stage, self._since = event.stage, time.monotonic()
        self._forward(event)

    def finish(self) -> None:
        if self._stage is not None:
            self._on_stage_done(self._stage, time.monotonic() - self._since)
            self._stage = None


def _ignore_stage(stage: str, seconds: float) -> None:
    """The default ``on_stage_done``: no one is measuring."""


def _overall(event: Progress) -> float:
    order = list(STAGE_WEIGHTS)
    before = sum(STAGE_WEIGHTS[s] for s in order[: order.index(event.stage)])
    within = event.done / event.total if event.total else 0.0
    return min(1.0, before + STAGE_WEIGHTS[event.stage] * within)


def _find(segments: Sequence[Segment], segment_id: str) -> Segment:
    for segment in segments:
        if segment.id == segment_id:
            return segment
    raise NotFound(f"No line with id {segment_id!r}.")


def _speakers(segments: Sequence[Segment]) -> list[str]:
    return list(dict.fromkeys(s.speaker for s in segments))


def _check_timing(segment: Segment, segments: Sequence[Segment], duration: float | None) -> None:
    """End after start, inside the media, and no overlap with the same speaker's lines."""
    if segment.start < 0 or segment.end <= segment.start:
        raise ValidationFailed(
            f"A line must end after it starts (start {segment.start}, end {segment.end})."
        )
    if duration is not None and segment.end > duration + 1e-3:
        raise ValidationFailed(f"The line ends after the media does ({duration:.2f} s).")
    for other in segments:
        if (
            other.id != segment.id
            and other.speaker == segment.speaker
            and (segment.start < other.end and other.start < segment.end)
        ):
            raise ValidationFailed(
                f"The line would overlap {other.id} of the same speaker "
                f"({other.start:.2f}–{other.end:.2f} s)."
            )


def segment_json(segment: Segment) -> dict[str, Any]:
    """A segment as the API and the event stream show it."""
    return {
        "id": segment.id,
        "start": segment.start,
        "end": segment.end,
        "speaker": segment.speaker,
        "source_text": segment.source_text,
        "target_text": segment.target_text,
        "voice": segment.voice,
        "status": segment.status.value,
        "speed": segment.speed,
        "overrun_s": segment.overrun_s,
        "outcome": segment.outcome.value if segment.outcome else None,
        "synthesized_s": segment.synthesized_s,
        "fitted_s": segment.fitted_s,
        "target_edited": segment.target_edited,
        "language": segment.language,
        "flags": list(segment.flags),
        "words_trimmed": segment.words_trimmed,
        "translated_via": segment.translated_via,
    }
