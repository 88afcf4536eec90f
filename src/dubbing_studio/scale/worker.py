"""``dubbing-studio worker``: a process that takes the steps of dubs and re-voiced lines
from the queues it serves and runs them with models it loads once and keeps.

A dub is a chain of steps (``pipeline.steps``), each an actor on its capability's queue. The
job records the step it is at; a step's actor claims the job in the store with a lease the
worker renews while it runs, and only at that step. The lease and the step are what make "a
message may arrive twice" harmless (a second delivery finds the job held, or past that step,
or ended, and does nothing), and what lets another worker take over a dead one's step. A
step that succeeds moves the job on and sends the next step's message; a crash between the
two is repaired by the sweep, which sends the message for the step the job is at (as it does
for a queued dub no worker took in that time: its first message was lost). The step
itself is the embedded service's (``DubService.execute``): each stage finds what earlier
steps, or an interrupted run, stored in the shared artifact store and redoes only the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread
import dramatiq
from dramatiq.brokers.redis import RedisBroker

from dubbing_studio.bootstrap import build_studio, preload_engine_libraries
from dubbing_studio.config import Settings
from dubbing_studio.domain.errors import EngineUnavailable, NotFound, StudioError
from dubbing_studio.domain.jobs import DubJob, JobStatus
from dubbing_studio.engines.protocols import Capability, ModelWarming
from dubbing_studio.engines.registry import Engine, EngineRegistry
from dubbing_studio.engines.voices import voice_preference
from dubbing_studio.jobs.store import DubStore
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.pipeline.steps import STEPS, next_step
from dubbing_studio.scale.broker import (
    LINE_ACTOR,
    LINE_QUEUE,
    QUEUE_CAPABILITIES,
    STEP_QUEUES,
    WORKERS_KEY,
    build_broker,
    error_to,
    send_step,
    step_actor,
    step_message,
    worker_name,
)
from dubbing_studio.services.dubs import DubService
from dubbing_studio.services.events import EventHub
from dubbing_studio.services.studio import Studio

log = logging.getLogger(__name__)
T = TypeVar("T")

CANCEL_POLL_S = 0.25  # how often a running job's cancel flag is read: well within one line
HEARTBEAT_S = 1.0  # how often a running job's lease is renewed (it lasts ``lease_s``)
SWEEP_S = 2.0  # how often orphaned jobs (a dead worker's) are looked for
# How long, in leases, a step's message may wait in its queue before the sweep sends it
# again (a lost message, or a crash between a step's end and the next one's message).
STEP_WAIT_LEASES = 10
DRAIN_S = 60.0  # the longest a cancelled run waits for its engine calls to end
NO_LIMIT_MS = 7 * 24 * 3600 * 1000  # Dramatiq's time limit, which a long dub must not hit


class WorkerNode:
    """One worker process: the studio (the engines of its queues loaded at start, the others
    on first use; a worker never unloads them), the dub service over the shared store and
    folder, and an event loop the actors hand work to."""

    def __init__(self, settings: Settings, queues: list[str]) -> None:
        if not settings.redis_url:
            raise ValueError("a worker needs DUBBING_STUDIO_REDIS_URL")
        self.settings = settings
        self.queues = queues
        self.name = worker_name()
        self.store = DubStore(settings.database)
        self.studio = build_studio(settings)
        artifacts = ArtifactStore(settings.data_dir / "artifacts")
        self.service = DubService(settings, self.studio, self.store, artifacts, EventHub())
        self.service.runner = self
        self.broker: RedisBroker = build_broker(settings.redis_url)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop_main, name="worker-loop")
        self._loop_started = threading.Event()
        self._done: asyncio.Event | None = None
        self._runs: dict[str, asyncio.Task[Any]] = {}
        self._stopping = False
        self._handed_over: set[str] = set()  # jobs whose lease another worker took
        for step in STEPS:
            dramatiq.actor(
                broker=self.broker,
                actor_name=step_actor(step),
                queue_name=STEP_QUEUES[step],
                max_retries=0,  # a failed step records its failure; a lost one is swept up
                time_limit=NO_LIMIT_MS,
            )(self._step_actor)
        dramatiq.actor(
            broker=self.broker,
            actor_name=LINE_ACTOR,
            queue_name=LINE_QUEUE,
            max_retries=0,
            time_limit=NO_LIMIT_MS,
            store_results=True,
        )(self._line_actor)

    # The JobRunner shape, as the service sees it from inside a worker.

    @property
    def stopping(self) -> bool:
        """Shutting down, or handing a job over: an interrupted run is left running."""
        return self._stopping or bool(self._handed_over)

    async def start(self) -> None:
        """Started by ``serve``."""

    async def submit(self, job_id: str, client_id: str | None = None, alone: bool = False) -> None:
        await anyio.to_thread.run_sync(send_step, self.broker, self.store, job_id)

    async def cancel(self, job_id: str) -> bool:
        run = self._runs.get(job_id)
        if run is not None:
            run.cancel()
        return run is not None

    async def stop(self) -> None:
        """Interrupts running dubs; each stays running, its attempt given back and its lease
        released, and another worker takes it over."""
        self._stopping = True
        runs = list(self._runs.values())
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)

    # Process life

    def serve(self, threads: int) -> None:
        """Runs until SIGTERM or SIGINT."""
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        preload_engine_libraries()
        warm_engines(self.studio, self.queues)  # before it announces itself: then it is ready
        self.store.migrate()
        self.service.remove_partial_files(dead_only=True)
        self._thread.start()
        self._loop_started.wait()
        worker = dramatiq.Worker(self.broker, queues=set(self.queues), worker_threads=threads)
        worker.queue_prefetch = threads  # take no more than it runs: idle peers get the rest
        worker.start()
        log.info("Worker %s taking %s with %d thread(s)", self.name, self.queues, threads)
        stop.wait()
        log.info("Worker %s stopping", self.name)
        self._run(self.stop())
        worker.stop(timeout=30_000)
        assert self._done is not None
        self._loop.call_soon_threadsafe(self._done.set)
        self._thread.join(timeout=30)
        with contextlib.suppress(Exception):
            self.broker.client.hdel(WORKERS_KEY, self.name)
        self.store.close()
        self.studio.gate.close()
        self.studio.media_sandbox.close()

    def _loop_main(self) -> None:
        """The worker's event loop, run to completion (not forever) so that its helper
        threads end with it and the process can exit."""
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._done = asyncio.Event()
        sweeper = asyncio.create_task(self._sweep())
        self._loop_started.set()
        await self._done.wait()
        sweeper.cancel()
        await asyncio.gather(sweeper, return_exceptions=True)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Runs ``coroutine`` on the worker's loop and waits (from an actor's thread)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    # Actors (called in Dramatiq's threads)

    def _step_actor(self, job_id: str, step: str) -> None:
        try:
            self._run(self.run_step(job_id, step))
        except Exception:  # the step recorded its failure; the message is done either way
            log.exception("Dub %s: %s ended with an unexpected error", job_id, step)

    def _line_actor(self, job_id: str, segment_id: str) -> dict[str, str] | None:
        try:
            self._run(self.service.revoice(job_id, segment_id))
        except StudioError as exc:
            return error_to(exc)
        return None

    # Work

    async def run_step(self, job_id: str, step: str) -> None:
        """Claims the job at ``step`` and runs that step; once it succeeds, moves the job on
        and sends the next step's message. Does nothing when another worker holds the job,
        or it is past ``step`` or has ended (a message delivered twice)."""
        lease_s = self.settings.lease_s
        job = await self._db(self.store.claim, job_id, self.name, lease_s, step)
        if job is None:
            return
        if self._stopping:  # shutting down: back to the queue for another worker
            await self._db(self.store.release, job_id, self.name)
            await self.submit(job_id)
            return
        run = asyncio.create_task(self._execute(job, step))
        self._runs[job_id] = run
        watch = asyncio.create_task(self._watch(job_id, run))
        following = next_step(job.plan, step)
        moved_on = False
        try:
            await asyncio.wait({run})
            watch.cancel()
            if following is not None and not run.cancelled() and run.result():
                # The step's attempt is given back: only a crash counts against the job.
                wait_s = lease_s * STEP_WAIT_LEASES
                moved_on = await self._db(
                    self.store.advance, job_id, self.name, step, following, job.attempts, wait_s
                )
        finally:
            watch.cancel()
            if run.cancelled():  # engine calls a cancelled run left may still write files
                deadline = time.monotonic() + DRAIN_S
                while self.studio.gate.busy and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            if not moved_on:
                await self._db(self.store.release, job_id, self.name)
            self._runs.pop(job_id, None)
            self._handed_over.discard(job_id)
        if moved_on and following is not None:
            await anyio.to_thread.run_sync(self.broker.enqueue, step_message(job_id, following))

    async def _execute(self, job: DubJob, step: str) -> bool:
        """The step as the service runs it; False when it did not succeed."""
        if await self.service.given_up(job):
            return False  # its runs crashed their workers twice
        log.info("Dub %s: %s on %s (attempt %d)", job.id, step, self.name, job.attempts + 1)
        return await self.service.execute_step(job.id, step, self.name)

    async def _watch(self, job_id: str, run: asyncio.Task[Any]) -> None:
        """The heartbeat, and the cancel flag read between lines: a job cancelled, deleted
        or taken over (its lease lost) stops here."""
        renewed = time.monotonic()
        while not run.done():
            await asyncio.sleep(CANCEL_POLL_S)
            job = await self._db(self.store.get_job, job_id)
            if job is None or job.status == JobStatus.CANCELLED:
                run.cancel()
                return
            if time.monotonic() - renewed >= HEARTBEAT_S:
                if not await self._db(self.store.renew, job_id, self.name, self.settings.lease_s):
                    # Too slow to renew: another worker took the job over. Stop as at
                    # shutdown, leaving the job to it (not as a cancel).
                    log.warning("Dub %s: lease lost to another worker; stopping here", job_id)
                    self._handed_over.add(job_id)
                    run.cancel()
                    return
                renewed = time.monotonic()

    async def _sweep(self) -> None:
        """Re-sends jobs whose worker died (lease lapsed) or whose message was lost, cleans up
        the partial files dead processes of this machine left, and says this worker is
        alive."""
        while True:
            with contextlib.suppress(Exception):
                await anyio.to_thread.run_sync(self._announce)
            try:
                wait_s = self.settings.lease_s * STEP_WAIT_LEASES
                orphans = await self._db(self.store.orphaned, wait_s)
                for job_id in orphans:
                    log.warning("Dub %s lost its worker or message; sending it again", job_id)
                    await self.submit(job_id)
                if orphans:
                    await anyio.to_thread.run_sync(self.service.remove_partial_files, True)
            except Exception:
                log.exception("Sweeping for orphaned dubs failed")
            await asyncio.sleep(SWEEP_S)

    def _announce(self) -> None:
        busy = ",".join(self._runs) or "-"
        self.broker.client.hset(
            WORKERS_KEY, self.name, f"{','.join(self.queues)}|{time.time():.0f}|{busy}"
        )

    async def _db(self, fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: fn(*args))


def warm_engines(studio: Studio, queues: list[str]) -> list[str]:
    """Loads the models the work on ``queues`` runs with unless a dub names other engines
    (the default of each capability, every local synthesizer a dub may cast, the speaker
    encoder for diarization, the models that hear dubs back), so no dub waits for a load;
    returns "capability:engine" (or "hear-back:engine:model") for each. One that cannot run
    here, or fails to load, is skipped: the step that needs it says why."""
    started = time.monotonic()
    wanted: list[tuple[str, Callable[[], None]]] = [
        (f"{capability}:{engine.name}", engine.warm)
        for capability in (QUEUE_CAPABILITIES[queue] for queue in queues)
        for engine in _default_engines(studio.registry, capability)
    ]
    if "asr" in queues:  # the hear-back step's queue too
        try:
            wanted += _hearing_models(studio)
        except Exception:  # a plugin transcriber's info failing: the worker serves the rest
            log.warning("Could not list the hear-back models", exc_info=True)
    encoder = studio.speaker_encoder
    if "asr" in queues and encoder.available()[0]:
        wanted.append((f"speaker-encoder:{encoder.name}", encoder.warm))
    warmed = []
    for name, warm in wanted:
        try:
            warm()
        except Exception:  # a plugin's, or a model missing: the worker serves the rest
            log.warning("Could not load %s", name, exc_info=True)
            continue
        warmed.append(name)
    log.info("Loaded %s in %.1f s", ", ".join(warmed), time.monotonic() - started)
    return warmed


def _hearing_models(studio: Studio) -> list[tuple[str, Callable[[], None]]]:
    """The default transcriber's loaders of the models that hear dubs back (settings'
    ``hear_back_models``) which it offers besides its own."""
    engines = _default_engines(studio.registry, Capability.TRANSCRIBE)
    if not engines or not isinstance(engines[0], ModelWarming):
        return []
    engine, offered = engines[0], engines[0].info().models
    return [
        (f"hear-back:{engine.name}:{model}", partial(engine.warm_model, model))
        for model in dict.fromkeys(studio.settings.engines.hear_back_models.values())
        if model in offered
    ]


def _default_engines(registry: EngineRegistry, capability: Capability) -> list[Engine]:
    """The engines of ``capability`` a dub runs on unless it names others, that can run here:
    the default, and for speech every synthesizer a dub may cast a voice from."""
    try:
        names = (
            voice_preference(registry, None)
            if capability == Capability.SYNTHESIZE
            else (registry.default_name(capability),)
        )
    except EngineUnavailable:  # none registered
        return []
    engines = []
    for name in names:
        with contextlib.suppress(EngineUnavailable, NotFound):
            engines.append(registry.get(capability, name))
    return engines
