"""Small signal steps the dubbing pipeline needs: fit speech to a time slot, match loudness.

pedalboard and pyloudnorm (which pulls in scipy, about a second) are imported on first use,
so the child process that decodes untrusted media (``media.worker``) starts quickly; the
server imports them before it serves (``bootstrap.ENGINE_LIBRARIES``).
"""

from __future__ import annotations

import math

import av
import numpy as np
from av.audio.resampler import AudioResampler

from dubbing_studio.domain.errors import InvalidInput
from dubbing_studio.domain.speech import FloatAudio

_GATE_BLOCK_S = 0.4  # BS.1770 measures in 400 ms blocks; shorter audio has no reading


def time_stretch(samples: FloatAudio, sample_rate: int, factor: float) -> FloatAudio:
    """Play ``factor`` times faster with the pitch kept (Rubber Band, via pedalboard).

    ``factor`` 1.25 makes speech 20% shorter, 0.8 longer. The result has exactly
    ``round(frames / factor)`` frames and the input's shape otherwise: ``(frames,)`` or
    ``(channels, frames)``.
    """
    if not factor > 0 or not math.isfinite(factor):
        raise InvalidInput(f"Stretch factor must be a positive number, not {factor}.")
    frames = samples.shape[-1]
    if factor == 1.0 or not frames:
        return samples.astype(np.float32)
    length = round(frames / factor)
    import pedalboard

    stretched = pedalboard.time_stretch(
        np.atleast_2d(samples).astype(np.float32), float(sample_rate), stretch_factor=factor
    )
    return _like(_fit(stretched, length), samples)


def resample(samples: FloatAudio, sample_rate: int, target_rate: int) -> FloatAudio:
    """The same audio at ``target_rate`` (FFmpeg's swresample), ``round(frames · target /
    rate)`` frames long, shaped like the input: ``(frames,)`` or ``(channels, frames)``."""
    if sample_rate <= 0 or target_rate <= 0:
        raise InvalidInput(f"Sample rates must be positive, not {sample_rate} → {target_rate}.")
    if sample_rate == target_rate or not samples.shape[-1]:
        return samples.astype(np.float32)
    length = round(samples.shape[-1] * target_rate / sample_rate)
    planes = [_resample_plane(p, sample_rate, target_rate) for p in np.atleast_2d(samples)]
    return _like(np.concatenate([_fit(p, length) for p in planes]), samples)


def _resample_plane(plane: FloatAudio, rate: int, target_rate: int) -> FloatAudio:
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(plane[np.newaxis], dtype=np.float32), format="fltp", layout="mono"
    )
    frame.sample_rate = rate
    frame.pts = 0
    resampler = AudioResampler(format="fltp", layout="mono", rate=target_rate)
    out = resampler.resample(frame) + resampler.resample(None)
    return np.concatenate([f.to_ndarray().astype(np.float32, copy=False) for f in out], axis=1)


def _fit(planes: FloatAudio, length: int) -> FloatAudio:
    """``(channels, n)`` trimmed or zero-padded to exactly ``length`` frames."""
    fitted = np.zeros((planes.shape[0], length), np.float32)
    kept = min(length, planes.shape[1])
    fitted[:, :kept] = planes[:, :kept]
    return fitted


def _like(planes: FloatAudio, samples: FloatAudio) -> FloatAudio:
    """``(channels, n)`` back to one dimension when the input had one."""
    return planes[0] if samples.ndim == 1 else planes


def loudness(samples: FloatAudio, sample_rate: int) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770); ``-inf`` for silence.

    Clips shorter than one 400 ms gating block (a one-word line) are measured as if
    looped, which leaves their loudness unchanged while giving the meter enough to read.
    """
    planes = np.atleast_2d(samples)
    block = math.ceil(_GATE_BLOCK_S * sample_rate)
    if 0 < planes.shape[1] < block:
        planes = np.tile(planes, (1, math.ceil(block / planes.shape[1])))
    if not planes.shape[1]:
        return -math.inf
    import pyloudnorm

    meter = pyloudnorm.Meter(sample_rate)
    return float(meter.integrated_loudness(planes.T.astype(np.float64)))


def normalize_loudness(
    samples: FloatAudio, sample_rate: int, target_lufs: float = -16.0
) -> FloatAudio:
    """Scale to ``target_lufs`` integrated loudness, but never push peaks past full scale:
    such audio comes out a little quieter than the target rather than clipped. Silence is
    returned unchanged."""
    current = loudness(samples, sample_rate)
    if not math.isfinite(current):
        return samples.astype(np.float32)
    gain = 10 ** ((target_lufs - current) / 20)
    peak = float(np.max(np.abs(samples)))
    gain = min(gain, 1.0 / peak)
    return (samples * gain).astype(np.float32)
