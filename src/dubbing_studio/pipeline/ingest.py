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
    key = artifact_key("recognition-audio", input=digest, rate=RECOGNITION_RATE)
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
    if samples.ndim == 2 and panned_speakers(samples):
        for index, path in enumerate(channels):
            media.write_audio(path, samples[index], rate, "wav")
        return info, tuple(channels)
    media.write_audio(mono, samples.mean(axis=0) if samples.ndim == 2 else samples, rate, "wav")
    return info, (mono,)


def _channel_key(key: str, channel: int) -> str:
    return f"{key}-ch{channel}"


def panned_speakers(stereo: np.ndarray) -> bool:
    """True when both channels carry sound but not the same sound (e.g. one voice each)."""
    left, right = stereo[0].astype(np.float64), stereo[1].astype(np.float64)
    if min(np.sqrt(np.mean(left**2)), np.sqrt(np.mean(right**2))) < 1e-3:
        return False
    correlation = float(np.corrcoef(left, right)[0, 1])
    return correlation < PANNED_CORRELATION
