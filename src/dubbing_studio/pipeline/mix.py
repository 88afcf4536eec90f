"""Stage 6: lay the dubbed lines over the original at their timestamps.

The background is kept by ducking the original under the dubbed voice (with fades), kept at
its own level without the original speech (``separate``: the separator's estimate of it), or
dropped; the result is loudness-normalised (EBU R128) and exactly as long as the input.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dubbing_studio import media
from dubbing_studio.domain.dub import MixPolicy
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.pipeline.speech import FittedLine

PEAK_CEILING = 0.98
MAX_MIX_RATE = 48_000
"""The original is mixed at its own rate up to this one: a 192 kHz master would take four
times the memory of 48 kHz for no audible difference in a dub."""


def mix_rate(source_rate: int | None) -> int:
    """The rate a dub of audio at ``source_rate`` is mixed (and delivered) at."""
    return min(source_rate or MAX_MIX_RATE, MAX_MIX_RATE)


def voice_track(lines: Sequence[FittedLine], length: int, rate: int) -> FloatAudio:
    """All dubbed lines on one mono track at ``rate``, ``length`` samples long."""
    track = np.zeros(length, dtype=np.float32)
    for line in lines:
        clip = media.resample(line.samples, line.sample_rate, rate)
        begin = round(line.start * rate)
        end = min(length, begin + len(clip))
        if end > begin:
            track[begin:end] += clip[: end - begin]
    return track


def duck_envelope(
    voice: FloatAudio, rate: int, speech_spans: Sequence[tuple[float, float]], policy: MixPolicy
) -> FloatAudio:
    """Gain for the original: ``duck_db`` wherever the dub speaks and wherever the original
    speech was (a dub that ends early must not unveil the original voice), full elsewhere,
    with linear fades of ``fade_s``."""
    active = (np.abs(voice) > 1e-4).astype(np.float32)
    for start, end in speech_spans:
        active[max(0, round(start * rate)) : max(0, round(end * rate))] = 1.0
    active = (_moving_average(active, int(0.1 * rate)) > 0).astype(np.float32)  # bridge words
    smooth = np.clip(_moving_average(active, int(policy.fade_s * rate)), 0.0, 1.0)
    floor = 10 ** (policy.duck_db / 20)
    return (1.0 - smooth * (1.0 - floor)).astype(np.float32)


def _moving_average(signal: FloatAudio, width: int) -> FloatAudio:
    """Centred moving average in O(n) (cumulative sums), same length as the input."""
    width = max(1, width)
    padded = np.pad(signal.astype(np.float64), (width // 2, width - 1 - width // 2))
    sums = np.cumsum(np.concatenate([[0.0], padded]))
    return ((sums[width:] - sums[:-width]) / width).astype(np.float32)


def mix(
    original: FloatAudio,
    rate: int,
    lines: Sequence[FittedLine],
    policy: MixPolicy,
    separated: FloatAudio | None = None,
) -> FloatAudio:
    """``original`` is (channels, frames); the result has the same shape. The original is
    ducked under the source lines' spans and the dub; with the ``separate`` policy,
    ``separated`` (the original minus its speech, same shape) lies under the dub instead."""
    length = original.shape[1]
    voice = voice_track(lines, length, rate)
    voice = media.normalize_loudness(voice, rate, policy.target_lufs)
    if policy.background == "replace":
        background = np.zeros_like(original)
    elif policy.background == "separate":
        if separated is None or separated.shape != original.shape:
            raise ValueError("The separate background policy needs the separated background.")
        background = separated
    else:
        spans = [(line.segment.start, line.segment.end) for line in lines]
        background = original * duck_envelope(voice, rate, spans, policy)[np.newaxis, :]
    mixed = background + voice[np.newaxis, :]
    mixed = media.normalize_loudness(mixed, rate, policy.target_lufs)
    peak = float(np.max(np.abs(mixed))) if mixed.size else 0.0
    if peak > PEAK_CEILING:
        mixed *= PEAK_CEILING / peak
    return mixed.astype(np.float32)
