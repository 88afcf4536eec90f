"""Stage 1: probe the input, keep the original, and prepare 16 kHz mono audio for recognition
(one file per channel when the speakers are panned to separate channels)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dubbing_studio import media
from dubbing_studio.domain.speech import RECOGNITION_RATE
from dubbing_studio.pipeline.artifacts import artifact_key, digest_file
from dubbing_studio.pipeline.context import DubContext

# Channels that correlate less than this carry different content: speakers panned apart.
PANNED_CORRELATION = 0.5
# How much later one channel may hear what the other does and still carry the same sound:
# microphones a few metres apart, or a mix panned by delay. At no lag at all, the same voice
# 0.5 ms later in one channel correlates at -0.2, and each line would be dubbed twice.
MAX_CHANNEL_DELAY_S = 0.02
_BLOCK = 1 << 15  # samples per block of the cross-correlation (2 s at the recognition rate)
_MAX_BLOCKS = 64


@dataclass(frozen=True, slots=True)
class Ingested:
    source: Path
    digest: str
    info: media.MediaInfo
    recognition: tuple[Path, ...]  # one mono file, or one per panned speaker channel

    @property
    def duration(self) -> float:
        return self.info.duration


async def ingest(ctx: DubContext, source: Path) -> Ingested:
    ctx.report("ingest", 0, 1, f"Reading {source.name}")
    digest = await ctx.compute(digest_file, source)
    # The delay allowed between alike channels names how the channels were judged, so one
    # judged panned by an earlier check is heard again.
    key = artifact_key(
        "recognition-audio",
        input=digest,
        rate=RECOGNITION_RATE,
        alike_within_s=MAX_CHANNEL_DELAY_S,
    )
    await ctx.use((key, "wav"), *((_channel_key(key, i), "wav") for i in range(2)))
    info, recognition = await ctx.compute(_recognition_audio, ctx, source, key)
    ctx.report("ingest", 1, 1, f"{info.duration:.1f} s, {len(recognition)} channel(s)")
    return Ingested(source=source, digest=digest, info=info, recognition=recognition)


def _recognition_audio(
    ctx: DubContext, source: Path, key: str
) -> tuple[media.MediaInfo, tuple[Path, ...]]:
    """The input probed and, unless stored, decoded for recognition, both in one child
    process (the input is an upload). Only a stereo source can hold panned speakers:
    surround is mixed to mono, not split."""
    mono = ctx.store.target(key, "wav")
    channels = [ctx.store.target(_channel_key(key, i), "wav") for i in range(2)]
    limit = ctx.studio.settings.max_duration_s
    stored = tuple(channels) if all(p.exists() for p in channels) else (mono,)
    if stored[0].exists():
        return media.probe_untrusted(
            source, max_duration_s=limit, sandbox=ctx.studio.media_sandbox
        ), stored
    info, samples, rate = media.probe_and_decode_untrusted(
        source,
        sample_rate=RECOGNITION_RATE,
        max_duration_s=limit,
        work_dir=ctx.studio.settings.temp_dir,
        sandbox=ctx.studio.media_sandbox,
    )
    if samples.ndim == 2 and panned_speakers(samples, rate):
        for index, path in enumerate(channels):
            media.write_audio(path, samples[index], rate, "wav")
        return info, tuple(channels)
    media.write_audio(mono, samples.mean(axis=0) if samples.ndim == 2 else samples, rate, "wav")
    return info, (mono,)


def _channel_key(key: str, channel: int) -> str:
    return f"{key}-ch{channel}"


def panned_speakers(stereo: np.ndarray, rate: int) -> bool:
    """True when both channels carry sound but not the same sound (e.g. one voice each); the
    same sound a little later, or with its polarity flipped, is the same. Heard in at most
    ``_MAX_BLOCKS`` blocks spread through the input, so the cost is bounded however long it
    is (0.03-0.05 s for a minute, 0.3 s for an hour)."""
    left, right = _spread_blocks(stereo[0]), _spread_blocks(stereo[1])
    if min(np.sqrt(np.mean(left**2)), np.sqrt(np.mean(right**2))) < 1e-3:
        return False
    max_lag = round(MAX_CHANNEL_DELAY_S * rate)
    return _peak_correlation(left - left.mean(), right - right.mean(), max_lag) < PANNED_CORRELATION


def _peak_correlation(a: np.ndarray, b: np.ndarray, max_lag: int) -> float:
    """The largest normalised cross-correlation (in magnitude) of the rows of ``a`` and ``b``
    within ``max_lag`` samples either way: their cross spectra summed (pairs across a block
    edge are left out, under 1 % of them at the largest lag)."""
    size = 2 * a.shape[1]  # zero padding: each block's lags do not wrap around
    spectrum = (np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size))).sum(0)
    cross = np.fft.irfft(spectrum, size)
    lags = np.concatenate([cross[: max_lag + 1], cross[size - max_lag :]])
    energy = np.sqrt(np.sum(a**2) * np.sum(b**2))
    return float(np.abs(lags).max() / energy) if energy > 0 else 0.0


def _spread_blocks(samples: np.ndarray) -> np.ndarray:
    """Up to ``_MAX_BLOCKS`` rows of ``_BLOCK`` samples, evenly spread through ``samples``
    (a short last one is left out, unless it is the only one), as float64."""
    count = max(1, len(samples) // _BLOCK)
    starts = np.unique(np.linspace(0, count - 1, min(count, _MAX_BLOCKS)).astype(int)) * _BLOCK
    rows = np.zeros((len(starts), _BLOCK))
    for row, start in zip(rows, starts, strict=True):
        block = samples[start : start + _BLOCK]
        row[: len(block)] = block
    return rows
