"""Real studio server processes on loopback ports, each with its own data folder."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from dubbing_studio import media


class ChildProcess:
    """A studio process a test may crash (``kill``) or stop gracefully (``stop``)."""

    process: subprocess.Popen[bytes] | None
    stop_grace_s = 20.0  # how long a graceful stop may take before it is killed

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no cleanup — a crash."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=self.stop_grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Server(ChildProcess):
    """``python -m dubbing_studio serve`` in a child process that tests may kill."""

    data_dir: Path
    temp_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    # Environment besides the test's own: a value of None removes the variable.
    env: dict[str, str | None] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {
            **os.environ,
            "DUBBING_STUDIO_DATA_DIR": str(self.data_dir),
            "DUBBING_STUDIO_TEMP_DIR": str(self.temp_dir),
            "DUBBING_STUDIO_LOG_LEVEL": "warning",
            **self.env,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dubbing_studio", "serve", "--port", str(self.port)],
            env={name: value for name, value in env.items() if value is not None},
            cwd=self.data_dir.parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")


@pytest.fixture
def make_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[type[Server]]:
    servers: list[Server] = []

    class Tracked(Server):
        def __init__(self, name: str) -> None:
            root = tmp_path_factory.mktemp(name)
            super().__init__(data_dir=root / "data", temp_dir=root / "tmp")
            servers.append(self)

    yield Tracked  # type: ignore[misc]
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def minute_of_speech(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path) -> Path:
    """≥ 60 s of real speech: JFK and each speaker of the stereo sample, repeated."""
    rate = 16_000
    jfk, _ = media.decode_audio(samples_dir / "jfk.flac", sample_rate=rate)
    stereo = samples_dir / "stereo_diarization.wav"
    left, _ = media.decode_audio(stereo, sample_rate=rate, channel=0)
    right, _ = media.decode_audio(stereo, sample_rate=rate, channel=1)
    path = tmp_path_factory.mktemp("reel") / "minute.flac"
    return media.speech_reel(path, [jfk, left, right], rate, min_seconds=60)
