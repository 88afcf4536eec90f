"""Subtitle files beside a dub's media in ``POST /api/v1/dubs``."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.test_dubs import follow
from tests.pipeline.test_subtitle_import import SPANISH_SRT


def _post(client: TestClient, samples_dir: Path, **subtitles: str):  # type: ignore[no-untyped-def]
    with (samples_dir / "jfk.flac").open("rb") as handle:
        return client.post(
            "/api/v1/dubs",
            files={
                "file": ("jfk.flac", handle, "audio/flac"),
                **{
                    name: (f"{name}.srt", text, "application/x-subrip")
                    for name, text in subtitles.items()
                },
            },
            data={"target_language": "es"},
        )


def test_a_bad_subtitle_file_is_a_422_naming_the_line(
    client: TestClient, samples_dir: Path, temp_dir: Path
) -> None:
    broken = SPANISH_SRT.replace("00:00:03,600 --> 00:00:07,400", "00:00:03,600 --> 00:0x:07")
    response = _post(client, samples_dir, translation=broken)
    assert response.status_code == 422, response.text
    body = response.json()
    assert "translation, line 6" in body["detail"] and body["errors"][0]["line"] == 6
    assert not list(temp_dir.glob("upload-*")), "the upload is removed"


@pytest.mark.slow
def test_an_imported_translation_over_http_calls_no_recogniser_or_translator(
    client: TestClient, samples_dir: Path
) -> None:
    response = _post(client, samples_dir, translation=SPANISH_SRT)
    assert response.status_code == 202, response.text
    dub_id = response.json()["id"]
    done = follow(client, dub_id)[-1]
    assert done[2]["status"] == "succeeded", done
    calls = done[2]["engine_calls"]
    assert not [k for k in calls if k.startswith(("transcribe", "translate"))], calls
    segments = client.get(f"/api/v1/dubs/{dub_id}/segments").json()["items"]
    assert [(s["start"], s["end"]) for s in segments] == [(0.3, 2.9), (3.6, 7.4), (8.0, 10.8)]
    assert all(s["target_edited"] for s in segments)
    client.delete(f"/api/v1/dubs/{dub_id}")
