"""Which stereo inputs hold speakers panned to their own channels: real speech, moved about."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dubbing_studio import media
from dubbing_studio.domain.speech import RECOGNITION_RATE
from dubbing_studio.pipeline.ingest import panned_speakers


@pytest.fixture(scope="module")
def voice(samples_dir: Path) -> np.ndarray:
    samples, _ = media.decode_audio(
        samples_dir / "jfk.flac", sample_rate=RECOGNITION_RATE, channels="mono"
    )
    return samples


def _later(samples: np.ndarray, seconds: float) -> np.ndarray:
    shift = round(seconds * RECOGNITION_RATE)
    return np.concatenate([np.zeros(shift, np.float32), samples[:-shift]])


def test_two_speakers_one_per_channel_are_panned(samples_dir: Path) -> None:
    stereo, _ = media.decode_audio(
        samples_dir / "stereo_diarization.wav", sample_rate=RECOGNITION_RATE, channels="stereo"
    )
    assert panned_speakers(stereo, RECOGNITION_RATE)


def test_different_speech_in_each_channel_is_panned(voice: np.ndarray) -> None:
    half = len(voice) // 2
    assert panned_speakers(np.stack([voice[:half], voice[half : 2 * half]]), RECOGNITION_RATE)


@pytest.mark.parametrize("delay_s", [0.0005, 0.002, 0.015])
def test_one_voice_heard_later_in_one_channel_is_not_panned(
    voice: np.ndarray, delay_s: float
) -> None:
    stereo = np.stack([voice, 0.8 * _later(voice, delay_s)])
    assert np.corrcoef(stereo)[0, 1] < 0.5, "in step, the channels look unrelated"
    assert not panned_speakers(stereo, RECOGNITION_RATE)


def test_one_voice_with_one_channel_wired_backwards_is_not_panned(voice: np.ndarray) -> None:
    assert not panned_speakers(np.stack([voice, -voice]), RECOGNITION_RATE)


def test_a_silent_channel_is_not_a_speaker(voice: np.ndarray) -> None:
    assert not panned_speakers(np.stack([voice, np.zeros_like(voice)]), RECOGNITION_RATE)
