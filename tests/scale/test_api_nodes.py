"""Two API nodes (``dubbing-studio serve``, real processes) over one PostgreSQL and Redis:
an event stored through one node reaches an SSE stream (a dub's or a batch's) open on the
other through PostgreSQL NOTIFY, and a stream resumes on either node with Last-Event-ID."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import service_url
from tests.e2e.conftest import Server
from tests.e2e.test_server_process import submit

from .conftest import _drop_all

pytestmark = [pytest.mark.services]

# The streams' fallback look into the store comes an hour after the last wake-up; the
# test waits at most DELIVERY_BOUND_S, so an event it sees came through a notification.
POLL_S = 3600
DELIVERY_BOUND_S = 120.0


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Two API nodes on a fresh database, an empty Redis and one data folder; no worker,
    so a dub stays queued."""
    postgres = service_url("DUBBING_STUDIO_TEST_POSTGRES_URL", "PostgreSQL")
    redis_url = service_url("DUBBING_STUDIO_TEST_REDIS_URL", "Redis")
    _drop_all(postgres)
    redis.Redis.from_url(redis_url).flushdb()
    env: dict[str, str | None] = {
        "DUBBING_STUDIO_RUNNER": "dramatiq",
        "DUBBING_STUDIO_REDIS_URL": redis_url,
        "DUBBING_STUDIO_DATABASE_URL": postgres,
        "DUBBING_STUDIO_EVENT_POLL_S": str(POLL_S),
    }
    data = tmp_path / "data"
    servers = [Server(data_dir=data, temp_dir=tmp_path / f"tmp-{n}", env=env) for n in "ab"]
    try:
        for server in servers:
            server.start()
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()
        _drop_all(postgres)


def test_an_event_stored_on_one_node_reaches_a_stream_on_the_other_through_notify(
    nodes: tuple[Server, Server], samples_dir: Path
) -> None:
    a, b = nodes
    dub_id = submit(a, samples_dir / "jfk.flac", "es")
    seen: list[tuple[int, str, Any]] = []
    deadline = time.monotonic() + DELIVERY_BOUND_S
    url = f"{b.url}/api/v1/dubs/{dub_id}/events"
    with httpx.stream("GET", url, timeout=DELIVERY_BOUND_S) as body:
        for event in sse_events(body.iter_lines()):
            if event is None:  # a keep-alive comment: the stream is still waiting
                assert time.monotonic() < deadline, f"nothing reached node B; saw {seen}"
                continue
            seen.append(event)
            if len(seen) == 1:  # the queued dub's first event; the stream on B now waits
                assert event[1] == "status" and event[2]["status"] == "queued"
                cancelled = httpx.post(f"{a.url}/api/v1/dubs/{dub_id}/cancel", timeout=60)
                assert cancelled.status_code == 200, cancelled.text
    assert [kind for _, kind, _ in seen] == ["status", "done"]
    assert seen[-1][2] == {"status": "cancelled"}, "stored on node A, read on node B"

    for node in (a, b):  # Last-Event-ID resumes on either node from the same numbers
        resumed = httpx.get(url.replace(b.url, node.url), headers={"Last-Event-ID": "1"})
        assert [e for e in sse_events(resumed.text.splitlines()) if e] == seen[1:]


def test_a_batch_stream_on_one_node_wakes_on_a_dub_moved_through_the_other(
    nodes: tuple[Server, Server], samples_dir: Path
) -> None:
    a, b = nodes
    jfk = samples_dir / "jfk.flac"
    with jfk.open("rb") as handle:
        created = httpx.post(
            f"{a.url}/api/v1/batches",
            files=[("files", (jfk.name, handle))],
            data={"target_languages": "es"},
            timeout=60,
        )
    assert created.status_code == 202, created.text
    batch = created.json()
    (dub,) = batch["dubs"]
    seen: list[str] = []
    deadline = time.monotonic() + DELIVERY_BOUND_S
    url = f"{b.url}/api/v1/batches/{batch['id']}/events"
    with httpx.stream("GET", url, timeout=DELIVERY_BOUND_S) as body:
        for event in sse_events(body.iter_lines()):
            if event is None:
                assert time.monotonic() < deadline, f"nothing reached node B; saw {seen}"
                continue
            seen.append(event[2]["status"])
            if len(seen) == 1:  # the queued batch; its stream on B now waits
                cancelled = httpx.post(f"{a.url}/api/v1/dubs/{dub['id']}/cancel", timeout=60)
                assert cancelled.status_code == 200, cancelled.text
    assert seen == ["queued", "failed"], "no dub of the batch succeeded"


def sse_events(lines: Iterator[str] | list[str]) -> Iterator[tuple[int, str, Any] | None]:
    """(id, event, data) per event, data parsed; None for each comment (a ping)."""
    current: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            yield None
        elif not line.strip():
            if "event" in current:
                yield int(current["id"]), current["event"], json.loads(current["data"])
            current = {}
        else:
            key, _, value = line.partition(": ")
            current[key] = value
