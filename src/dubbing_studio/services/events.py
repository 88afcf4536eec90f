"""Wakes followers of a job's events (SSE streams) when new events are stored.

The events themselves live in the store, numbered, so a reconnecting client resumes from
``Last-Event-ID``; this hub only says "look again", in this process (the PostgreSQL relay,
``scale.events``, passes on what other processes store). A follower looks in the store
anyway every ``event_poll_s``: what a lost notification costs at most.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence


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
    async def wait(signals: Sequence[asyncio.Event], seconds: float) -> bool:
        """True when any of ``signals`` is set, False when ``seconds`` passed first."""
        if not signals:
            await asyncio.sleep(seconds)
            return False
        waiters = [asyncio.ensure_future(signal.wait()) for signal in signals]
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
        return bool(done)
