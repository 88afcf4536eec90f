"""How much work the studio accepts: a bounded queue, per-client quotas and rate limits.

A refusal is a ``TooBusy`` (HTTP 429) whose ``retry_after_s`` says when a retry can succeed:
when a running dub is expected to end, or when enough of the day's audio minutes free up.
How many dubs of one client run at once is not refused here: the job runner schedules it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dubbing_studio.config import LimitSettings, QuotaSettings, RateLimitSettings
from dubbing_studio.domain.errors import TooBusy, UploadTooLarge
from dubbing_studio.jobs.store import USAGE_WINDOW, Load

# When no running dub has an ETA yet, a retry this much later is a fair guess.
UNKNOWN_WAIT_S = 30.0


class QuotaPolicy:
    """Checks a client's new dub against the studio's load (``jobs.store.Load``)."""

    def __init__(self, limits: LimitSettings, quotas: QuotaSettings) -> None:
        self.limits = limits
        self.quotas = quotas

    def check(self, load: Load, audio_s: float | None, now: datetime | None = None) -> None:
        """Raises ``TooBusy`` when the studio or the client cannot take a dub of ``audio_s``
        seconds now (``None``: not known yet, so only what any dub would exceed)."""
        if load.unfinished >= self.limits.max_queued_jobs:
            raise _refusal(
                f"The studio has {load.unfinished} dubs waiting or running, its limit; "
                "try again when one has finished.",
                "queue_full",
                "max_queued_jobs",
                self.limits.max_queued_jobs,
                load.unfinished,
                _wait(load.next_free_s),
            )
        if load.client_unfinished >= self.quotas.queued_dubs:
            raise _refusal(
                f"You have {load.client_unfinished} dubs waiting or running, your limit; "
                "try again when one has finished.",
                "quota_exceeded",
                "queued_dubs",
                self.quotas.queued_dubs,
                load.client_unfinished,
                _wait(load.client_next_free_s),
            )
        self._check_audio(load, audio_s or 0.0, now or datetime.now(UTC))

    def _check_audio(self, load: Load, audio_s: float, now: datetime) -> None:
        limit_s = self.quotas.audio_minutes_per_day * 60
        if audio_s > limit_s:
            raise UploadTooLarge(
                f"The input is {audio_s / 60:.1f} minutes long; a client may dub "
                f"{self.quotas.audio_minutes_per_day:g} minutes a day."
            )
        used_s = sum(seconds for _, seconds in load.usage)
        if used_s < limit_s and used_s + audio_s <= limit_s:
            return
        # The oldest submissions leave the window first: wait until enough of them have.
        freed_s, wait_s = 0.0, USAGE_WINDOW.total_seconds()
        for submitted, seconds in load.usage:
            freed_s += seconds
            if used_s - freed_s < limit_s and used_s - freed_s + audio_s <= limit_s:
                wait_s = (submitted + USAGE_WINDOW - now).total_seconds()
                break
        raise _refusal(
            f"You have dubbed {used_s / 60:.1f} of your {self.quotas.audio_minutes_per_day:g} "
            f"audio minutes in the last 24 hours; this input needs {audio_s / 60:.1f} more.",
            "quota_exceeded",
            "audio_minutes_per_day",
            self.quotas.audio_minutes_per_day,
            round(used_s / 60, 2),
            max(1.0, wait_s),
        )


def _wait(eta_s: float | None) -> float:
    return max(1.0, eta_s) if eta_s is not None else UNKNOWN_WAIT_S


def _refusal(
    detail: str, code: str, limit_name: str, limit: float, current: float | None, wait_s: float
) -> TooBusy:
    """The error, with the limit it hit in ``errors`` for clients that act on it."""
    error: dict[str, Any] = {"loc": [], "msg": detail, "type": code, "limit": limit_name}
    error["max"] = limit
    if current is not None:
        error["current"] = current
    error["retry_after_s"] = math.ceil(wait_s)
    return TooBusy(detail, retry_after_s=wait_s, error_code=code, errors=[error])


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per client: ``burst`` requests at once, refilled at
    ``requests_per_minute``; 0 requests per minute switches it off.

    Buckets live in this process's memory: each server worker process counts on its own (N
    workers allow up to N times the rate) and a restart forgets them.
    """

    MAX_CLIENTS = 10_000  # beyond this, full buckets (no different from new ones) are dropped

    def __init__(
        self, settings: RateLimitSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_s = settings.requests_per_minute / 60
        self.burst = float(settings.burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, client_id: str) -> float:
        """Spends one of the client's tokens and returns 0, or, with none left, returns the
        seconds until there is one (spending nothing)."""
        if self.per_s <= 0:
            return 0.0
        now = self._clock()
        bucket = self._buckets.get(client_id)
        if bucket is None:
            if len(self._buckets) >= self.MAX_CLIENTS:
                self._drop_full(now)
            bucket = self._buckets[client_id] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.per_s)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.per_s

    def check(self, client_id: str) -> None:
        """``take``, raising ``TooBusy`` when the client must wait."""
        if wait_s := self.take(client_id):
            raise _refusal(
                f"Too many requests: {self.per_s * 60:g} a minute are allowed, in bursts of "
                f"up to {self.burst:g}; retry in {math.ceil(wait_s)} s.",
                "rate_limited",
                "requests_per_minute",
                self.per_s * 60,
                None,
                wait_s,
            )

    def _drop_full(self, now: float) -> None:
        """Forget full buckets; with too many clients still, the least recently seen."""
        live = [
            (client, bucket)
            for client, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.at) * self.per_s < self.burst
        ]
        live.sort(key=lambda item: item[1].at, reverse=True)
        self._buckets = dict(live[: self.MAX_CLIENTS // 2])
