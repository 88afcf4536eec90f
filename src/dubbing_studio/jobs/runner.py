"""Runs dub jobs. The in-process runner is the embedded default (no server needed); a
distributed runner (Dramatiq on Redis) can replace it behind the same ``JobRunner`` shape
without touching the pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

Execute = Callable[[str], Coroutine[object, object, None]]


class JobRunner(Protocol):
    async def start(self) -> None:
        """Begin taking jobs."""
        ...

    async def submit(self, job_id: str, client_id: str | None = None, alone: bool = False) -> None:
        """Queue a job of ``client_id``; it runs when a slot is free and the client is under
        its limit of running jobs. An ``alone`` job (one that may have crashed the process)
        runs with no other job beside it, so a crash is blamed on it only."""
        ...

    async def cancel(self, job_id: str) -> bool:
        """Stop a queued or running job; True if it was running here."""
        ...

    async def stop(self) -> None:
        """Stop taking jobs and interrupt running ones (they resume at next start)."""
        ...

    @property
    def stopping(self) -> bool:
        """True while shutting down: an interrupted job is left to resume, not cancelled."""
        ...


@dataclass(frozen=True, slots=True)
class _Queued:
    job_id: str
    client_id: str | None
    alone: bool
    order: int


class InProcessRunner:
    """Jobs as asyncio tasks in this process: ``max_jobs`` at a time, and at most
    ``max_per_client`` of one client's. A client at its limit waits while other clients'
    jobs run; among the rest the client with the fewest running goes first, then the oldest
    job. CPU-heavy work inside a job is bounded separately, per engine, by the studio's gate,
    so concurrent jobs queue on inference instead of thrashing the cores."""

    def __init__(self, execute: Execute, max_jobs: int = 2, max_per_client: int | None = None):
        self._execute = execute
        self._max_jobs = max(1, max_jobs)
        self._max_per_client = max(1, max_per_client or self._max_jobs)
        self._queued: list[_Queued] = []
        self._running: dict[str, tuple[_Queued, asyncio.Task[None]]] = {}
        self._order = itertools.count()
        self._started = False
        self._stopping = False

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def start(self) -> None:
        self._started = True
        self._dispatch()

    async def submit(self, job_id: str, client_id: str | None = None, alone: bool = False) -> None:
        if job_id in self._running or any(q.job_id == job_id for q in self._queued):
            return
        self._queued.append(_Queued(job_id, client_id, alone, next(self._order)))
        self._dispatch()

    async def cancel(self, job_id: str) -> bool:
        running = self._running.get(job_id)
        if running is not None:
            task = running[1]
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(asyncio.wait({task}))
            return True
        self._queued = [q for q in self._queued if q.job_id != job_id]
        return False

    async def stop(self) -> None:
        self._stopping = True
        tasks = [task for _, task in self._running.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _dispatch(self) -> None:
        while self._started and not self._stopping and len(self._running) < self._max_jobs:
            job = self._next()
            if job is None:
                return
            self._queued.remove(job)
            task = asyncio.create_task(self._run(job.job_id), name=f"dub-{job.job_id}")
            self._running[job.job_id] = (job, task)

    def _next(self) -> _Queued | None:
        """The job to start now, if any may start."""
        if any(job.alone for job, _ in self._running.values()):
            return None
        if lone := next((job for job in self._queued if job.alone), None):
            return None if self._running else lone  # the others wait until it has run
        running = Counter(job.client_id for job, _ in self._running.values())
        allowed = [job for job in self._queued if running[job.client_id] < self._max_per_client]
        return min(allowed, key=lambda job: (running[job.client_id], job.order), default=None)

    async def _run(self, job_id: str) -> None:
        try:
            await self._execute(job_id)
        except Exception:  # the job recorded its own failure; keep the runner going
            log.exception("Dub %s ended with an unexpected error", job_id)
        finally:
            self._running.pop(job_id, None)
            self._dispatch()
