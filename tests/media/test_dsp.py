"""Time stretching keeps pitch and hits the exact length; loudness reads and normalises."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest

from dubbing_studio.domain.errors import InvalidInput
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.media import (
    decode_audio,
    dsp,
    loudness,
    normalize_loudness,
    resample,
    time_stretch,
)
from dubbing_studio.media.decode import Channels
from tests.media.synth import dominant_frequency, tone


@pytest.mark.parametrize("factor", [0.8, 1.0, 1.25, 1.37, 2.0])
def test_stretch_has_exact_length_and_same_pitch(factor: float) -> None:
    source = tone(2.0, 22050)
    out = time_stretch(source, 22050, factor)
    assert out.dtype == np.float32
    assert out.shape == (round(len(source) / factor),)
    assert dominant_frequency(out, 22050) == pytest.approx(440, abs=3)


def test_stretch_keeps_channels() -> None:
    out = time_stretch(tone(1.0, 16000, channels=2), 16000, 1.25)
    assert out.shape == (2, 12800)
    assert dominant_frequency(out[1], 16000) == pytest.approx(880, abs=3)


@pytest.mark.parametrize("factor", [0.0, -1.0, math.inf, math.nan])
def test_stretch_factor_must_be_positive(factor: float) -> None:
    with pytest.raises(InvalidInput):
        time_stretch(tone(0.5, 16000), 16000, factor)


@pytest.mark.parametrize(("rate", "target"), [(22050, 48000), (24000, 16000), (16000, 44100)])
def test_resample_is_aligned_and_exact_in_length(rate: int, target: int) -> None:
    out, expected = resample(tone(1.0, rate), rate, target), tone(1.0, target)
    assert out.shape == expected.shape
    # Same phase (no filter delay) away from the edges, where the filter runs out of input.
    np.testing.assert_allclose(out[100:-100], expected[100:-100], atol=1e-4)


def test_resample_keeps_channels_and_refuses_bad_rates() -> None:
    assert resample(tone(0.5, 22050, channels=2), 22050, 48000).shape == (2, 24000)
    with pytest.raises(InvalidInput):
        resample(tone(0.5, 22050), 0, 48000)


def _resampled_in_one_frame(plane: FloatAudio, rate: int, target: int) -> FloatAudio:
    frame = av.AudioFrame.from_ndarray(plane[np.newaxis].copy(), format="fltp", layout="mono")
    frame.sample_rate, frame.pts = rate, 0
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=target)
    frames = [*resampler.resample(frame), *resampler.resample(None)]
    return np.concatenate([f.to_ndarray()[0] for f in frames])


@pytest.mark.parametrize("target", [16000, 48000])
def test_audio_resamples_piecewise_to_the_same_samples_as_whole(
    jfk: Path, monkeypatch: pytest.MonkeyPatch, target: int
) -> None:
    """Fed 1 s at a time, 11 s of real speech (both channels of a stereo decode) crosses ten
    seams, down and up by ratios that are not whole: the output is what one frame of the
    whole input gives, sample for sample, with nothing lost or doubled at the seams."""
    monkeypatch.setattr(dsp, "_RESAMPLE_CHUNK_S", 1)
    speech, rate = decode_audio(jfk, sample_rate=None, channels="stereo")
    assert rate == 44100 and speech.shape[1] > 10 * rate
    speech[1] *= 0.5  # the planes differ
    pieces = resample(speech, rate, target)
    assert pieces.shape == (2, round(speech.shape[1] * target / rate))
    for plane, resampled in zip(speech, pieces, strict=True):
        whole = _resampled_in_one_frame(plane, rate, target)[: pieces.shape[1]]
        expected = np.zeros(pieces.shape[1], np.float32)  # padded as resample pads
        expected[: len(whole)] = whole
        np.testing.assert_array_equal(resampled, expected)


def test_loudness_of_real_speech(jfk: Path) -> None:
    samples, rate = decode_audio(jfk, sample_rate=None, channels=None)
    assert loudness(samples, rate) == pytest.approx(-12.5, abs=1.0)


@pytest.mark.parametrize(
    ("name", "rate", "channels"),
    [
        ("jfk.flac", 16000, "mono"),
        ("jfk.flac", 48000, "stereo"),
        ("stereo_diarization.wav", 22050, "stereo"),
    ],
)
def test_loudness_agrees_with_pyloudnorm(
    samples_dir: Path, name: str, rate: int, channels: Channels
) -> None:
    """The studio's own meter (no scipy to import) reads what pyloudnorm, the reference
    BS.1770 implementation it replaced, reads."""
    import pyloudnorm

    samples, _ = decode_audio(samples_dir / name, sample_rate=rate, channels=channels)
    expected = pyloudnorm.Meter(rate).integrated_loudness(
        np.atleast_2d(samples).T.astype(np.float64)
    )
    assert loudness(samples, rate) == pytest.approx(expected, abs=1e-6)


def test_loudness_edge_cases() -> None:
    assert loudness(np.zeros(16000, np.float32), 16000) == -math.inf
    assert loudness(np.zeros(0, np.float32), 16000) == -math.inf
    long, short = loudness(tone(2.0, 16000), 16000), loudness(tone(0.15, 16000), 16000)
    assert short == pytest.approx(long, abs=0.5)  # a one-word clip still has a reading


def test_normalize_reaches_the_target() -> None:
    out = normalize_loudness(tone(2.0, 22050) * 0.1, 22050, target_lufs=-16.0)
    assert loudness(out, 22050) == pytest.approx(-16.0, abs=0.2)


def test_normalize_never_clips() -> None:
    out = normalize_loudness(tone(2.0, 22050), 22050, target_lufs=0.0)
    assert np.abs(out).max() == pytest.approx(1.0, abs=1e-6)
    assert loudness(out, 22050) < 0.0


def test_normalize_leaves_silence_alone() -> None:
    silence = np.zeros(22050, np.float32)
    np.testing.assert_array_equal(normalize_loudness(silence, 22050), silence)
