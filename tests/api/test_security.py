"""CORS from settings, and optional API keys compared in constant time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from dubbing_studio.api.app import create_app
from dubbing_studio.config import Settings


def test_cors_allows_the_seed_clients_by_default(client: TestClient) -> None:
    for origin in ("http://localhost:3000", "http://localhost:8501"):
        response = client.options(
            "/api/v1/audio/translate",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == origin
    other = client.options(
        "/api/v1/audio/translate",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in other.headers


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        temp_dir=tmp_path / "tmp",
        api_keys=[SecretStr("first-key"), SecretStr("second-key")],
        cors_origins=["https://studio.example"],
        allowed_hosts=["testserver"],  # TestClient's host name
        _env_file=None,  # type: ignore[call-arg]
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize("path", ["/api/v1/engines", "/v1/models", "/api/v1/dubs"])
def test_api_keys_are_required_when_configured(locked: TestClient, path: str) -> None:
    refused = locked.get(path)
    assert refused.status_code == 401
    assert refused.json()["error_code"] == "unauthorized"
    assert locked.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert locked.get(path, headers={"Authorization": "Bearer second-key"}).status_code == 200
    assert locked.get(path, headers={"X-API-Key": "first-key"}).status_code == 200


def test_health_stays_open_and_cors_follows_settings(locked: TestClient) -> None:
    assert locked.get("/health").status_code == 200
    response = locked.options(
        "/api/v1/engines",
        headers={"Origin": "https://studio.example", "Access-Control-Request-Method": "GET"},
    )
    assert response.headers["access-control-allow-origin"] == "https://studio.example"
