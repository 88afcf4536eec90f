"""Runs blocking engine and DSP work off the event loop, a bounded number at a time per engine.

On a 2-core machine two Whisper runs at once are slower than two in a row, so requests for
one engine queue on an asyncio semaphore (no worker thread is held while waiting). The work
runs in the gate's own threads, which ask the kernel for a lower priority: Linux schedules
threads one by one, so the event loop's thread gets the cores first and requests stay quick
while models run.

The work also runs in the caller's context (so log lines keep the request id), and each
engine call's time is told to the gate's timers (the app's metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")

EngineTimer = Callable[[str, float], None]
"""Told the engine and the seconds of each engine call (queueing excluded)."""


def _lower_priority(niceness: int) -> None:
    if niceness:
        with contextlib.suppress(OSError, AttributeError):  # not Linux, or not allowed
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


class EngineGate:
    """``niceness`` 0 keeps the workers at normal priority: on a machine shared with other
    busy programs, dubs then go faster while API requests wait longer."""

    def __init__(self, per_engine: int = 1, workers: int = 8, niceness: int = 10) -> None:
        self._per_engine = max(1, per_engine)
        # Per event loop: an asyncio semaphore belongs to the loop it first waited in, and a
        # process may run several loops one after another (``asyncio.run`` per CLI dub).
        self._semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]
        ] = weakref.WeakKeyDictionary()
        self._pool = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix="studio-work",
            initializer=_lower_priority,
            initargs=(niceness,),
        )
        self._timers: list[EngineTimer] = []
        self._lock = threading.Lock()
        self._in_flight = 0  # calls running in the pool (a cancelled caller leaves its call)

    def add_timer(self, timer: EngineTimer) -> Callable[[], None]:
        """Tell ``timer`` about every engine call from now on; returns what removes it."""
        self._timers.append(timer)
        return lambda: self._timers.remove(timer)

    async def run(self, key: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Engine ``key``'s work, after waiting for a free slot of that engine."""
        in_loop = self._semaphores.setdefault(asyncio.get_running_loop(), {})
        semaphore = in_loop.setdefault(key, asyncio.Semaphore(self._per_engine))
        async with semaphore:
            return await self.compute(self._timed, key, partial(fn, *args, **kwargs))

    async def compute(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """CPU work that is not an engine's (stretching, mixing, encoding): no slot needed."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        call = partial(context.run, self._counted, partial(fn, *args, **kwargs))
        return await loop.run_in_executor(self._pool, call)

    @property
    def busy(self) -> bool:
        """Work still runs in the pool, perhaps for a caller that was cancelled."""
        return self._in_flight > 0

    def _counted(self, call: Callable[[], T]) -> T:
        with self._lock:
            self._in_flight += 1
        try:
            return call()
        finally:
            with self._lock:
                self._in_flight -= 1

    def _timed(self, key: str, call: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return call()
        finally:
            seconds = time.perf_counter() - started
            for timer in tuple(self._timers):
                timer(key, seconds)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
