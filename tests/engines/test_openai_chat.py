"""The OpenAI chat code paths over real sockets: a llama.cpp server (``llm``), a port that
never answers, a closed port, and no configuration at all.

SmolLM2-135M's translations are nonsense; these tests check the request/response handling
(line counts, JSON mode, token limits, errors), not quality.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from dubbing_studio.config import OpenAISettings, Settings
from dubbing_studio.domain.errors import EngineFailed, EngineUnavailable
from dubbing_studio.engines.openai_compat import (
    OpenAIConnection,
    OpenAITranslator,
    register_openai_engines,
)
from dubbing_studio.engines.openai_compat.client import (
    NOT_CONFIGURED,
    UpstreamFailed,
    UpstreamTimeout,
)
from dubbing_studio.engines.protocols import Capability
from dubbing_studio.engines.registry import EngineRegistry
from tests.llm_server import free_port, llm_server

__all__ = ["llm_server"]  # the session fixture, used by the ``llm`` tests below

LINES = [
    "Good morning, everyone.",
    "Today we will learn how to bake bread.",
    "First, mix the flour with warm water.",
    "Then let the dough rest for an hour.",
]


def settings_for(base_url: str | None, **openai: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        openai_api_key=None,
        openai_base_url=base_url,
        openai=OpenAISettings(**openai),
    )


class Recorder:
    """httpx event hooks keeping every request body and response body as JSON."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []

    def client(self) -> httpx.Client:
        return httpx.Client(event_hooks={"request": [self._request], "response": [self._response]})

    def _request(self, request: httpx.Request) -> None:
        self.sent.append(json.loads(request.content))

    def _response(self, response: httpx.Response) -> None:
        response.read()
        self.received.append(response.json())


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def llm_connection(base_url: str, recorder: Recorder, **openai: Any) -> OpenAIConnection:
    # A 2-core CI machine running other tests beside the model can take minutes per reply;
    # the timeout path has its own test against a server that never answers.
    limits = {"max_output_tokens": 160, "max_retries": 0, "timeout_s": 600.0}
    settings = settings_for(base_url, **{**limits, **openai})
    return OpenAIConnection(settings, http_client=recorder.client())


# --- against llama.cpp ----------------------------------------------------------------


@pytest.mark.llm
@pytest.mark.slow
def test_batch_translation_returns_one_line_per_input(llm_server: str, recorder: Recorder) -> None:
    translator = OpenAITranslator(llm_connection(llm_server, recorder))
    out = translator.translate(LINES, "en", "es")
    assert len(out) == len(LINES) and all(isinstance(line, str) and line for line in out)
    first = recorder.sent[0]
    assert first["response_format"] == {"type": "json_object"}
    assert first["max_tokens"] == 160 and "max_completion_tokens" not in first
    # LINES fit one chunk at this limit: one batch, a retry, or a retry and one per line.
    assert len(recorder.sent) in (1, 2, 2 + len(LINES))


@pytest.mark.llm
@pytest.mark.slow
def test_json_mode_gives_parseable_json(llm_server: str, recorder: Recorder) -> None:
    connection = llm_connection(llm_server, recorder, max_output_tokens=1024)
    reply = connection.chat("Reply in JSON.", 'Fill in {"greeting": "..."}', json_mode=True)
    assert isinstance(json.loads(reply), dict | list)


@pytest.mark.llm
@pytest.mark.slow
def test_output_limit_reaches_the_server(llm_server: str, recorder: Recorder) -> None:
    connection = llm_connection(llm_server, recorder, max_output_tokens=8)
    connection.chat("You are helpful.", "Count from 1 to 100, one number per line.")
    (response,) = recorder.received
    assert response["usage"]["completion_tokens"] <= 8
    assert response["choices"][0]["finish_reason"] == "length"


@pytest.mark.llm
@pytest.mark.slow
def test_refine_and_voice_direction_return_text(llm_server: str, recorder: Recorder) -> None:
    translator = OpenAITranslator(llm_connection(llm_server, recorder, max_output_tokens=64))
    assert translator.refine("good morning everyone today we bake bread", "en").strip()
    assert translator.direct_voice("Welcome back! Today is a big day.", "en").strip()
    assert all("max_tokens" in body for body in recorder.sent)


# --- without a working server ---------------------------------------------------------


@contextmanager
def silent_server() -> Iterator[tuple[str, list[socket.socket]]]:
    """A loopback port that accepts connections and never answers; yields the base URL and
    the list of accepted connections (one per attempt)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.05)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1", accepted
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def test_timeout_raises_upstream_timeout_after_max_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("openai._base_client.INITIAL_RETRY_DELAY", 0.05)
    with silent_server() as (base_url, accepted):
        settings = settings_for(base_url, timeout_s=0.3, max_retries=2)
        translator = OpenAITranslator(OpenAIConnection(settings))
        with pytest.raises(UpstreamTimeout, match="timed out") as caught:
            translator.translate(["Hello."], "en", "es")
        assert caught.value.status_code == 504
        assert len(accepted) == 3, "one attempt plus max_retries"


def test_closed_port_raises_upstream_failed() -> None:
    settings = settings_for(f"http://127.0.0.1:{free_port()}/v1", max_retries=0)
    with pytest.raises(UpstreamFailed, match="cannot reach") as caught:
        OpenAITranslator(OpenAIConnection(settings)).translate(["Hello."], "en", "es")
    assert caught.value.status_code == 502 and isinstance(caught.value, EngineFailed)


def test_without_key_or_base_url_the_engines_are_unavailable() -> None:
    registry = EngineRegistry()
    register_openai_engines(registry, settings_for(None))
    infos = registry.describe()
    offered = {Capability.TRANSCRIBE, Capability.TRANSLATE, Capability.SYNTHESIZE}
    assert {info.capability for info in infos} == offered
    assert all(not info.available and NOT_CONFIGURED in (info.reason or "") for info in infos)
    for capability in offered:
        with pytest.raises(EngineUnavailable, match="OPENAI_API_KEY") as caught:
            registry.get(capability, "openai")
        assert caught.value.status_code == 503
