"""Bad input gets the right 4xx with a clear message, and nothing is left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient


def _post_file(client: TestClient, name: str, content: bytes, **data: str) -> dict[str, object]:
    response = client.post(
        "/api/v1/audio/transcribe",
        files={"file": (name, content, "application/octet-stream")},
        data=data,
    )
    return {"status": response.status_code, **response.json()}


def _wav_header_and(payload_bytes: int) -> bytes:
    import struct

    header = b"RIFF" + struct.pack("<I", 36 + payload_bytes) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
    return header + b"data" + struct.pack("<I", payload_bytes) + bytes(payload_bytes)


BAD_UPLOADS = [
    ("empty.mp3", lambda s: b"", 400, "empty"),
    ("noise.mp3", lambda s: os.urandom(64 * 1024), 415, "not an audio or video file"),
    ("notes.wav", lambda s: b"These are my meeting notes.\n" * 200, 415, "not an audio"),
    (
        "playlist.m3u8",
        lambda s: (
            b"#EXTM3U\n#EXT-X-TARGETDURATION:11\n#EXTINF:11.0,\nfile://"
            + str(s / "jfk.flac").encode()
            + b"\n#EXT-X-ENDLIST\n"
        ),
        415,
        "not an audio",
    ),
    (
        "concat.mp3",
        lambda s: b"ffconcat version 1.0\nfile '" + str(s / "jfk.flac").encode() + b"'\n",
        415,
        "not an audio",
    ),
    ("cut.flac", lambda s: (s / "jfk.flac").read_bytes()[:300], 400, ""),
    ("big.wav", lambda s: _wav_header_and(9 * 1024 * 1024), 413, "MB limit"),
]


@pytest.mark.parametrize(
    ("name", "make", "status", "message"), BAD_UPLOADS, ids=[b[0] for b in BAD_UPLOADS]
)
def test_bad_uploads_are_refused_and_leave_nothing(
    client: TestClient,
    samples_dir: Path,
    temp_dir: Path,
    name: str,
    make: object,
    status: int,
    message: str,
) -> None:
    before = set(temp_dir.iterdir()) if temp_dir.exists() else set()
    body = _post_file(client, name, make(samples_dir))  # type: ignore[operator]
    assert body["status"] == status, body
    assert message.lower() in str(body["detail"]).lower()
    assert body["error_code"]
    assert "Traceback" not in str(body)
    assert set(temp_dir.iterdir()) == before
    assert client.get("/health").status_code == 200


def test_missing_file_field(client: TestClient) -> None:
    response = client.post("/api/v1/audio/transcribe", data={"language": "en"})
    assert response.status_code == 400
    assert "file" in response.json()["detail"]


def test_unknown_language_on_transcribe(client: TestClient, samples_dir: Path) -> None:
    body = _post_file(
        client, "jfk.flac", (samples_dir / "jfk.flac").read_bytes(), language="Klingonese"
    )
    assert body["status"] == 422
    assert "Klingonese" in str(body["detail"])


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"text": "", "source_language": "en", "target_language": "es"}, "text"),
        ({"text": "   ", "source_language": "en", "target_language": "es"}, "text"),
        ({"text": "a" * 50_001, "source_language": "en", "target_language": "es"}, "text"),
        ({"text": "Hello", "source_language": "en", "target_language": "xx-nope"}, "xx-nope"),
        ({"text": "Hello", "source_language": "en"}, "target_language"),
    ],
)
def test_translate_rejects_bad_requests(
    client: TestClient, payload: dict[str, str], fragment: str
) -> None:
    response = client.post("/api/v1/audio/translate", json=payload)
    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"text": ""}, 422),
        ({"text": "b" * 50_001}, 422),
        ({"text": "Hello", "voice": "no-such-voice"}, 422),
        ({"text": "Hello", "model": "no-such-model"}, 422),
        ({"text": "Hello", "language": "Klingonese"}, 422),
    ],
)
def test_tts_rejects_bad_requests(client: TestClient, payload: dict[str, str], status: int) -> None:
    response = client.post("/api/v1/audio/tts", json=payload)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_tts_accepts_fifty_thousand_characters_in_validation(client: TestClient) -> None:
    """The seed capped TTS at 4,096 characters while its UI allowed 50,000: not any more."""
    from dubbing_studio.api.routes.seed import TTSRequest

    assert TTSRequest(text="c" * 50_000).text


def test_malformed_json_is_422_not_500(client: TestClient) -> None:
    response = client.post(
        "/api/v1/audio/translate",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error_code"] == "validation_error"
