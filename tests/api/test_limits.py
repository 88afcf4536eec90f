"""Bounded work over HTTP: the dub queue, per-client quotas and rate limits answer 429 with
an honest Retry-After and the usual error body, and a refused request leaves nothing."""

from __future__ import annotations

import io
import wave
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from pydantic import SecretStr

from dubbing_studio.api.app import create_app
from dubbing_studio.config import LimitSettings, QuotaSettings, RateLimitSettings, Settings
from dubbing_studio.domain.dub import DubPlan
from dubbing_studio.domain.jobs import DubJob, JobStatus
from dubbing_studio.jobs import DubStore

ME = "addr:testclient"  # how the studio names a TestClient without API keys
NO_RATE_LIMIT = RateLimitSettings(requests_per_minute=0)


def silent_wav(seconds: float, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(2 * int(seconds * rate)))
    return buffer.getvalue()


class Studio:
    """A studio app with its own settings and folders, and its job store for seeding."""

    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    @property
    def store(self) -> DubStore:
        store: DubStore = self.client.app.state.dubs.store  # type: ignore[attr-defined]
        return store

    def seed(self, job_id: str, **changes: Any) -> DubJob:
        """A job as if submitted earlier; the runner never sees it, so it stays as given."""
        now = datetime.now(UTC)
        job = DubJob(
            id=job_id,
            created_at=now,
            updated_at=now,
            status=JobStatus.QUEUED,
            input_name="earlier.wav",
            input_path=str(self.settings.data_dir / "nowhere.wav"),
            input_digest="00" * 32,
            plan=DubPlan(target_language="es"),
            client_id=ME,
        )
        return self.store.create_job(replace(job, **changes))

    def dub(self, seconds: float = 1.0, target: str = "es", **headers: str) -> Response:
        return self.client.post(
            "/api/v1/dubs",
            files={"file": ("talk.wav", silent_wav(seconds), "audio/wav")},
            data={"target_language": target},
            headers=headers,
        )

    def leftovers(self) -> list[Path]:
        """Uploads in flight and project folders: a refused request leaves neither."""
        folders = [self.settings.temp_dir, self.settings.data_dir / "projects"]
        return [path for folder in folders if folder.exists() for path in folder.iterdir()]


@pytest.fixture
def make_studio(tmp_path: Path) -> Iterator[Callable[..., Studio]]:
    with ExitStack() as stack:

        def make(**overrides: Any) -> Studio:
            settings = Settings(
                data_dir=tmp_path / "data",
                temp_dir=tmp_path / "tmp",
                **{"rate_limit": NO_RATE_LIMIT, "allowed_hosts": ["testserver"], **overrides},
                _env_file=None,  # type: ignore[call-arg]
            )
            client = stack.enter_context(TestClient(create_app(settings)))
            return Studio(client, settings)

        yield make


def assert_too_busy(response: Response, code: str, retry_after: int | None = None) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert set(body) - {"error"} == {
        "detail",
        "error_code",
        "errors",
        "request_id",
    }  # /v1 adds OpenAI's
    assert body["error_code"] == code
    wait = int(response.headers["Retry-After"])
    assert wait >= 1
    if retry_after is not None:
        assert wait == retry_after
    assert body["errors"][0]["retry_after_s"] == wait
    assert body["errors"][0]["type"] == code


def test_a_full_queue_refuses_new_dubs_until_a_running_one_ends(
    make_studio: Callable[..., Studio],
) -> None:
    studio = make_studio(limits=LimitSettings(max_queued_jobs=2))
    studio.seed("waiting", client_id="addr:elsewhere")
    studio.seed("running", client_id="addr:elsewhere", status=JobStatus.RUNNING, eta_s=12.3)
    studio.seed("done", status=JobStatus.SUCCEEDED)
    response = studio.dub()
    assert_too_busy(response, "queue_full", retry_after=13)
    assert "2 dubs waiting or running" in response.json()["detail"]
    assert studio.leftovers() == []
    assert studio.store.list_jobs(10, 0)[1] == 3, "nothing was saved"
    assert studio.client.get("/health").status_code == 200


def test_a_client_over_its_queued_dubs_is_refused_and_others_are_not(
    make_studio: Callable[..., Studio],
) -> None:
    studio = make_studio(quotas=QuotaSettings(queued_dubs=1))
    studio.seed("someone-elses", client_id="addr:elsewhere")
    # Past every quota, the request fails on its language instead: it was not refused.
    assert studio.dub(target="tlh").status_code == 422
    studio.seed("mine")
    response = studio.dub()
    assert_too_busy(response, "quota_exceeded", retry_after=30)
    assert response.json()["errors"][0]["limit"] == "queued_dubs"
    assert studio.leftovers() == []


def test_the_daily_audio_quota_waits_until_enough_minutes_free_up(
    make_studio: Callable[..., Studio],
) -> None:
    studio = make_studio(quotas=QuotaSettings(audio_minutes_per_day=1.5))
    yesterday = datetime.now(UTC) - timedelta(hours=23)
    studio.seed(
        "earlier",
        status=JobStatus.SUCCEEDED,
        created_at=yesterday,
        updated_at=yesterday,
        duration_s=60.0,
    )
    assert studio.client.delete("/api/v1/dubs/earlier").status_code == 204
    response = studio.dub(seconds=60)  # 60 + 60 s is over 90 s until the first is a day old
    assert_too_busy(response, "quota_exceeded")
    assert 3590 <= int(response.headers["Retry-After"]) <= 3601
    assert response.json()["errors"][0]["limit"] == "audio_minutes_per_day"
    assert studio.leftovers() == [], "the upload was received, then removed"


def test_an_input_longer_than_a_days_quota_is_too_large(
    make_studio: Callable[..., Studio],
) -> None:
    studio = make_studio(quotas=QuotaSettings(audio_minutes_per_day=0.5))
    response = studio.dub(seconds=40)
    assert response.status_code == 413, response.text
    assert response.json()["error_code"] == "payload_too_large"
    assert studio.leftovers() == []


def test_a_retry_of_an_accepted_dub_is_answered_even_at_the_quota(
    make_studio: Callable[..., Studio],
) -> None:
    studio = make_studio(quotas=QuotaSettings(queued_dubs=1))
    studio.seed("accepted", idempotency_key="upload-1")
    response = studio.dub(**{"Idempotency-Key": "upload-1"})
    assert response.status_code == 202, response.text
    assert response.json()["id"] == "accepted"
    assert studio.leftovers() == []


def test_an_accepted_dub_is_stored_with_its_client(make_studio: Callable[..., Studio]) -> None:
    studio = make_studio()
    response = studio.dub()
    assert response.status_code == 202, response.text
    dub_id = response.json()["id"]
    assert studio.store.get_job(dub_id).client_id == ME
    assert studio.client.post(f"/api/v1/dubs/{dub_id}/cancel").status_code == 200


def test_request_priced_endpoints_are_rate_limited_per_client(
    make_studio: Callable[..., Studio],
) -> None:
    studio = make_studio(rate_limit=RateLimitSettings(requests_per_minute=6, burst=2))
    client = studio.client
    translate = {"text": "The house is big.", "source_language": "en", "target_language": "es"}
    assert client.post("/api/v1/audio/translate", json=translate).status_code == 200
    assert client.post("/api/v1/audio/translate", json=translate).status_code == 200
    refused = client.post("/api/v1/audio/translate", json=translate)
    assert_too_busy(refused, "rate_limited")
    assert int(refused.headers["Retry-After"]) <= 10  # a request every 10 s
    for refused in (
        client.post("/api/v1/audio/tts", json={"text": "Hello"}),
        client.post("/v1/audio/speech", json={"input": "Hello"}),
        client.post("/v1/audio/transcriptions", files={"file": ("a.wav", silent_wav(1))}),
        client.post("/api/v1/audio/transcribe", files={"file": ("a.wav", silent_wav(1))}),
        studio.dub(),
    ):
        assert_too_busy(refused, "rate_limited")
    assert studio.leftovers() == []
    assert "error" in client.post("/v1/audio/speech", json={"input": "Hi"}).json(), "OpenAI shape"
    for path in ("/health", "/api/v1/dubs", "/v1/models", "/api/v1/engines", "/"):
        for _ in range(4):
            assert client.get(path).status_code == 200, path


def test_each_api_key_has_its_own_rate(make_studio: Callable[..., Studio]) -> None:
    studio = make_studio(
        api_keys=[SecretStr("key-of-alice"), SecretStr("key-of-bob")],
        rate_limit=RateLimitSettings(requests_per_minute=1, burst=1),
    )
    translate = {"text": "Hello.", "source_language": "en", "target_language": "es"}

    def as_(key: str) -> Response:
        headers = {"Authorization": f"Bearer {key}"}
        return studio.client.post("/api/v1/audio/translate", json=translate, headers=headers)

    assert as_("key-of-alice").status_code == 200
    refused = as_("key-of-alice")
    assert_too_busy(refused, "rate_limited")
    assert 55 <= int(refused.headers["Retry-After"]) <= 60  # one request a minute
    assert as_("key-of-bob").status_code == 200
    assert as_("wrong-key").status_code == 401, "authentication comes before rate limits"


def test_zero_requests_per_minute_switches_rate_limits_off(
    make_studio: Callable[..., Studio],
) -> None:
    studio = make_studio(rate_limit=RateLimitSettings(requests_per_minute=0, burst=1))
    translate = {"text": "Hello.", "source_language": "en", "target_language": "es"}
    for _ in range(5):
        assert studio.client.post("/api/v1/audio/translate", json=translate).status_code == 200
