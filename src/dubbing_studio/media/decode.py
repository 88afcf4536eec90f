"""Any accepted container and codec to float32 PCM at the rate and channels a caller needs."""

from __future__ import annotations

import logging
import os
from typing import Literal

import av
import numpy as np
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.container import InputContainer

from dubbing_studio.domain.errors import InvalidInput, UndecodableMedia
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.media.probe import audio_stream, check_duration, header_duration
from dubbing_studio.media.source import open_input

log = logging.getLogger(__name__)

Channels = Literal["mono", "stereo"]

TRUNCATION_TOLERANCE = 0.05
"""With corrupt packets, decoding more than this fraction short of the header's duration
means the file is truncated (or mostly corrupt) and is refused rather than half-used."""

_CAP_SLACK_S = 1.0  # codec padding may add a few frames beyond the header's duration


def decode_audio(
    path: str | os.PathLike[str],
    *,
    sample_rate: int | None = 16000,
    channels: Channels | None = "mono",
    channel: int | None = None,
    max_duration_s: float | None = None,
) -> tuple[FloatAudio, int]:
    """Decode the main audio track to float32 PCM; returns the samples and their rate.

    ``sample_rate=None`` keeps the file's rate. ``channel=i`` returns that channel alone
    (one speaker per channel), overriding ``channels``. ``channels="mono"`` averages all
    channels; ``"stereo"`` keeps two (mono duplicated, surround downmixed by FFmpeg);
    ``None`` keeps them all. Shape: ``(frames,)`` for mono or one channel, else
    ``(channels, frames)``.

    Like the ``ffmpeg`` tool, packets that fail to decode are skipped (logged) so one bad
    MP3 frame does not lose a whole file. But when nothing decodes, or corrupt packets leave
    the audio more than ``TRUNCATION_TOLERANCE`` short of the header's duration (a
    truncated FLAC or AAC), ``UndecodableMedia`` is raised rather than half the audio
    returned as if whole. A shortfall without corrupt packets is accepted, because header
    durations of VBR MP3 and ADTS are estimates; so a file cut at a frame boundary, or a WAV
    (whose length FFmpeg takes from the file size), decodes to what is there.
    ``max_duration_s`` is checked on the header and again on the decoded length, so a lying
    header cannot decode into hours of audio.

    Encoder delay is not trimmed where the container does not record it (raw ADTS AAC,
    streamed MP3): such files decode with up to two codec frames of extra silence.
    """
    if sample_rate is not None and sample_rate <= 0:
        raise InvalidInput(f"Sample rate must be positive, not {sample_rate}.")
    with open_input(path) as container:
        stream = audio_stream(container)
        source_channels = stream.codec_context.channels
        if channel is not None and not 0 <= channel < source_channels:
            raise InvalidInput(
                f"Channel {channel} does not exist; the audio has {source_channels} channel(s)."
            )
        expected = header_duration(container)
        if expected is not None:
            check_duration(expected, max_duration_s)
        rate = sample_rate or stream.codec_context.sample_rate
        downmix = channel is None and channels == "stereo" and source_channels > 2
        resampler = AudioResampler(format="fltp", layout="stereo" if downmix else None, rate=rate)
        planes, corrupt = _decode(container, stream, resampler, rate, max_duration_s)
    decoded = planes.shape[1] / rate
    if corrupt and expected and decoded < expected * (1 - TRUNCATION_TOLERANCE):
        raise UndecodableMedia(
            f"The file is truncated or corrupt: only {decoded:.1f} s of its "
            f"{expected:.1f} s of audio could be decoded."
        )
    return _arrange(planes, channels, channel), rate


def _decode(
    container: InputContainer,
    stream: AudioStream,
    resampler: AudioResampler,
    rate: int,
    max_duration_s: float | None,
) -> tuple[FloatAudio, int]:
    """Planar ``(channels, frames)`` samples and how many packets were corrupt."""
    chunks: list[FloatAudio] = []
    total = corrupt = 0

    def take(frames: list[av.AudioFrame]) -> None:
        nonlocal total
        for frame in frames:
            chunks.append(frame.to_ndarray().astype(np.float32, copy=False))
            total += frame.samples
        if max_duration_s is not None:
            check_duration(total / rate - _CAP_SLACK_S, max_duration_s)

    packets = container.demux(stream)
    try:
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError:  # an unreadable tail: keep what came before
                corrupt += 1
                break
            try:
                frames = packet.decode()
            except av.FFmpegError:
                corrupt += 1
                continue
            take([out for frame in frames for out in resampler.resample(frame)])
        take(resampler.resample(None))
    except ValueError as e:  # PyAV's resampler: e.g. the channel layout changed mid-stream
        raise UndecodableMedia(
            "The audio cannot be converted to PCM: its format is unusual."
        ) from e
    if corrupt:
        log.warning("skipped %d corrupt audio packet(s) in %s", corrupt, container.name)
    if not chunks:
        raise UndecodableMedia("No audio could be decoded from the file; it is corrupt.")
    return np.concatenate(chunks, axis=1), corrupt


def _arrange(planes: FloatAudio, channels: Channels | None, channel: int | None) -> FloatAudio:
    """Pick one channel, average to mono, or make two channels, as asked."""
    if channel is not None:
        return np.ascontiguousarray(planes[channel])
    if channels == "mono":
        return planes.mean(axis=0, dtype=np.float32) if len(planes) > 1 else planes[0]
    if channels == "stereo" and len(planes) == 1:
        return np.repeat(planes, 2, axis=0)
    return planes
