"""The dubbed audio files: as many channels as the mix really has."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dubbing_studio import media
from dubbing_studio.pipeline.export import export

RATE = 16_000


def _export(mixed: np.ndarray, source: Path, out_dir: Path) -> dict[str, Path]:
    return export(
        out_dir=out_dir,
        stem="dub",
        source=source,
        has_video=False,
        mixed=mixed,
        rate=RATE,
        lines=[],
        audio_formats=("mp3", "wav"),
        video_format=None,
        keep_original_audio=False,
        source_language="en",
        target_language="es",
    )


@pytest.fixture(scope="module")
def jfk_stereo(samples_dir: Path) -> np.ndarray:
    """jfk.flac's two channels, which differ slightly."""
    samples, _ = media.decode_audio(samples_dir / "jfk.flac", sample_rate=RATE, channels="stereo")
    assert not np.array_equal(samples[0], samples[1])
    return samples


def test_a_mix_with_alike_channels_is_delivered_in_mono(
    jfk_stereo: np.ndarray, samples_dir: Path, tmp_path: Path
) -> None:
    dual_mono = np.stack([jfk_stereo[0], jfk_stereo[0]])
    outputs = _export(dual_mono, samples_dir / "jfk.flac", tmp_path)
    for name in ("audio.mp3", "audio.wav"):
        info = media.probe(outputs[name]).audio
        assert info is not None and info.channels == 1, name
    heard, _ = media.decode_audio(outputs["audio.wav"], sample_rate=RATE, channels="mono")
    assert np.abs(heard - jfk_stereo[0]).max() < 1e-3, "the same sound"


def test_a_stereo_mix_stays_stereo(
    jfk_stereo: np.ndarray, samples_dir: Path, tmp_path: Path
) -> None:
    outputs = _export(jfk_stereo, samples_dir / "jfk.flac", tmp_path)
    for name in ("audio.mp3", "audio.wav"):
        info = media.probe(outputs[name]).audio
        assert info is not None and info.channels == 2, name
