"""Wakes followers of a job's events (SSE streams) when new events are stored.

The events themselves live in the store, numbered, so a reconnecting client resumes from
``Last-Event-ID``; this hub only says "look again", in this process.
"""

from __future__ import annotations

import asyncio
import contextlib


class EventHub:
    def __init__(self) -> None:
        self._signals: dict[str, asyncio.Event] = {}

    def signal(self, job_id: str) -> asyncio.Event:
        """Take this before reading the store, then wait on it: no notification is lost."""
        return self._signals.setdefault(job_id, asyncio.Event())

    def notify(self, job_id: str) -> None:
        signal = self._signals.pop(job_id, None)
        if signal is not None:
            signal.set()

    @staticmethod
    async def wait(signal: asyncio.Event, seconds: float) -> bool:
        """True when notified, False when ``seconds`` passed first."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await signal.wait()
                return True
        return False
