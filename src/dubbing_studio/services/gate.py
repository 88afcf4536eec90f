"""Runs blocking engine work off the event loop, a bounded number at a time per engine.

On a 2-core machine two Whisper runs at once are slower than two in a row, so requests for
one engine queue on an asyncio semaphore (no worker thread is held while waiting).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread

T = TypeVar("T")


class EngineGate:
    def __init__(self, per_engine: int = 1) -> None:
        self._per_engine = max(1, per_engine)
        self._semaphores: dict[str, asyncio.Semaphore] = {}

    async def run(self, key: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        semaphore = self._semaphores.setdefault(key, asyncio.Semaphore(self._per_engine))
        async with semaphore:
            return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))

    def waiting(self, key: str) -> int:
        """Callers queued on an engine right now (for health and progress reports)."""
        semaphore = self._semaphores.get(key)
        return len(getattr(semaphore, "_waiters", None) or ()) if semaphore else 0
