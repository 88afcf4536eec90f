"""One studio (real engines, models loaded once) behind a TestClient for the API tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dubbing_studio.api.app import create_app
from dubbing_studio.bootstrap import build_studio
from dubbing_studio.config import RateLimitSettings, Settings, UrlFetchSettings
from dubbing_studio.services.studio import Studio
from tests.live import serving


@pytest.fixture(scope="session")
def studio_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("studio")
    return Settings(
        data_dir=root / "data",
        temp_dir=root / "tmp",
        max_upload_mb=8,
        # Many tests share this one client; the rate limit's own tests use their own apps.
        rate_limit=RateLimitSettings(requests_per_minute=0),
        allowed_hosts=["testserver"],  # TestClient's host name
        # URL input tests serve media on loopback, reached by this name (not by address).
        url_fetch=UrlFetchSettings(allowed_hosts=["localhost"]),
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture(scope="session")
def studio(studio_settings: Settings) -> Studio:
    return build_studio(studio_settings)


@pytest.fixture(scope="session")
def client(studio_settings: Settings, studio: Studio) -> Iterator[TestClient]:
    with TestClient(create_app(studio_settings, studio)) as test_client:
        yield test_client


@pytest.fixture
def temp_dir(studio_settings: Settings) -> Path:
    return studio_settings.temp_dir


@pytest.fixture(scope="session")
def live_server(studio_settings: Settings, studio: Studio) -> Iterator[str]:
    """The studio served by uvicorn on a loopback port, for clients that need a real socket."""
    with serving(create_app(studio_settings, studio)) as url:
        yield url
