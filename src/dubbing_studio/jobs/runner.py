"""Runs dub jobs. The in-process runner is the embedded default (no server needed); a
distributed runner (Dramatiq on Redis) can replace it behind the same ``JobRunner`` shape
without touching the pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Protocol

log = logging.getLogger(__name__)

Execute = Callable[[str], Coroutine[object, object, None]]


class JobRunner(Protocol):
    async def start(self) -> None:
        """Begin taking jobs."""
        ...

    async def submit(self, job_id: str) -> None:
        """Queue a job; it runs when a slot is free."""
        ...

    async def cancel(self, job_id: str) -> bool:
        """Stop a queued or running job; True if it was found here."""
        ...

    async def stop(self) -> None:
        """Stop taking jobs and interrupt running ones (they resume at next start)."""
        ...

    @property
    def stopping(self) -> bool:
        """True while shutting down: an interrupted job is left to resume, not cancelled."""
        ...


class InProcessRunner:
    """Jobs as asyncio tasks in this process, ``max_jobs`` at a time, first come first
    served. CPU-heavy work inside a job is bounded separately, per engine, by the studio's
    gate, so concurrent jobs queue on inference instead of thrashing the cores."""

    def __init__(self, execute: Execute, max_jobs: int = 2) -> None:
        self._execute = execute
        self._max_jobs = max(1, max_jobs)
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._running: dict[str, asyncio.Task[None]] = {}
        self._cancelled: set[str] = set()
        self._stopping = False

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(), name=f"dub-worker-{i}") for i in range(self._max_jobs)
        ]

    async def submit(self, job_id: str) -> None:
        self._cancelled.discard(job_id)
        await self._queue.put(job_id)

    async def cancel(self, job_id: str) -> bool:
        task = self._running.get(job_id)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(asyncio.wait({task}))
            return True
        self._cancelled.add(job_id)
        return False

    async def stop(self) -> None:
        self._stopping = True
        for task in list(self._running.values()):
            task.cancel()
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, *self._running.values(), return_exceptions=True)
        self._workers = []

    async def _work(self) -> None:
        while True:
            job_id = await self._queue.get()
            try:
                if job_id in self._cancelled or job_id in self._running:
                    continue
                task = asyncio.create_task(self._execute(job_id), name=f"dub-{job_id}")
                self._running[job_id] = task
                try:
                    await task
                except asyncio.CancelledError:
                    if self._stopping or not task.cancelled():
                        raise  # the worker itself is being stopped
                except Exception:  # the job recorded its own failure; keep the worker alive
                    log.exception("Dub %s ended with an unexpected error", job_id)
                finally:
                    self._running.pop(job_id, None)
            finally:
                self._queue.task_done()
