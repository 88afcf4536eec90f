"""Voice pitch: YIN fundamental-frequency tracking on voiced frames (numpy only), a pitch
shift that keeps duration (Rubber Band, via pedalboard), and a voice shift that also moves the
formants, which makes one voice sound like another speaker rather than the same one sung higher.

YIN (de Cheveigné & Kawahara, 2002): per frame, the cumulative-mean-normalised difference
function; the first lag under a threshold is the period. Frames that are quiet, or whose best
lag is not clearly periodic, are unvoiced and left out, so medians describe the voice only.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.media.dsp import resample

F0_MIN_HZ = 60.0
F0_MAX_HZ = 450.0
FRAME_S = 0.032
HOP_S = 0.010
YIN_THRESHOLD = 0.2  # medians hold from 0.1 to 0.3 on real speech; 0.2 hears more of it
QUIET_DB = -35.0  # frames this far below the loudest are silence, not voice


def track_f0(samples: FloatAudio, sample_rate: int) -> npt.NDArray[np.float64]:
    """F0 in Hz of each voiced frame (unvoiced frames are left out), in time order."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim > 1:
        x = x.mean(axis=0)
    width = int(FRAME_S * sample_rate)
    max_lag = min(int(sample_rate / F0_MIN_HZ), width)
    min_lag = max(2, int(sample_rate / F0_MAX_HZ))
    hop = max(1, int(HOP_S * sample_rate))
    span = width + max_lag
    if len(x) < span:
        return np.zeros(0)
    starts = np.arange(0, len(x) - span + 1, hop)
    frames = np.lib.stride_tricks.sliding_window_view(x, span)[starts]
    head = frames[:, :width]
    rms = np.sqrt(np.mean(head**2, axis=1))
    loud = rms >= rms.max() * 10 ** (QUIET_DB / 20) if rms.max() > 0 else rms > 0
    frames, head = frames[loud], head[loud]
    if not len(frames):
        return np.zeros(0)
    # d(τ) = Σ x_j² + Σ x_{j+τ}² − 2 Σ x_j x_{j+τ}, j over the first ``width`` samples. The
    # circular correlation of a size ≥ ``span`` wraps no j + τ (j < width, τ ≤ max_lag).
    size = 1 << math.ceil(math.log2(span))
    cross = np.fft.irfft(np.fft.rfft(frames, size) * np.conj(np.fft.rfft(head, size)), size)[
        :, : max_lag + 1
    ]
    energy = np.cumsum(np.pad(frames**2, ((0, 0), (1, 0))), axis=1)
    lags = np.arange(max_lag + 1)
    shifted = energy[:, lags + width] - energy[:, lags]
    diff = energy[:, [width]] + shifted - 2 * cross
    diff[:, 0] = 0.0
    running = np.cumsum(diff[:, 1:], axis=1) / np.arange(1, max_lag + 1)
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] / np.maximum(running, 1e-12)
    f0 = []
    for row in cmnd:
        below = np.nonzero(row[min_lag:] < YIN_THRESHOLD)[0]
        if not len(below):
            continue
        lag = min_lag + int(below[0])
        while lag + 1 <= max_lag and row[lag + 1] < row[lag]:
            lag += 1  # down to the local minimum
        f0.append(sample_rate / _parabolic(row, lag))
    return np.asarray(f0, dtype=np.float64)


def _parabolic(row: npt.NDArray[np.float64], lag: int) -> float:
    """The lag refined between samples by a parabola through the minimum and its neighbours."""
    if lag <= 0 or lag >= len(row) - 1:
        return float(lag)
    left, centre, right = row[lag - 1], row[lag], row[lag + 1]
    denominator = left - 2 * centre + right
    return float(lag) if denominator == 0 else lag + 0.5 * (left - right) / denominator


def median_f0(samples: FloatAudio, sample_rate: int) -> tuple[float | None, int]:
    """The median F0 of the voiced frames (None without any), and how many there were."""
    f0 = track_f0(samples, sample_rate)
    return (float(np.median(f0)) if len(f0) else None), len(f0)


def semitones(from_hz: float, to_hz: float) -> float:
    return 12.0 * math.log2(to_hz / from_hz)


def pitch_shift(samples: FloatAudio, sample_rate: int, shift: float) -> FloatAudio:
    """``samples`` ``shift`` semitones higher (negative: lower), the same length."""
    if abs(shift) < 0.01 or not len(samples):
        return samples.astype(np.float32)
    import pedalboard

    shifted = pedalboard.Pedalboard([pedalboard.PitchShift(semitones=shift)])(
        np.atleast_2d(samples).astype(np.float32), float(sample_rate)
    )
    out = shifted[0] if np.ndim(samples) == 1 else shifted
    length = np.shape(samples)[-1]
    if out.shape[-1] < length:
        out = np.pad(out, [(0, 0)] * (out.ndim - 1) + [(0, length - out.shape[-1])])
    return out[..., :length].astype(np.float32)


def shift_voice(
    samples: FloatAudio, sample_rate: int, shift: float, formants: float = 1.0
) -> FloatAudio:
    """Mono ``samples`` ``shift`` semitones higher with their formants (the vocal tract's
    resonances) ``formants`` times higher, the same length: another speaker's voice. Peaks
    the shift pushes past full scale are scaled back rather than clipped.

    Playing the audio ``formants`` times faster (a resampling) moves pitch and formants up
    together and shortens it; Rubber Band then restores the length and moves the pitch the
    rest of the way with the formants kept where they are.
    """
    if not len(samples) or (abs(shift) < 0.01 and abs(formants - 1.0) < 1e-3):
        return samples.astype(np.float32)
    import pedalboard

    faster = resample(samples, round(sample_rate * formants), sample_rate)
    rest = shift - semitones(1.0, formants)
    restored = pedalboard.time_stretch(
        np.atleast_2d(faster).astype(np.float32),
        float(sample_rate),
        stretch_factor=len(faster) / len(samples),
        pitch_shift_in_semitones=rest,
        preserve_formants=True,
    )[0]
    out = np.zeros(len(samples), dtype=np.float32)
    out[: min(len(out), len(restored))] = restored[: len(out)]
    peak = float(np.max(np.abs(out)))
    return out / peak if peak > 1.0 else out
