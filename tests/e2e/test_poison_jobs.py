"""A dub that takes the server process down is resumed once, then failed: start-up never
loops on it. A graceful restart is no crash."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import Server
from .test_server_process import finished, submit, wait_for

pytestmark = pytest.mark.slow


def dub_of(server: Server, dub_id: str) -> dict[str, Any]:
    return dict(httpx.get(f"{server.url}/api/v1/dubs/{dub_id}", timeout=10).json())


def test_a_dub_that_kills_the_server_twice_is_failed_and_the_server_stays_up(
    make_server: type[Server], minute_of_speech: Path
) -> None:
    server = make_server("poison")
    server.start()
    dub_id = submit(server, minute_of_speech, "es")
    for crash in (1, 2):
        # The attempt is stored as the run starts; kill -9 then is a crash mid-run.
        wait_for(server, dub_id, lambda d, n=crash: d["status"] == "running" and d["attempts"] == n)
        server.kill()
        server.start()
    dub = dub_of(server, dub_id)
    assert dub["status"] == "failed", dub  # decided during start-up, before serving
    assert dub["error"] == {
        "detail": "The dub stopped the server twice while running; it will not be retried.",
        "error_code": "job_crashed",
    }
    assert dub["attempts"] == 2
    with httpx.stream("GET", f"{server.url}/api/v1/dubs/{dub_id}/events", timeout=30) as events:
        body = "".join(events.iter_text())
    assert "event: error" in body and "job_crashed" in body
    time.sleep(2)
    assert server.process is not None and server.process.poll() is None
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
    assert dub_of(server, dub_id)["attempts"] == 2, "it did not run again"

    server.stop()  # and a later start leaves it failed
    server.start()
    assert dub_of(server, dub_id)["status"] == "failed"


def test_a_graceful_restart_mid_dub_is_no_crash(
    make_server: type[Server], samples_dir: Path
) -> None:
    server = make_server("graceful")
    server.start()
    dub_id = submit(server, samples_dir / "jfk.flac", "es")
    for _ in range(2):
        wait_for(server, dub_id, lambda d: d["status"] == "running")
        server.stop()  # SIGTERM: the run is interrupted and resumes at the next start
        assert server.process is not None
        assert server.process.returncode != -signal.SIGKILL, "it did not shut down in time"
        server.start()
    dub = wait_for(server, dub_id, finished)
    assert dub["attempts"] == 1, "two graceful stops counted as crashes"
