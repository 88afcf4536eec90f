"""Request ids in responses, error bodies and log lines; JSON logs; Prometheus metrics."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from dubbing_studio.api.app import create_app
from dubbing_studio.config import Settings
from dubbing_studio.engines.gate import EngineGate
from dubbing_studio.logs import JsonFormatter, RequestIdFilter, request_id

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples: Samples, name: str) -> list[dict[str, str]]:
    return [dict(labels) for sample_name, labels in samples if sample_name == name]


# --- request ids --------------------------------------------------------------------------


def test_every_response_carries_a_request_id_and_a_sane_one_is_adopted(
    client: TestClient,
) -> None:
    generated = client.get("/health").headers["x-request-id"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    assert client.get("/health").headers["x-request-id"] != generated
    adopted = client.get("/health", headers={"X-Request-ID": "trace-42.a:b_c"})
    assert adopted.headers["x-request-id"] == "trace-42.a:b_c"
    for insane in ("x" * 129, "has space", "semi;colon", "ünïcode".encode(), ""):
        replaced = client.get("/health", headers={"X-Request-ID": insane})
        assert replaced.headers["x-request-id"] != insane
        assert len(replaced.headers["x-request-id"]) == 32


def test_error_bodies_carry_the_request_id(client: TestClient) -> None:
    missing = client.get("/api/v1/dubs/nope", headers={"X-Request-ID": "find-me-1"})
    assert missing.status_code == 404
    assert missing.json()["request_id"] == "find-me-1"
    assert missing.headers["x-request-id"] == "find-me-1"
    assert {"detail", "error_code"} <= missing.json().keys()

    invalid = client.post("/api/v1/audio/translate", json={"text": ""})
    assert invalid.status_code == 422
    assert invalid.json()["request_id"] == invalid.headers["x-request-id"]
    assert invalid.json()["errors"]

    openai_style = client.post("/v1/audio/speech", json={"input": ""})
    assert openai_style.status_code == 422
    assert openai_style.json()["request_id"] == openai_style.headers["x-request-id"]
    assert openai_style.json()["error"]["code"] == "validation_error"


@pytest.fixture
def capture_logs() -> Iterator[io.StringIO]:
    """The studio's log lines as the server writes them in JSON (request id filter on)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("dubbing_studio")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(previous)


def own_settings(root: Path, **changes: object) -> Settings:
    """Settings for an app of a test's own (its lifespan closes its studio's gate, so it
    must not share the session's studio)."""
    return Settings(
        data_dir=root / "data",
        temp_dir=root / "tmp",
        allowed_hosts=["testserver"],  # TestClient's host name
        _env_file=None,  # type: ignore[call-arg]
        **changes,  # type: ignore[arg-type]
    )


def test_an_unexpected_error_is_logged_and_answered_with_the_request_id(
    tmp_path: Path, capture_logs: io.StringIO
) -> None:
    app = create_app(own_settings(tmp_path))

    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/broken", headers={"X-Request-ID": "bug-report-7"})
        assert response.status_code == 500
        assert response.json()["request_id"] == "bug-report-7"
        assert response.headers["x-request-id"] == "bug-report-7"
        counted = scrape(client)
    lines = [json.loads(line) for line in capture_logs.getvalue().splitlines()]
    logged = [line for line in lines if line["request_id"] == "bug-report-7"]
    assert logged and logged[0]["level"] == "ERROR"
    assert "RuntimeError: a bug" in logged[0]["exception"]
    assert logged[0]["logger"] == "dubbing_studio.api.errors"
    labels = {"method": "GET", "route": "/broken", "status": "500"}
    assert value(counted, "dubbing_studio_http_requests_total", **labels) == 1


def test_engine_threads_log_with_the_request_id_of_their_caller() -> None:
    gate = EngineGate(niceness=0)
    seen: list[tuple[str, float]] = []
    gate.add_timer(lambda engine, seconds: seen.append((engine, seconds)))

    async def call() -> tuple[str | None, str | None]:
        request_id.set("from-the-request")
        return await gate.run("apertium", request_id.get), await gate.compute(request_id.get)

    try:
        assert asyncio.run(call()) == ("from-the-request", "from-the-request")
    finally:
        gate.close()
    assert [engine for engine, _ in seen] == ["apertium"]  # engine calls only, not compute
    assert seen[0][1] >= 0


def test_json_formatter_writes_one_object_per_record() -> None:
    formatter = JsonFormatter()
    try:
        raise ValueError("bad value")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.WARNING, __file__, 1, "line %s\nnext", ("one",), sys.exc_info()
        )
    entry = json.loads(formatter.format(record))
    assert entry["message"] == "line one\nnext"
    assert entry["level"] == "WARNING" and entry["logger"] == "x"
    assert entry["request_id"] is None
    assert "ValueError: bad value" in entry["exception"]
    assert entry["time"].endswith("+00:00")
    assert "\n" not in formatter.format(record)


@pytest.mark.slow
def test_serve_writes_json_logs_with_the_request_id(tmp_path: Path) -> None:
    """``DUBBING_STUDIO_LOG_FORMAT=json dubbing-studio serve``: every line on stderr is a JSON
    object, uvicorn's access lines included, and a request's lines carry its id."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_path = tmp_path / "server.log"
    env = {
        **os.environ,
        "DUBBING_STUDIO_DATA_DIR": str(tmp_path / "data"),
        "DUBBING_STUDIO_TEMP_DIR": str(tmp_path / "tmp"),
        "DUBBING_STUDIO_LOG_FORMAT": "json",
        "DUBBING_STUDIO_LOG_LEVEL": "info",
    }
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "dubbing_studio", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    httpx.get(f"{url}/health", timeout=1)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.2)
            missing = httpx.get(f"{url}/api/v1/dubs/nope", headers={"X-Request-ID": "json-1"})
            assert missing.json()["request_id"] == "json-1"
        finally:
            process.terminate()
            process.wait(timeout=30)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert lines, "the server wrote no log lines"
    for line in lines:
        assert {"time", "level", "logger", "message", "request_id"} <= line.keys(), line
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert any(
        line["request_id"] == "json-1" and "/api/v1/dubs/nope" in line["message"] for line in access
    ), access
    assert any(line["logger"] == "uvicorn.error" for line in lines)


# --- metrics ------------------------------------------------------------------------------


def test_requests_are_counted_by_route_template_method_and_status(client: TestClient) -> None:
    before = scrape(client)
    for dub_id in ("first-unknown", "second-unknown"):
        assert client.get(f"/api/v1/dubs/{dub_id}").status_code == 404
    assert client.get("/no/such/path").status_code == 404
    assert client.delete("/health").status_code == 405
    after = scrape(client)
    requests = "dubbing_studio_http_requests_total"
    for labels, count in (
        ({"method": "GET", "route": "/api/v1/dubs/{dub_id}", "status": "404"}, 2),
        ({"method": "GET", "route": "unmatched", "status": "404"}, 1),
        ({"method": "DELETE", "route": "/health", "status": "405"}, 1),
    ):
        assert value(after, requests, **labels) - value(before, requests, **labels) == count
    routes = {labels["route"] for labels in series(after, requests)}
    assert not any("unknown" in route or "/no/such" in route for route in routes), routes
    histogram = "dubbing_studio_http_request_duration_seconds_count"
    labels = {"method": "GET", "route": "/api/v1/dubs/{dub_id}", "status": "404"}
    assert value(after, histogram, **labels) - value(before, histogram, **labels) == 2
    assert value(after, "process_resident_memory_bytes") > 0


def test_jobs_by_state_and_engine_time_come_from_the_running_studio(client: TestClient) -> None:
    before = scrape(client)
    states = {labels["state"] for labels in series(before, "dubbing_studio_jobs")}
    assert states == {"queued", "running", "succeeded", "failed", "cancelled"}
    response = client.post(
        "/api/v1/audio/translate",
        json={"text": "The house is big.", "source_language": "en", "target_language": "es"},
    )
    assert response.status_code == 200, response.text
    after = scrape(client)
    count = "dubbing_studio_engine_inference_seconds_count"
    total = "dubbing_studio_engine_inference_seconds_sum"
    assert value(after, count, engine="apertium") - value(before, count, engine="apertium") == 1
    assert value(after, total, engine="apertium") > value(before, total, engine="apertium")


def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    with TestClient(create_app(own_settings(tmp_path / "first"))) as first:
        first.get("/health")
        first.get("/health")
        with TestClient(create_app(own_settings(tmp_path / "second"))) as second:
            second.get("/health")
            health = {"method": "GET", "route": "/health", "status": "200"}
            assert value(scrape(first), "dubbing_studio_http_requests_total", **health) == 2
            assert value(scrape(second), "dubbing_studio_http_requests_total", **health) == 1


def test_metrics_need_a_key_when_keys_are_configured(tmp_path: Path) -> None:
    settings = own_settings(tmp_path, api_keys=[SecretStr("metrics-key")])
    with TestClient(create_app(settings)) as locked:
        refused = locked.get("/metrics")
        assert refused.status_code == 401
        assert refused.json()["request_id"] == refused.headers["x-request-id"]
        samples = scrape(locked, Authorization="Bearer metrics-key")
    unauthorized = {"method": "GET", "route": "/metrics", "status": "401"}
    assert value(samples, "dubbing_studio_http_requests_total", **unauthorized) == 1


@pytest.mark.slow
def test_a_dub_reports_every_stage_and_its_engines(client: TestClient, samples_dir: Path) -> None:
    before = scrape(client)
    with (samples_dir / "jfk.flac").open("rb") as handle:
        response = client.post(
            "/api/v1/dubs",
            files={"file": ("jfk.flac", handle, "audio/flac")},
            data={"target_language": "es", "options": json.dumps({"audio_formats": ["wav"]})},
        )
    assert response.status_code == 202, response.text
    dub_id = response.json()["id"]
    try:
        deadline = time.monotonic() + 600
        while (status := client.get(f"/api/v1/dubs/{dub_id}").json()["status"]) != "succeeded":
            assert status in ("queued", "running"), status
            assert time.monotonic() < deadline
            time.sleep(0.5)
        after = scrape(client)
    finally:
        client.delete(f"/api/v1/dubs/{dub_id}")
    stages = "dubbing_studio_stage_duration_seconds_count"
    for stage in ("ingest", "transcribe", "translate", "synthesize", "mix", "export"):
        assert value(after, stages, stage=stage) - value(before, stages, stage=stage) == 1, stage
    engines = "dubbing_studio_engine_inference_seconds_count"
    for engine in ("whisper", "apertium"):
        assert value(after, engines, engine=engine) > value(before, engines, engine=engine)
    assert value(after, "dubbing_studio_jobs", state="succeeded") >= 1
    created = {"method": "POST", "route": "/api/v1/dubs", "status": "202"}
    assert value(after, "dubbing_studio_http_requests_total", **created) >= 1
