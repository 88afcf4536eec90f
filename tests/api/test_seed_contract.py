"""The seed's endpoints, called exactly as the seed's client calls them, on real engines."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest
from fastapi.testclient import TestClient

from tests.metrics import word_error_rate

JFK_REFERENCE = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


def test_health_and_root(client: TestClient) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "healthy"
    assert body["openai_api_configured"] is False
    assert body["version"] == "v1"
    root = client.get("/").json()
    assert root["docs"] == "/docs" and root["version"] == "v1" and root["message"]


def test_docs_and_schema(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    for path in ("/api/v1/audio/transcribe", "/api/v1/audio/translate", "/api/v1/audio/tts"):
        assert path in schema["paths"]
    body = schema["paths"]["/api/v1/audio/transcribe"]["post"]["requestBody"]
    assert "multipart/form-data" in body["content"]


@pytest.mark.slow
def test_transcribe_jfk_as_the_seed_client_does(client: TestClient, samples_dir: Path) -> None:
    with (samples_dir / "jfk.flac").open("rb") as handle:
        response = client.post(
            "/api/v1/audio/transcribe", files={"file": ("jfk.flac", handle, "audio/flac")}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["language"] == "English"
    assert body["language_code"] == "en"
    assert word_error_rate(JFK_REFERENCE, body["text"]) <= 0.10
    assert body["segments"] and body["segments"][0]["start"] >= 0
    assert abs(body["duration"] - 11.0) < 0.2


@pytest.mark.slow
def test_transcribe_with_language_name_and_mp3(client: TestClient, samples_dir: Path) -> None:
    mp3 = _reencode(samples_dir / "jfk.flac", "mp3")
    response = client.post(
        "/api/v1/audio/transcribe",
        files={"file": ("recording.bin", mp3, "application/octet-stream")},
        data={"language": "english"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["language"] == "English"
    assert word_error_rate(JFK_REFERENCE, response.json()["text"]) <= 0.10


def test_translate_as_the_seed_client_does(client: TestClient) -> None:
    response = client.post(
        "/api/v1/audio/translate",
        json={
            "text": "The house is big.",
            "source_language": "English",
            "target_language": "spanish",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "casa" in body["translated_text"].lower()
    assert body["source_language"] == "English"
    assert body["target_language"] == "spanish"
    assert body["target_language_code"] == "es"


def test_translate_unsupported_pair_lists_pairs(client: TestClient) -> None:
    response = client.post(
        "/api/v1/audio/translate",
        json={"text": "Hello", "source_language": "en", "target_language": "de"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error_code"] == "unsupported_language"
    assert "en→es" in body["detail"]


@pytest.mark.slow
def test_tts_returns_mp3_that_speaks_the_text(client: TestClient, tmp_path: Path) -> None:
    text = "Please remember to save your work before you leave."
    response = client.post("/api/v1/audio/tts", json={"text": text, "voice": "onyx"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.headers["content-disposition"] == "attachment; filename=speech.mp3"
    assert response.headers["x-voice-engine"] == "piper"
    with av.open(io.BytesIO(response.content)) as container:
        assert container.format.name == "mp3"
        assert container.duration and container.duration > 1_000_000


@pytest.mark.slow
def test_tts_detects_spanish_and_picks_a_spanish_voice(client: TestClient) -> None:
    response = client.post(
        "/api/v1/audio/tts",
        json={"text": "Buenos días, ¿cómo estás? Hoy hace muy buen tiempo.", "model": "tts-1"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-language"] == "es"
    assert response.headers["x-voice-engine"] == "espeak-ng"


def _reencode(path: Path, fmt: str) -> bytes:
    from dubbing_studio import media

    samples, rate = media.decode_audio(path, sample_rate=22050)
    return media.encode_audio(samples, rate, fmt)
