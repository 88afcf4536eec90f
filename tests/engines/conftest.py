"""Real local engines shared by the engine tests; each model loads once per session."""

from __future__ import annotations

import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from dubbing_studio.config import WhisperSettings
from dubbing_studio.domain.speech import FloatAudio, Speech
from dubbing_studio.engines.local.whisper import WhisperTranscriber
from dubbing_studio.engines.protocols import TranscribeOptions

WavWriter = Callable[[FloatAudio, int], Path]
BackTranscriber = Callable[[Speech, str], str]


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where engines assemble model files, fresh for the session."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def whisper_base(models_dir: Path) -> WhisperTranscriber:
    return WhisperTranscriber(WhisperSettings(model="base"), idle_ttl_s=3600, cache_dir=models_dir)


@pytest.fixture
def write_wav(tmp_path: Path) -> WavWriter:
    """Writes mono float samples as a 16-bit WAV with the standard library alone."""
    count = 0

    def write(samples: FloatAudio, sample_rate: int) -> Path:
        nonlocal count
        count += 1
        path = tmp_path / f"audio-{count}.wav"
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(sample_rate)
            out.writeframes(pcm.tobytes())
        return path

    return write


@pytest.fixture
def back_transcribe(whisper_base: WhisperTranscriber, write_wav: WavWriter) -> BackTranscriber:
    """What Whisper base hears in synthesized speech, told the language."""

    def transcribe(speech: Speech, language: str) -> str:
        path = write_wav(speech.samples, speech.sample_rate)
        return whisper_base.transcribe(path, TranscribeOptions(language=language)).text

    return transcribe
