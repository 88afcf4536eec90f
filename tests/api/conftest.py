"""One studio (real engines, models loaded once) behind a TestClient for the API tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dubbing_studio.api.app import create_app
from dubbing_studio.bootstrap import build_studio
from dubbing_studio.config import Settings
from dubbing_studio.services.studio import Studio


@pytest.fixture(scope="session")
def studio_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("studio")
    return Settings(
        data_dir=root / "data",
        temp_dir=root / "tmp",
        max_upload_mb=8,
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
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(studio_settings, studio), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
