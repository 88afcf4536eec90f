"""Dub projects over HTTP with the real engines: create, follow, edit, re-voice, render."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from dubbing_studio.jobs.schema import ArtifactRefRow

pytestmark = pytest.mark.slow


def follow(client: TestClient, dub_id: str, last_event_id: int = 0) -> list[tuple[int, str, Any]]:
    """Read the SSE stream to its end: (id, event, data) triples."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id else {}
    with client.stream("GET", f"/api/v1/dubs/{dub_id}/events", headers=headers) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        return read_events(stream.iter_lines())


def read_events(lines: Iterator[str]) -> list[tuple[int, str, Any]]:
    """Server-Sent Events as (id, event, data) triples, data parsed as JSON."""
    events: list[tuple[int, str, Any]] = []
    current: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            if "event" in current:
                events.append((int(current["id"]), current["event"], json.loads(current["data"])))
            current = {}
            continue
        key, _, value = line.partition(": ")
        current[key] = value
    return events


@pytest.fixture(scope="module")
def dubbed(client: TestClient, samples_dir: Path) -> Iterator[dict[str, Any]]:
    with (samples_dir / "jfk.flac").open("rb") as handle:
        response = client.post(
            "/api/v1/dubs",
            files={"file": ("jfk.flac", handle, "audio/flac")},
            data={
                "target_language": "Spanish",
                "options": json.dumps({"audio_formats": ["mp3", "wav"]}),
            },
            headers={"Idempotency-Key": "jfk-es-1"},
        )
    assert response.status_code == 202, response.text
    created = response.json()
    assert response.headers["location"] == f"/api/v1/dubs/{created['id']}"
    events = follow(client, created["id"])
    yield {"id": created["id"], "events": events}
    client.delete(f"/api/v1/dubs/{created['id']}")


def test_progress_events_arrive_in_order_and_end_with_done(dubbed: dict[str, Any]) -> None:
    events = dubbed["events"]
    ids = [e[0] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    kinds = [e[1] for e in events]
    assert kinds[-1] == "done" and events[-1][2]["status"] == "succeeded"
    stages = [e[2]["stage"] for e in events if e[1] == "progress"]
    assert stages.index("transcribe") < stages.index("synthesize") < stages.index("export")
    progress = [e[2]["progress"] for e in events if e[1] == "progress"]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert any(e[1] == "segment" for e in events)


def test_reconnecting_with_last_event_id_replays_only_newer_events(
    client: TestClient, dubbed: dict[str, Any]
) -> None:
    events = dubbed["events"]
    middle = events[len(events) // 2][0]
    replay = follow(client, dubbed["id"], last_event_id=middle)
    assert [e[0] for e in replay] == [e[0] for e in events if e[0] > middle]


def test_the_dub_its_outputs_and_range_requests(client: TestClient, dubbed: dict[str, Any]) -> None:
    dub = client.get(f"/api/v1/dubs/{dubbed['id']}").json()
    assert dub["status"] == "succeeded" and dub["source_language"] == "en"
    assert dub["target_language"] == "es" and dub["stale_segments"] == 0
    names = {o["name"]: o for o in dub["outputs"]}
    assert {"audio.mp3", "audio.wav", "subtitles.target.srt", "report.json"} <= set(names)
    for name, output in names.items():
        response = client.get(output["url"])
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith(output["content_type"])
        assert len(response.content) == output["size"]
    with av.open(io.BytesIO(client.get(names["audio.mp3"]["url"]).content)) as container:
        assert abs(container.duration / 1e6 - 11.0) < 0.1
    partial = client.get(names["audio.wav"]["url"], headers={"Range": "bytes=100-199"})
    assert partial.status_code == 206 and len(partial.content) == 100
    assert partial.headers["content-range"].startswith("bytes 100-199/")
    report = client.get(names["report.json"]["url"]).json()
    assert report["totals"]["max_speed"] <= 1.3
    quality = report["quality"]
    assert quality["back_transcribed"] and 0.0 <= quality["wer"] <= 0.5, quality
    assert quality["coverage"] >= 0.95 and quality["words_trimmed"] == 0, quality
    assert all(s["heard_text"] and s["language"] == "en" for s in report["segments"])
    lines = client.get(f"/api/v1/dubs/{dubbed['id']}/segments").json()["items"]
    assert {line["language"] for line in lines} == {"en"}
    assert all(line["flags"] == [] and line["words_trimmed"] == 0 for line in lines)
    listing = client.get("/api/v1/dubs", params={"limit": 5}).json()
    assert listing["items"][0]["id"] == dubbed["id"] and listing["total"] >= 1


def test_idempotency_key_returns_the_same_dub(
    client: TestClient, dubbed: dict[str, Any], samples_dir: Path
) -> None:
    with (samples_dir / "jfk.flac").open("rb") as handle:
        again = client.post(
            "/api/v1/dubs",
            files={"file": ("jfk.flac", handle, "audio/flac")},
            data={"target_language": "es"},
            headers={"Idempotency-Key": "jfk-es-1"},
        )
    assert again.status_code == 202 and again.json()["id"] == dubbed["id"]


def test_line_audio_and_edit_resynthesize_render(
    client: TestClient, dubbed: dict[str, Any]
) -> None:
    base = f"/api/v1/dubs/{dubbed['id']}"
    segments = client.get(f"{base}/segments").json()["items"]
    assert len(segments) >= 2 and all(s["status"] == "ready" for s in segments)
    first = segments[0]
    for track in ("source", "dub"):
        clip = client.get(f"{base}/segments/{first['id']}/audio", params={"track": track})
        assert clip.status_code == 200 and clip.headers["content-type"] == "audio/wav"
        assert clip.content[:4] == b"RIFF"

    edited = client.patch(
        f"{base}/segments/{first['id']}", json={"target_text": "Compatriotas, escuchad."}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["status"] == "stale" and edited.json()["target_edited"]
    assert client.get(base).json()["stale_segments"] == 1

    voiced = client.post(f"{base}/segments/{first['id']}/synthesize")
    assert voiced.status_code == 200 and voiced.content[:4] == b"RIFF"

    last_id = dubbed["events"][-1][0]
    render = client.post(f"{base}/render")
    assert render.status_code == 202
    events = follow(client, dubbed["id"], last_event_id=last_id)
    done = events[-1]
    assert done[1] == "done" and done[2]["status"] == "succeeded", events[-3:]
    # Hearing the dub back is a check of the new mix, not a stage recomputed.
    calls = {k: n for k, n in done[2]["engine_calls"].items() if not k.startswith("hear-back:")}
    assert not any(k.startswith(("transcribe", "translate")) for k in calls), calls
    assert sum(calls.values()) <= 1, "the edited line was voiced already; others are cached"
    after = client.get(f"{base}/segments").json()["items"]
    assert all(s["status"] == "ready" for s in after)
    assert after[0]["target_text"] == "Compatriotas, escuchad."
    srt = client.get(f"{base}/outputs/subtitles.target.srt").text
    assert "Compatriotas, escuchad." in srt


def test_errors(client: TestClient, dubbed: dict[str, Any], samples_dir: Path) -> None:
    base = f"/api/v1/dubs/{dubbed['id']}"
    assert client.get("/api/v1/dubs/nope").status_code == 404
    assert client.get(f"{base}/outputs/nope.mp3").status_code == 404
    assert client.patch(f"{base}/segments/nope", json={"target_text": "x"}).status_code == 404
    bad_timing = client.patch(f"{base}/segments/seg-0001", json={"start": 5.0, "end": 4.0})
    assert bad_timing.status_code == 422 and "end after it starts" in bad_timing.json()["detail"]
    overlap = client.patch(f"{base}/segments/seg-0001", json={"end": 9.0})
    assert overlap.status_code == 422 and "overlap" in overlap.json()["detail"]
    jfk = (samples_dir / "jfk.flac").read_bytes()
    missing = client.post("/api/v1/dubs", files={"file": ("a.flac", jfk)})
    assert missing.status_code == 422 and "target_language" in missing.json()["detail"]
    bad_options = client.post(
        "/api/v1/dubs",
        files={"file": ("a.flac", jfk)},
        data={"target_language": "es", "options": '{"timing": {"max_speed": 9}}'},
    )
    assert bad_options.status_code == 422 and "max_speed" in bad_options.json()["detail"]
    not_json = client.post(
        "/api/v1/dubs",
        files={"file": ("a.flac", jfk)},
        data={"target_language": "es", "options": "{nope"},
    )
    assert not_json.status_code == 422
    text = client.post(
        "/api/v1/dubs", files={"file": ("a.mp3", b"hello " * 100)}, data={"target_language": "es"}
    )
    assert text.status_code == 415


def test_editing_while_running_is_a_conflict_and_delete_leaves_nothing(
    client: TestClient, samples_dir: Path, studio_settings: Any
) -> None:
    def submit() -> str:
        with (samples_dir / "stereo_diarization.wav").open("rb") as handle:
            created = client.post(
                "/api/v1/dubs",
                files={"file": ("talk.wav", handle, "audio/wav")},
                data={"target_language": "es"},
            ).json()
        return str(created["id"])

    first = submit()
    base = f"/api/v1/dubs/{first}"
    conflict = client.post(f"{base}/render")
    assert conflict.status_code == 409, conflict.text
    follow(client, first)
    project = studio_settings.data_dir / "projects" / first
    recorded = artifact_refs(studio_settings, first)  # lookups that missed too
    root = studio_settings.data_dir / "artifacts"
    artifacts = [root / p for p in recorded]
    assert sum(p.exists() for p in artifacts) >= 5
    artifacts = [p for p in artifacts if p.exists()]

    again = submit()  # the same input and plan: it finds what the first stored
    follow(client, again)
    used_again = artifact_refs(studio_settings, again)
    shared = [p for p in artifacts if str(p.relative_to(root)) in used_again]
    assert len(shared) >= 3, "recognition at least is shared"
    assert client.delete(base).status_code == 204
    assert not project.exists()
    assert all(p.exists() for p in shared), "the second project uses them"
    assert not any(p.exists() for p in artifacts if p not in shared), "only the first did"
    assert client.get(base).status_code == 404

    assert client.delete(f"/api/v1/dubs/{again}").status_code == 204
    assert not any(p.exists() for p in shared), "they are shared with no one any more"
    assert not any((root / p).exists() for p in used_again)


def artifact_refs(settings: Any, dub_id: str) -> list[str]:
    """The artifacts the store records a dub as using (paths relative to the store)."""
    engine = create_engine(settings.database)
    try:
        with engine.connect() as connection:
            query = select(ArtifactRefRow.path).where(ArtifactRefRow.job_id == dub_id)
            return list(connection.scalars(query))
    finally:
        engine.dispose()


def test_impossible_plans_are_refused_before_any_work(
    client: TestClient, samples_dir: Path, temp_dir: Path
) -> None:
    jfk = (samples_dir / "jfk.flac").read_bytes()
    no_voice = client.post(
        "/api/v1/dubs", files={"file": ("a.flac", jfk)}, data={"target_language": "gl"}
    )
    assert no_voice.status_code == 422 and "Galician" in no_voice.json()["detail"]
    no_pair = client.post(
        "/api/v1/dubs",
        files={"file": ("a.flac", jfk)},
        data={"target_language": "es", "source_language": "ja"},
    )
    assert no_pair.status_code == 422 and "cannot translate" in no_pair.json()["detail"]
    assert list(temp_dir.iterdir()) == []
