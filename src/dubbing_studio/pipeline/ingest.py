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
    info = await ctx.compute(
        media.probe_untrusted, source, max_duration_s=ctx.studio.settings.max_duration_s
    )
    digest = await ctx.compute(digest_file, source)
    key = artifact_key("recognition-audio", input=digest, rate=RECOGNITION_RATE)
    await ctx.use((key, "wav"), *((_channel_key(key, i), "wav") for i in range(2)))
    recognition = await ctx.compute(_recognition_audio, ctx, source, key, info)
    ctx.report("ingest", 1, 1, f"{info.duration:.1f} s, {len(recognition)} channel(s)")
    return Ingested(source=source, digest=digest, info=info, recognition=recognition)


def _recognition_audio(
    ctx: DubContext, source: Path, key: str, info: media.MediaInfo
) -> tuple[Path, ...]:
    """Decoded in a child process (the input is an upload). Only a stereo source can hold
    panned speakers: surround is mixed to mono, not split."""
    mono = ctx.store.target(key, "wav")
    channels = [ctx.store.target(_channel_key(key, i), "wav") for i in range(2)]
    if all(p.exists() for p in channels):
        return tuple(channels)
    if mono.exists():
        return (mono,)
    stereo = info.audio is not None and info.audio.channels == 2
    samples, rate = media.decode_untrusted(
        source,
        sample_rate=RECOGNITION_RATE,
        channels="stereo" if stereo else "mono",
        max_duration_s=ctx.studio.settings.max_duration_s,
        work_dir=ctx.studio.settings.temp_dir,
    )
    if stereo and panned_speakers(samples):
        for index, path in enumerate(channels):
            media.write_audio(path, samples[index], rate, "wav")
        return tuple(channels)
    media.write_audio(mono, samples.mean(axis=0) if stereo else samples, rate, "wav")
    return (mono,)


def _channel_key(key: str, channel: int) -> str:
    return f"{key}-ch{channel}"


def panned_speakers(stereo: np.ndarray) -> bool:
    """True when both channels carry sound but not the same sound (e.g. one voice each)."""
    left, right = stereo[0].astype(np.float64), stereo[1].astype(np.float64)
    if min(np.sqrt(np.mean(left**2)), np.sqrt(np.mean(right**2))) < 1e-3:
        return False
    correlation = float(np.corrcoef(left, right)[0, 1])
    return correlation < PANNED_CORRELATION
