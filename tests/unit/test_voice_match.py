"""Pitch tracking, gender from pitch, pitch shifting and casting by gender and pitch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dubbing_studio.bootstrap import build_studio
from dubbing_studio.config import Settings
from dubbing_studio.domain.dub import DubPlan
from dubbing_studio.media.pitch import pitch_shift, semitones, shift_voice, track_f0
from dubbing_studio.pipeline.casting import cast_voices, pitch_pool
from dubbing_studio.pipeline.voice_match import SpeakerPitch, pitch_shift_toward

RATE = 16_000


def voiced(f0: float, seconds: float = 1.0) -> np.ndarray:
    """A buzzy periodic sound with harmonics, like a sustained vowel."""
    t = np.arange(int(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
    return (0.2 * wave).astype(np.float32)


@pytest.mark.parametrize("f0", [85.0, 140.0, 210.0, 320.0])
def test_track_f0_finds_the_fundamental(f0: float) -> None:
    tracked = track_f0(voiced(f0), RATE)
    assert len(tracked) > 80
    assert abs(np.median(tracked) - f0) / f0 < 0.02


def test_silence_and_noise_are_not_voiced() -> None:
    assert len(track_f0(np.zeros(RATE, dtype=np.float32), RATE)) == 0
    noise = np.random.default_rng(1).normal(0, 0.1, RATE).astype(np.float32)
    assert len(track_f0(noise, RATE)) < 10


def test_pitch_shift_moves_the_median_and_keeps_the_length() -> None:
    sound = voiced(150.0)
    for shift in (-4.0, 3.0):
        shifted = pitch_shift(sound, RATE, shift)
        assert len(shifted) == len(sound)
        moved = semitones(150.0, float(np.median(track_f0(shifted, RATE))))
        assert abs(moved - shift) < 0.3, (shift, moved)


def vowel(f0: float, formant_hz: float = 800.0, seconds: float = 1.5) -> np.ndarray:
    """Glottal pulses at ``f0`` through one resonance (a formant) at ``formant_hz``."""
    pulses = np.zeros(int(seconds * RATE))
    pulses[:: int(RATE / f0)] = 1.0
    t = np.arange(int(0.03 * RATE)) / RATE
    ring = np.exp(-np.pi * 120 * t) * np.sin(2 * np.pi * formant_hz * t)
    sound = np.convolve(pulses, ring)[: len(pulses)]
    return (0.5 * sound / np.abs(sound).max()).astype(np.float32)


def _centroid_hz(samples: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(samples)) ** 2
    return float(np.sum(np.fft.rfftfreq(len(samples), 1 / RATE) * power) / np.sum(power))


def test_shift_voice_moves_pitch_and_formants_separately_and_keeps_the_length() -> None:
    sound = vowel(125.0)
    kept = shift_voice(sound, RATE, 7.0)  # the formant where it was
    raised = shift_voice(sound, RATE, 7.0, formants=1.2)
    for shifted in (kept, raised):
        assert len(shifted) == len(sound) and np.abs(shifted).max() <= 1.0
        moved = semitones(125.0, float(np.median(track_f0(shifted, RATE))))
        assert abs(moved - 7.0) < 0.3, moved
    assert abs(_centroid_hz(kept) / _centroid_hz(sound) - 1.0) < 0.05
    assert abs(_centroid_hz(raised) / _centroid_hz(sound) - 1.2) < 0.06
    assert np.array_equal(shift_voice(sound, RATE, 0.0), sound)


def test_gender_and_confidence_from_f0() -> None:
    low = SpeakerPitch.from_f0(np.full(300, 100.0))
    high = SpeakerPitch.from_f0(np.full(300, 230.0))
    near = SpeakerPitch.from_f0(np.full(300, 170.0))
    brief = SpeakerPitch.from_f0(np.full(20, 100.0))
    assert (low.gender, high.gender, near.gender) == ("male", "female", "female")
    assert low.confidence == high.confidence == 1.0
    assert 0.5 <= near.confidence < 0.7 and brief.confidence < low.confidence
    assert SpeakerPitch.from_f0(np.zeros(0)) == SpeakerPitch(None, 0.0, None, 0.0)


def test_shift_toward_the_speaker_is_bounded() -> None:
    assert pitch_shift_toward(200.0, 100.0) == 4.0  # an octave up, capped
    assert pitch_shift_toward(90.0, 100.0) == pytest.approx(-1.82, abs=0.01)
    assert pitch_shift_toward(None, 100.0) == pitch_shift_toward(120.0, None) == 0.0


def test_casting_follows_gender_then_nearest_pitch(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    registry = build_studio(settings).registry
    plan = DubPlan(target_language="es", synthesizer="espeak-ng")
    male = pitch_pool(registry, "es", plan, "male", speakers=2)
    female = pitch_pool(registry, "es", plan, "female")
    assert male and female and all(v.gender == "male" for _, v in male)
    # Measured pitches: the second male voice is the lowest, the last female the highest.
    table = {f"{e}:{v.id}": 110.0 + 10 * i for i, (e, v) in enumerate(male)}
    table[f"{male[1][0]}:{male[1][1].id}"] = 80.0
    table |= {f"{e}:{v.id}": 200.0 + 20 * i for i, (e, v) in enumerate(female)}
    traits = {"S1": ("male", 85.0), "S2": ("female", 400.0), "S3": ("male", 85.0)}
    cast = cast_voices(registry, ["S1", "S2", "S3"], "es", plan, traits, table)
    assert str(cast["S1"]) == f"{male[1][0]}:{male[1][1].id}"  # nearest to 85 Hz
    assert str(cast["S2"]) == f"{female[-1][0]}:{female[-1][1].id}"  # nearest to 400 Hz
    assert str(cast["S3"]) == f"{male[0][0]}:{male[0][1].id}"  # next nearest, still distinct
    assert len({str(v) for v in cast.values()}) == 3


def test_matching_puts_gender_before_engine_speed(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    registry = build_studio(settings).registry
    plan = DubPlan(target_language="en", match_voice=True)
    # Piper (the fast engine) has one English voice, a man's, and voices derived from it: the
    # default casting keeps Joe himself.
    assert str(cast_voices(registry, ["S1"], "en", plan)["S1"]) == "piper:en_US-joe-medium"
    women = {"S1": ("female", 220.0), "S2": ("female", 200.0)}
    matched = cast_voices(registry, ["S1", "S2"], "en", plan, women)
    assert str(matched["S1"]) == "piper:en_US-joe-medium+bright"  # Piper's one woman's voice
    assert matched["S2"].engine == "kokoro" and matched["S2"].voice.startswith("jf_")
    pool = pitch_pool(registry, "en", plan, "female", speakers=2)
    assert pool and all(v.gender == "female" for _, v in pool)
    assert {e for e, _ in pool} == {"piper", "kokoro"}


def test_default_casting_takes_the_fast_engines_voices_first(tmp_path: Path) -> None:
    """Joe and the voices derived from him, genders alternating, before Kokoro (about ten
    times slower per second of speech)."""
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    registry = build_studio(settings).registry
    plan = DubPlan(target_language="en")
    cast = cast_voices(registry, ["S1", "S2", "S3", "S4"], "en", plan)
    assert [str(cast[s]) for s in ("S1", "S2", "S3")] == [
        "piper:en_US-joe-medium",
        "piper:en_US-joe-medium+bright",
        "piper:en_US-joe-medium+light",
    ]
    assert cast["S4"].engine == "kokoro"
    chosen = DubPlan(target_language="en", speaker_voices={"S1": "en_US-joe-medium+light"})
    assert str(cast_voices(registry, ["S1"], "en", chosen)["S1"]) == "piper:en_US-joe-medium+light"
