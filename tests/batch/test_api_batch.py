"""``POST /api/v1/batches``: three files (and two that fail) into two languages, followed over
SSE; six dubs with three recognitions, the failures listed beside them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from dubbing_studio import media
from dubbing_studio.api.app import create_app
from dubbing_studio.bootstrap import build_studio
from dubbing_studio.config import QuotaSettings, RateLimitSettings, Settings
from tests.api.test_dubs import follow, read_events
from tests.batch.conftest import TARGETS

pytestmark = pytest.mark.slow


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        temp_dir=tmp_path / "tmp",
        whisper={"model": "tiny.en"},
        max_concurrent_jobs=2,  # a file's two languages run side by side
        quotas=QuotaSettings(concurrent_dubs=2, queued_dubs=20),
        rate_limit=RateLimitSettings(requests_per_minute=0),
        allowed_hosts=["testserver"],
        _env_file=None,
    )
    with TestClient(create_app(settings, build_studio(settings))) as test_client:
        yield test_client


def follow_batch(client: TestClient, batch_id: str) -> list[tuple[int, str, Any]]:
    """The batch's event stream to its end: (id, event, data) triples."""
    with client.stream("GET", f"/api/v1/batches/{batch_id}/events") as stream:
        return read_events(stream.iter_lines())


def test_batch_of_three_files_into_two_languages(
    client: TestClient, clips: list[Path], tmp_path: Path
) -> None:
    silence = tmp_path / "silence.wav"  # opens fine, has nothing to dub: fails while running
    media.write_audio(silence, np.zeros(16_000 * 2, dtype=np.float32), 16_000, "wav")
    corrupt = tmp_path / "corrupt.flac"  # looks like FLAC, will not open: never queued
    corrupt.write_bytes(b"fLaC" + bytes(range(256)) * 20)
    sent = [clips[0], silence, corrupt, *clips[1:]]
    files = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in sent]
    created = client.post(
        "/api/v1/batches",
        files=files,
        data={"target_languages": ",".join(TARGETS), "options": '{"synthesizer": "espeak-ng"}'},
    )
    assert created.status_code == 202, created.text
    batch = created.json()
    assert len(batch["dubs"]) == 8 and batch["status"] in ("queued", "running")
    assert {(r["input_name"], r["error_code"]) for r in batch["rejected"]} == {
        ("corrupt.flac", "undecodable_media")
    } and len(batch["rejected"]) == 2

    events = follow_batch(client, batch["id"])
    assert events[-1][1] == "done" and all(kind == "batch" for _, kind, _ in events[:-1])
    final = client.get(f"/api/v1/batches/{batch['id']}").json()
    assert final["status"] == "partial" and final == {**final, "progress": 1.0}
    assert final["counts"]["succeeded"] == 6 and final["counts"]["failed"] == 2
    failed = {d["input_name"] for d in final["dubs"] if d["status"] == "failed"}
    assert failed == {"silence.wav"}

    recognitions = 0
    for dub in final["dubs"]:
        if dub["status"] != "succeeded":
            continue
        done = follow(client, dub["id"])[-1]
        assert done[1] == "done"
        calls = done[2]["engine_calls"]
        recognitions += sum(n for name, n in calls.items() if name.startswith("transcribe:"))
        outputs = client.get(dub["links"]["self"]).json()["outputs"]
        assert any(o["name"] == "audio.mp3" for o in outputs)
    assert recognitions == 3


def test_unknown_batch_and_missing_languages(
    client: TestClient, clips: list[Path], tmp_path: Path
) -> None:
    assert client.get("/api/v1/batches/nope").status_code == 404
    files = [("files", (clips[0].name, clips[0].read_bytes(), "audio/flac"))]
    refused = client.post("/api/v1/batches", files=files, data={"target_languages": " , "})
    assert refused.status_code == 422
    refused = client.post("/api/v1/batches", files=files, data={"target_languages": "klingon"})
    assert refused.status_code == 422
    assert not list((tmp_path / "tmp").glob("upload-*"))  # refused uploads are removed
