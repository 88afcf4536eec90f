"""The quota policy and the rate limiter: what is refused, and honest Retry-After times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dubbing_studio.config import LimitSettings, QuotaSettings, RateLimitSettings
from dubbing_studio.domain.errors import TooBusy, UploadTooLarge
from dubbing_studio.jobs.store import Load
from dubbing_studio.services.quotas import UNKNOWN_WAIT_S, QuotaPolicy, RateLimiter

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POLICY = QuotaPolicy(
    LimitSettings(max_queued_jobs=5),
    QuotaSettings(concurrent_dubs=1, queued_dubs=2, audio_minutes_per_day=10),
)


def load(
    unfinished: int = 0,
    mine: int = 0,
    next_free_s: float | None = None,
    my_next_free_s: float | None = None,
    usage: tuple[tuple[datetime, float], ...] = (),
) -> Load:
    return Load(unfinished, mine, next_free_s, my_next_free_s, usage)


def refusal(current: Load, audio_s: float | None) -> TooBusy:
    with pytest.raises(TooBusy) as caught:
        POLICY.check(current, audio_s, NOW)
    return caught.value


def test_room_everywhere_is_admitted() -> None:
    POLICY.check(load(unfinished=4, mine=1, usage=((NOW, 300.0),)), 300.0, NOW)
    POLICY.check(load(), None, NOW)


def test_a_full_studio_queue_waits_for_the_soonest_running_dub() -> None:
    error = refusal(load(unfinished=5, next_free_s=42.4), 1.0)
    assert (error.status_code, error.error_code, error.retry_after_s) == (429, "queue_full", 42.4)
    assert error.errors == [
        {
            "loc": [],
            "msg": error.detail,
            "type": "queue_full",
            "limit": "max_queued_jobs",
            "max": 5,
            "current": 5,
            "retry_after_s": 43,
        }
    ]
    assert refusal(load(unfinished=5), 1.0).retry_after_s == UNKNOWN_WAIT_S


def test_a_client_with_its_queue_full_waits_for_its_own_running_dub() -> None:
    error = refusal(load(unfinished=2, mine=2, next_free_s=5.0, my_next_free_s=90.0), 1.0)
    assert (error.error_code, error.retry_after_s) == ("quota_exceeded", 90.0)
    assert "2 dubs waiting or running" in error.detail


def test_daily_minutes_wait_until_enough_submissions_leave_the_window() -> None:
    usage = (
        (NOW - timedelta(hours=23), 120.0),  # leaves the window in 1 h
        (NOW - timedelta(hours=20), 240.0),  # in 4 h
        (NOW - timedelta(hours=1), 180.0),  # in 23 h
    )
    # 540 s of 600 used: 60 s more fits, 61 s needs the first 120 s to go (1 h), 250 s the
    # second (4 h).
    POLICY.check(load(usage=usage), 60.0, NOW)
    assert refusal(load(usage=usage), 61.0).retry_after_s == pytest.approx(3600)
    error = refusal(load(usage=usage), 250.0)
    assert error.retry_after_s == pytest.approx(4 * 3600)
    assert error.error_code == "quota_exceeded"
    assert error.errors is not None and error.errors[0]["limit"] == "audio_minutes_per_day"
    assert "9.0 of your 10 audio minutes" in error.detail


def test_a_spent_day_is_refused_before_the_duration_is_known() -> None:
    spent = ((NOW - timedelta(hours=6), 600.0),)
    assert refusal(load(usage=spent), None).retry_after_s == pytest.approx(18 * 3600)


def test_an_input_longer_than_a_whole_day_of_quota_is_too_large_not_busy() -> None:
    with pytest.raises(UploadTooLarge, match="10 minutes a day"):
        POLICY.check(load(), 601.0, NOW)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_token_bucket_allows_a_burst_then_the_sustained_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimitSettings(requests_per_minute=30, burst=3), clock)
    assert [limiter.take("alice") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("alice") == pytest.approx(2.0)  # one token every 2 s
    assert limiter.take("bob") == 0.0, "buckets are per client"
    clock.now += 1.0
    assert limiter.take("alice") == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.take("alice") == 0.0
    with pytest.raises(TooBusy) as caught:
        limiter.check("alice")
    assert caught.value.error_code == "rate_limited"
    assert caught.value.retry_after_s == pytest.approx(2.0)


def test_zero_requests_per_minute_switches_rate_limits_off() -> None:
    limiter = RateLimiter(RateLimitSettings(requests_per_minute=0, burst=1))
    assert all(limiter.take("alice") == 0.0 for _ in range(1000))


def test_the_limiter_forgets_clients_instead_of_growing_without_bound() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimitSettings(requests_per_minute=60, burst=2), clock)
    limiter.MAX_CLIENTS = 10
    for i in range(100):
        limiter.take(f"client-{i}")
        clock.now += 0.01
    assert len(limiter._buckets) <= 10
    assert limiter.take("client-99") == 0.0 and limiter.take("client-99") > 0, "recent ones kept"
