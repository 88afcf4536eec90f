"""Small signal steps the dubbing pipeline needs: fit speech to a time slot, match loudness.

pedalboard is imported on first use, so the child process that decodes untrusted media
(``media.worker``) starts quickly; the server imports it before it serves
(``bootstrap.ENGINE_LIBRARIES``). Loudness is measured here (FFmpeg's biquads for the
K-weighting, NumPy for the gating) rather than with pyloudnorm, whose import of scipy took
about a second of every dub (issue 12); the tests check both meters agree.
"""

from __future__ import annotations

import math

import av
import numpy as np
import numpy.typing as npt
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.filter import Graph

from dubbing_studio.domain.errors import InvalidInput
from dubbing_studio.domain.speech import FloatAudio

_GATE_BLOCK_S = 0.4  # BS.1770 measures in 400 ms blocks; shorter audio has no reading
# swresample takes long audio this many seconds at a time (``_resample_plane``).
_RESAMPLE_CHUNK_S = 10


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
    planes = np.atleast_2d(samples)
    length = round(planes.shape[1] * target_rate / sample_rate)
    resampled = np.zeros((planes.shape[0], length), np.float32)
    for plane, into in zip(planes, resampled, strict=True):
        _resample_plane(plane, sample_rate, target_rate, into)
    return _like(resampled, samples)


def _resample_plane(plane: FloatAudio, rate: int, target_rate: int, into: FloatAudio) -> None:
    """``plane`` resampled into ``into`` (trimmed to its length, zeros after the end), fed to
    swresample ``_RESAMPLE_CHUNK_S`` at a time: the same samples as one frame of everything
    gives, without the copies of the whole input and output that frame would need."""
    resampler = AudioResampler(format="fltp", layout="mono", rate=target_rate)
    chunk = rate * _RESAMPLE_CHUNK_S
    at = 0
    for start in [*range(0, len(plane), chunk), None]:
        frame = None
        if start is not None:
            piece = np.ascontiguousarray(plane[np.newaxis, start : start + chunk], np.float32)
            frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
        for out in resampler.resample(frame):
            found = out.to_ndarray()[0, : len(into) - at]
            into[at : at + len(found)] = found
            at += len(found)


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
    """Integrated loudness in LUFS (ITU-R BS.1770-4, as pyloudnorm measures it); ``-inf`` for
    silence. Up to five channels (L, R, C, Ls, Rs).

    Clips shorter than one 400 ms gating block (a one-word line) are measured as if
    looped, which leaves their loudness unchanged while giving the meter enough to read.
    """
    planes = np.atleast_2d(samples)
    block = math.ceil(_GATE_BLOCK_S * sample_rate)
    if 0 < planes.shape[1] < block:
        planes = np.tile(planes, (1, math.ceil(block / planes.shape[1])))
    if not planes.shape[1]:
        return -math.inf
    if planes.shape[0] > len(_CHANNEL_WEIGHTS):
        raise InvalidInput(f"Loudness is measured on at most {len(_CHANNEL_WEIGHTS)} channels.")
    weights = np.array(_CHANNEL_WEIGHTS[: planes.shape[0]])
    power = np.stack(
        [_block_power(_k_weighted(plane, sample_rate), sample_rate) for plane in planes]
    )
    with np.errstate(divide="ignore"):
        blocks = -0.691 + 10.0 * np.log10(weights @ power)
        gated = blocks >= _ABSOLUTE_GATE_LUFS
        if not gated.any():
            return -math.inf
        relative = -0.691 + 10.0 * np.log10(weights @ power[:, gated].mean(axis=1)) - 10.0
        gated &= blocks > relative
        if not gated.any():
            return -math.inf
        return float(-0.691 + 10.0 * np.log10(weights @ power[:, gated].mean(axis=1)))


_CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)
_ABSOLUTE_GATE_LUFS = -70.0
_GATE_STEP = 0.25  # blocks overlap by 75%
# BS.1770's K-weighting as two RBJ biquads (a shelf for the head, a high-pass), designed for
# the audio's own rate: (kind, gain dB, Q, frequency Hz).
_K_WEIGHTING = (("high_shelf", 4.0, 1 / math.sqrt(2), 1500.0), ("high_pass", 0.0, 0.5, 38.0))
_FILTER_CHUNK = 1 << 16


def _biquad(kind: str, gain_db: float, q: float, frequency: float, rate: int) -> str:
    """FFmpeg ``biquad`` arguments for an Audio EQ Cookbook high shelf or high-pass."""
    a = 10 ** (gain_db / 40.0)
    w0 = 2 * math.pi * frequency / rate
    alpha = math.sin(w0) / (2 * q)
    cos = math.cos(w0)
    if kind == "high_shelf":
        shelf = 2 * math.sqrt(a) * alpha
        b = (
            a * ((a + 1) + (a - 1) * cos + shelf),
            -2 * a * ((a - 1) + (a + 1) * cos),
            a * ((a + 1) + (a - 1) * cos - shelf),
        )
        den = (
            (a + 1) - (a - 1) * cos + shelf,
            2 * ((a - 1) - (a + 1) * cos),
            (a + 1) - (a - 1) * cos - shelf,
        )
    else:
        b = ((1 + cos) / 2, -(1 + cos), (1 + cos) / 2)
        den = (1 + alpha, -2 * cos, 1 - alpha)
    names = [f"a{i}={value!r}" for i, value in enumerate(den)]
    names += [f"b{i}={value!r}" for i, value in enumerate(b)]
    return ":".join(names)


def _k_weighted(plane: FloatAudio, rate: int) -> npt.NDArray[np.float64]:
    """One channel through the K-weighting filters, in double precision (FFmpeg's biquad
    agrees with scipy's ``lfilter`` to about 1e-13)."""
    graph = Graph()
    nodes = [
        graph.add(
            "abuffer",
            sample_rate=str(rate),
            sample_fmt="dblp",
            channel_layout="mono",
            time_base=f"1/{rate}",
        )
    ]
    nodes += [graph.add("biquad", _biquad(*stage, rate)) for stage in _K_WEIGHTING]
    nodes.append(graph.add("abuffersink"))
    graph.link_nodes(*nodes)
    graph.configure()
    out: list[npt.NDArray[np.float64]] = []
    for start in [*range(0, len(plane), _FILTER_CHUNK), None]:
        frame = None
        if start is not None:
            chunk = np.asarray(plane[np.newaxis, start : start + _FILTER_CHUNK], np.float64)
            frame = AudioFrame.from_ndarray(chunk, format="dblp", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
        graph.push(frame)
        while True:
            try:
                filtered = graph.pull()
            except (av.BlockingIOError, av.EOFError):
                break
            assert isinstance(filtered, AudioFrame)
            out.append(filtered.to_ndarray()[0])
    return np.concatenate(out)


def _block_power(plane: npt.NDArray[np.float64], rate: int) -> npt.NDArray[np.float64]:
    """Mean square of each 400 ms gating block, blocks bounded exactly as pyloudnorm bounds
    them."""
    seconds = len(plane) / rate
    count = round((seconds - _GATE_BLOCK_S) / (_GATE_BLOCK_S * _GATE_STEP)) + 1
    index = np.arange(count, dtype=np.float64)
    lower = (_GATE_BLOCK_S * (index * _GATE_STEP) * rate).astype(np.int64)
    upper = np.minimum(
        (_GATE_BLOCK_S * (index * _GATE_STEP + 1) * rate).astype(np.int64), len(plane)
    )
    energy = np.concatenate(([0.0], np.cumsum(np.square(plane))))
    return (energy[upper] - energy[lower]) / (_GATE_BLOCK_S * rate)


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
