"""The Dramatiq side every node shares: the broker, the queues and messages, and the job
runner an API node uses to hand dubs to workers."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import ResultFailure, ResultMissing, Results
from dramatiq.results.backends.redis import RedisBackend

from dubbing_studio.domain.errors import EngineFailed, StudioError
from dubbing_studio.domain.jobs import JobStatus
from dubbing_studio.engines.protocols import Capability
from dubbing_studio.jobs.store import DubStore
from dubbing_studio.pipeline.steps import HEAR_BACK, MIX, RECOGNISE, STEPS, SYNTHESIZE, TRANSLATE

# Queues by the capability their work needs, so a machine takes only what it can run well
# (one with an accelerator: asr,tts). A dub is a chain of steps, each an actor on its queue;
# one line re-voiced is synthesis.
QUEUES = ("asr", "mt", "tts", "mix")
STEP_QUEUES = {RECOGNISE: "asr", TRANSLATE: "mt", SYNTHESIZE: "tts", HEAR_BACK: "asr", MIX: "mix"}
# The engines each queue's work runs on, which a worker taking that queue loads at start.
QUEUE_CAPABILITIES = {
    "asr": Capability.TRANSCRIBE,
    "mt": Capability.TRANSLATE,
    "tts": Capability.SYNTHESIZE,
    "mix": Capability.SEPARATE,
}
LINE_QUEUE = "tts"
LINE_ACTOR = "revoice_line"
HEARTBEAT_TIMEOUT_MS = 30_000  # Dramatiq requeues a silent worker's messages after this
REVOICE_TIMEOUT_S = 600.0
RESULT_POLL_S = 0.1
CANCEL_WAIT_S = 120.0  # the longest a cancel waits for the worker to let go of the job
WORKERS_KEY = "dubbing-studio:workers"  # Redis hash: worker -> "queues|seen at|jobs"
WORKER_SEEN_S = 15.0  # workers announce themselves every few seconds
HEALTH_MAX_AGE_S = 1.0  # the oldest broker and database check ``/health`` reports


def worker_name() -> str:
    """A worker process as leases and status name it: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def build_broker(redis_url: str) -> RedisBroker:
    broker = RedisBroker(
        url=redis_url,
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=10_000,  # of a million fetches: a dead worker's messages return soon
    )
    broker.add_middleware(Results(backend=RedisBackend(client=broker.client)))
    for queue in QUEUES:
        broker.declare_queue(queue)
    return broker


def step_actor(step: str) -> str:
    return f"dub_{step}"


def step_message(job_id: str, step: str) -> Message[Any]:
    return Message(
        queue_name=STEP_QUEUES[step],
        actor_name=step_actor(step),
        args=(job_id, step),
        kwargs={},
        options={},
    )


def send_step(broker: RedisBroker, store: DubStore, job_id: str) -> None:
    """Sends the message for the step the job is at (a job gone or ended needs none)."""
    job = store.get_job(job_id)
    if job is not None and not job.status.finished:
        broker.enqueue(step_message(job_id, job.step or STEPS[0]))


class DramatiqRunner:
    """The ``JobRunner`` of an API node whose dubs run on worker processes: a submitted job
    becomes the message for its first step (each step sends the next); a cancel is the job's
    status in the store (set by the service before it calls ``cancel``), which the worker
    holding the job checks between lines and before each step."""

    def __init__(self, broker: RedisBroker, store: DubStore) -> None:
        self._broker = broker
        self._store = store

    @property
    def stopping(self) -> bool:
        return False  # nothing runs in this process

    async def start(self) -> None:
        """Nothing to start: workers take messages themselves."""

    async def stop(self) -> None:
        """Nothing runs here to stop."""

    async def submit(self, job_id: str, client_id: str | None = None, alone: bool = False) -> None:
        # Quotas per client were checked at admission; "alone" is the workers' lease rule.
        await anyio.to_thread.run_sync(send_step, self._broker, self._store, job_id)

    async def cancel(self, job_id: str) -> bool:
        """Waits until no worker holds the job (its run has stopped and written its last
        file), so a delete that follows leaves nothing behind; True if one held it."""
        held = False
        deadline = time.monotonic() + CANCEL_WAIT_S
        while time.monotonic() < deadline:
            if await anyio.to_thread.run_sync(self._store.holder, job_id) is None:
                break
            held = True
            job = await anyio.to_thread.run_sync(self._store.get_job, job_id)
            if job is not None and job.status == JobStatus.RUNNING:
                # A run starting just then marked it running over the cancel: say it again.
                await anyio.to_thread.run_sync(
                    lambda: self._store.update_job(job_id, status=JobStatus.CANCELLED)
                )
            await asyncio.sleep(0.2)
        return held

    async def revoice(self, job_id: str, segment_id: str) -> None:
        """Re-voice one line on a worker and wait for it; its errors are raised here."""
        options = {"store_results": True}
        message: Message[Any] = Message(
            queue_name=LINE_QUEUE,
            actor_name=LINE_ACTOR,
            args=(job_id, segment_id),
            kwargs={},
            options=options,
        )

        def send() -> Message[Any]:
            return self._broker.enqueue(message)

        def result(sent: Message[Any]) -> Any:
            return sent.get_result(backend=self._results_backend())

        sent = await anyio.to_thread.run_sync(send)
        deadline = time.monotonic() + REVOICE_TIMEOUT_S
        while True:  # polled: a blocking read would outlast the client's socket timeout
            try:
                outcome = await anyio.to_thread.run_sync(result, sent)
                break
            except ResultMissing:
                if time.monotonic() > deadline:
                    raise EngineFailed(
                        "No worker re-voiced the line in time; is one running?"
                    ) from None
                await asyncio.sleep(RESULT_POLL_S)
            except ResultFailure as exc:
                raise EngineFailed(f"The worker failed to re-voice the line: {exc}") from None
        if outcome:
            raise error_from(outcome)

    def _results_backend(self) -> RedisBackend:
        for middleware in self._broker.middleware:
            if isinstance(middleware, Results):
                backend: RedisBackend = middleware.backend
                return backend
        raise RuntimeError("the broker has no result backend")


def error_to(exc: StudioError) -> dict[str, str]:
    """A studio error as a worker returns it (messages carry JSON)."""
    return {"error": type(exc).__name__, "detail": exc.detail}


def error_from(outcome: dict[str, str]) -> StudioError:
    kinds = {cls.__name__: cls for cls in _subclasses(StudioError)}
    return kinds.get(outcome["error"], StudioError)(outcome["detail"])


def _subclasses(cls: type[StudioError]) -> list[type[StudioError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def cluster_status(broker: RedisBroker, store: DubStore) -> dict[str, Any]:
    """What ``dubbing-studio status`` shows: messages waiting per queue, live workers (seen in
    the last ``WORKER_SEEN_S``) with their queues and jobs, and jobs by state."""
    client = broker.client
    queues = {queue: int(client.llen(f"{broker.namespace}:{queue}")) for queue in QUEUES}
    now = time.time()
    workers = {}
    for name, value in client.hgetall(WORKERS_KEY).items():
        taken, seen, running = _text(value).split("|")
        if now - float(seen) < WORKER_SEEN_S:
            workers[_text(name)] = {
                "queues": taken.split(","),
                "running": [] if running == "-" else running.split(","),
            }
    return {"queues": queues, "workers": workers, "jobs": store.count_by_status()}


@dataclass(frozen=True, slots=True)
class ServerHealth:
    """The broker and the database, "ok" or why not, as asked at ``checked_at``."""

    checks: dict[str, str]
    checked_at: datetime


class HealthProbe:
    """The broker and the database as ``/health`` reports them, asked at most once per
    ``max_age_s``: clients polling hard (a load balancer, a dashboard) cost one ping of each
    per interval, and the answer is never older than that. Concurrent callers when it is due
    wait for one probe and share it."""

    def __init__(
        self,
        broker: RedisBroker,
        store: DubStore,
        max_age_s: float = HEALTH_MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pings = (("broker", broker.client.ping), ("database", store.ping))
        self._max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        # One tuple, swapped whole: a reader without the lock never pairs one answer with
        # another's time.
        self._answer: tuple[float, ServerHealth] | None = None

    def fresh(self) -> ServerHealth | None:
        """The last answer while it is younger than ``max_age_s``; never blocks."""
        answer = self._answer
        if answer is not None and self._clock() - answer[0] < self._max_age_s:
            return answer[1]
        return None

    def probe(self) -> ServerHealth:
        """The last answer while fresh, else the servers asked now (blocking)."""
        with self._lock:
            found = self.fresh()
            if found is None:
                asked_at = self._clock()
                found = ServerHealth(
                    {name: _ping(ping) for name, ping in self._pings}, datetime.now(UTC)
                )
                self._answer = (asked_at, found)
            return found


def _ping(ping: Callable[[], Any]) -> str:
    try:
        ping()
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}"
    return "ok"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
