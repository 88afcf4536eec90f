"""Hostile media against a real server process: each generated file, on every upload route
and as a dub, gets a 2xx or a 4xx; ``/health`` answers after each file; every dub ends
``succeeded`` or ``failed``; and a restart with those dubs in the store stays up."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.media.hostile import HOSTILE_FILES, SPEECH_WORDS

from .conftest import Server

pytestmark = pytest.mark.slow

ROUTES = {
    "transcribe": ("/api/v1/audio/transcribe", {"language": "en"}),
    "openai": ("/v1/audio/transcriptions", {"model": "whisper-1"}),
    "dub": ("/api/v1/dubs", {"source_language": "en", "target_language": "en"}),
}
TERMINAL = {"succeeded", "failed"}
RESTART_WATCH_S = 20.0  # a poisoned dub used to crash the server ~12 s after each start


@pytest.fixture
def server(make_server: type[Server], monkeypatch: pytest.MonkeyPatch) -> Server:
    """Small model, a 10 s duration cap (so the lying MP3 is over it), no quotas in the way."""
    for name, value in {
        "WHISPER__MODEL": "tiny.en",
        "MAX_DURATION_S": "10",
        "RATE_LIMIT__REQUESTS_PER_MINUTE": "0",
        "QUOTAS__QUEUED_DUBS": "1000",
        "LIMITS__MAX_QUEUED_JOBS": "1000",
    }.items():
        monkeypatch.setenv(f"DUBBING_STUDIO_{name}", value)
    started = make_server("hostile")
    started.start()
    return started


def test_hostile_uploads_never_take_the_server_down(server: Server, tmp_path: Path) -> None:
    """Tones carry no speech, so their dubs fail ("no speech"); the speech files' succeed."""
    table: dict[str, dict[str, int]] = {}
    dubs: dict[str, str] = {}
    with httpx.Client(base_url=server.url, timeout=120) as client:
        for hostile in HOSTILE_FILES:
            path = hostile.write(tmp_path)
            table[hostile.name] = {}
            for route, (url, fields) in ROUTES.items():
                with path.open("rb") as handle:
                    response = client.post(url, files={"file": (path.name, handle)}, data=fields)
                status = response.status_code
                table[hostile.name][route] = status
                assert status < 500, (hostile.name, route, response.text)
                body = response.json()
                if status >= 400:
                    assert body["error_code"] and body["detail"], body
                assert status < 300 or not hostile.decodes, (hostile.name, route, body)
                if hostile.speech and route != "dub":  # the words survived the mixdown
                    assert set(SPEECH_WORDS) <= set(_words(body["text"])), body
                if route == "dub" and status == 202:
                    dubs[hostile.name] = body["id"]
            assert client.get("/health").status_code == 200, hostile.name
            assert server.process is not None and server.process.poll() is None
        ended = _wait_until_terminal(client, dubs)
    print("\nfile: transcribe / openai / dub → dub status")
    for name, statuses in table.items():
        print(f"  {name}: {' / '.join(map(str, statuses.values()))} → {ended.get(name, '-')}")
    assert ended["xing-lies.mp3"] == "failed"  # over the cap once decoded
    for hostile in HOSTILE_FILES:
        if hostile.speech:  # surround and many channels dubbed to the end
            assert ended[hostile.name] == "succeeded", hostile.name

    server.stop()
    server.start()  # the same store, with the failed dubs in it
    deadline = time.monotonic() + RESTART_WATCH_S
    with httpx.Client(base_url=server.url, timeout=10) as client:
        while time.monotonic() < deadline:
            assert client.get("/health").status_code == 200
            assert server.process is not None and server.process.poll() is None
            time.sleep(0.5)
        after = _statuses(client, dubs)
    assert after == ended


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _statuses(client: httpx.Client, dubs: dict[str, str]) -> dict[str, str]:
    return {name: client.get(f"/api/v1/dubs/{i}").json()["status"] for name, i in dubs.items()}


def _wait_until_terminal(
    client: httpx.Client, dubs: dict[str, str], timeout: float = 900
) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        statuses = _statuses(client, dubs)
        if set(statuses.values()) <= TERMINAL:
            return statuses
        assert client.get("/health").status_code == 200
        time.sleep(1.0)
    raise AssertionError(f"dubs did not end: {statuses}")
