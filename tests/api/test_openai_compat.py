"""The official openai SDK against the studio's /v1 endpoints, and the studio's own OpenAI
engines pointed at a studio served on a loopback port."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest
from fastapi.testclient import TestClient
from openai import OpenAI, UnprocessableEntityError

from dubbing_studio.bootstrap import build_registry
from dubbing_studio.config import Settings
from dubbing_studio.engines.protocols import SynthesisOptions, TranscribeOptions
from tests.metrics import word_error_rate

from .test_seed_contract import JFK_REFERENCE


@pytest.fixture
def sdk(client: TestClient) -> OpenAI:
    return OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client)


def test_models_list(sdk: OpenAI) -> None:
    ids = {m.id for m in sdk.models.list()}
    assert {"whisper-1", "tts-1", "piper"} <= ids


@pytest.mark.slow
def test_sdk_transcription_formats(sdk: OpenAI, samples_dir: Path) -> None:
    audio = (samples_dir / "jfk.flac").read_bytes()
    plain = sdk.audio.transcriptions.create(model="whisper-1", file=("jfk.flac", audio))
    assert word_error_rate(JFK_REFERENCE, plain.text) <= 0.10
    verbose = sdk.audio.transcriptions.create(
        model="whisper-1",
        file=("jfk.flac", audio),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert verbose.language == "english"
    assert verbose.words and verbose.segments
    starts = [w.start for w in verbose.words]
    assert starts == sorted(starts) and starts[-1] < verbose.duration
    srt = sdk.audio.transcriptions.create(
        model="whisper-1", file=("jfk.flac", audio), response_format="srt"
    )
    assert "00:00:0" in str(srt) and "-->" in str(srt)
    vtt = sdk.audio.transcriptions.create(
        model="whisper-1", file=("jfk.flac", audio), response_format="vtt"
    )
    assert str(vtt).startswith("WEBVTT")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["mp3", "wav", "opus", "aac", "flac", "pcm"])
def test_sdk_speech_formats(sdk: OpenAI, fmt: str) -> None:
    response = sdk.audio.speech.create(
        model="tts-1", voice="onyx", input="Hello there, how are you?", response_format=fmt
    )
    data = response.read()
    assert len(data) > 1000
    if fmt != "pcm":
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.audio[0]
            frames = sum(f.samples for f in container.decode(stream))
            assert frames / stream.rate > 0.8


def test_sdk_error_shape(sdk: OpenAI) -> None:
    with pytest.raises(UnprocessableEntityError) as caught:
        sdk.audio.speech.create(model="tts-1", voice="onyx", input="   ")
    assert "input" in str(caught.value)


@pytest.mark.slow
def test_openai_engines_against_studio_on_loopback(
    live_server: str, samples_dir: Path, tmp_path: Path
) -> None:
    settings = Settings(
        openai_base_url=f"{live_server}/v1",
        data_dir=tmp_path,
        _env_file=None,  # type: ignore[call-arg]
    )
    registry = build_registry(settings)
    transcriber = registry.transcriber("openai")
    result = transcriber.transcribe(samples_dir / "jfk.flac", TranscribeOptions())
    assert word_error_rate(JFK_REFERENCE, result.text) <= 0.10
    assert result.language == "en"
    assert result.segments and result.segments[0].words
    synthesizer = registry.synthesizer("openai")
    speech = synthesizer.synthesize(
        "Ask what you can do for your country.", SynthesisOptions(voice="onyx")
    )
    assert speech.duration > 1.0
    assert speech.samples.dtype.name == "float32"
