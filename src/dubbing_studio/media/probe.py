"""What a media file holds, read from its header: checked before anything is decoded."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import av
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.video.stream import VideoStream

from dubbing_studio.domain.errors import UndecodableMedia, UnsupportedMedia, UploadTooLarge
from dubbing_studio.media.source import open_input

MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 32
"""Audio outside these bounds is refused (415) before anything is decoded. Real recordings
run from 8 kHz telephony to 192 kHz studio masters, and from mono to 16-channel (9.1.6)
film mixes; a 1 Hz or 10 MHz rate, or hundreds of channels, is a forged header that would
only make the decoder allocate (or upsample into) gigabytes."""


@dataclass(frozen=True, slots=True)
class AudioStreamInfo:
    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True, slots=True)
class VideoStreamInfo:
    codec: str
    width: int
    height: int
    fps: float | None


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """The container (FFmpeg demuxer name), its length in seconds and its main streams."""

    format_name: str
    duration: float
    audio: AudioStreamInfo | None
    video: VideoStreamInfo | None

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def has_video(self) -> bool:
        return self.video is not None


def probe(
    path: str | os.PathLike[str],
    *,
    max_duration_s: float | None = None,
    require_audio: bool = True,
) -> MediaInfo:
    """Describe a local media file without decoding it.

    The duration comes from the header; only when the header has none (e.g. live-recorded
    WebM) are packet timestamps read, still without decoding. Raises ``UploadTooLarge`` over
    ``max_duration_s``, ``UnsupportedMedia`` without an audio track (unless
    ``require_audio=False``), and the errors of ``open_input``.
    """
    with open_input(path) as container:
        audio = audio_stream(container) if require_audio else _checked(_best_audio(container))
        video = container.streams.best("video")
        duration = header_duration(container)
        if duration is None:
            duration = _scan_duration(container, max_duration_s)
        check_duration(duration, max_duration_s)
        return MediaInfo(
            format_name=container.format.name,
            duration=duration,
            audio=_audio_info(audio) if audio else None,
            video=_video_info(video) if isinstance(video, VideoStream) else None,
        )


def audio_stream(container: InputContainer) -> AudioStream:
    """The main audio stream (FFmpeg's pick when there are several); refuses silent files
    and audio whose rate or channel count is out of bounds."""
    stream = _checked(_best_audio(container))
    if stream is None:
        raise UnsupportedMedia("The file has no audio track.")
    return stream


def _checked(stream: AudioStream | None) -> AudioStream | None:
    if stream is None:
        return None
    rate, channels = stream.codec_context.sample_rate, stream.codec_context.channels
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise UnsupportedMedia(
            f"The audio's sample rate is {rate:,} Hz; accepted: "
            f"{MIN_SAMPLE_RATE:,} to {MAX_SAMPLE_RATE:,} Hz."
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise UnsupportedMedia(f"The audio has {channels} channels; accepted: 1 to {MAX_CHANNELS}.")
    return stream


def _best_audio(container: InputContainer) -> AudioStream | None:
    stream = container.streams.best("audio")
    return stream if isinstance(stream, AudioStream) else None


def header_duration(container: InputContainer) -> float | None:
    """Seconds, as the container header (or FFmpeg's estimate from it) states; None if unknown."""
    if container.duration and container.duration > 0:
        return container.duration / av.time_base
    lengths = [
        float(s.duration * s.time_base)
        for s in container.streams
        if s.duration and s.duration > 0 and s.time_base
    ]
    return max(lengths, default=None)


def check_duration(duration: float, max_duration_s: float | None) -> None:
    """Refuse media longer than the cap with a message in hours, minutes and seconds."""
    if max_duration_s is not None and duration > max_duration_s:
        raise UploadTooLarge(
            f"The media lasts {clock(duration)}; the longest accepted is "
            f"{clock(max_duration_s)} (h:mm:ss)."
        )


def _scan_duration(container: InputContainer, max_duration_s: float | None) -> float:
    """End time of the last packet, read packet by packet; stops early past the cap."""
    end = 0.0
    try:
        for packet in container.demux():
            if packet.pts is None or packet.time_base is None:
                continue
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            check_duration(end, max_duration_s)
    except av.FFmpegError as e:
        raise UndecodableMedia("The file is corrupt: its packets cannot be read.") from e
    if end <= 0:
        raise UndecodableMedia("The file's duration cannot be determined.")
    return end


def _audio_info(stream: AudioStream) -> AudioStreamInfo:
    ctx = stream.codec_context
    return AudioStreamInfo(
        codec=ctx.codec.canonical_name, sample_rate=ctx.sample_rate, channels=ctx.channels
    )


def _video_info(stream: VideoStream) -> VideoStreamInfo:
    ctx = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate
    return VideoStreamInfo(
        codec=ctx.codec.canonical_name,
        width=ctx.width,
        height=ctx.height,
        fps=float(rate) if rate else None,
    )


def clock(seconds: float) -> str:
    whole = math.ceil(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
