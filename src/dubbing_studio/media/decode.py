"""Any accepted container and codec to float32 PCM at the rate and channels a caller needs.

Every decoded frame goes through an FFmpeg filter graph that mixes it down to at most two
packed float32 channels at the wanted rate *before* Python sees a sample: PyAV 18 crashes
the process when it reads a planar frame of 8 or more channels (a 7.1 film soundtrack), so
no such frame is ever turned into an array. Output is produced chunk by chunk, so the
duration cap holds while decoding, whatever the header claims.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack
from types import TracebackType
from typing import Literal, TypedDict, Unpack

import av
import numpy as np
from av.audio.frame import AudioFrame
from av.filter import Graph

from dubbing_studio.domain.errors import InvalidInput, UndecodableMedia, UploadTooLarge
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.media.probe import audio_stream, check_duration, clock, header_duration
from dubbing_studio.media.source import open_input

log = logging.getLogger(__name__)

Channels = Literal["mono", "stereo"]
DEFAULT_CHANNELS: Channels = "mono"


class DecodeOptions(TypedDict, total=False):
    """What ``AudioDecoder`` takes besides the path (its signature has the defaults); one
    description for every function that decodes in this process or in a child."""

    sample_rate: int | None
    channels: Channels | None
    channel: int | None
    max_duration_s: float | None
    start_s: float
    end_s: float | None


TRUNCATION_TOLERANCE = 0.05
"""With corrupt packets, decoding more than this fraction short of the header's duration
means the file is truncated (or mostly corrupt) and is refused rather than half-used."""

_CAP_SLACK_S = 1.0  # codec padding may add a few frames beyond the header's duration
_PREROLL_S = 0.5  # decoded and dropped before a window: codecs need a few frames to settle


def decode_audio(
    path: str | os.PathLike[str], **options: Unpack[DecodeOptions]
) -> tuple[FloatAudio, int]:
    """Decode the main audio track to float32 PCM; returns the samples and their rate.

    ``sample_rate=None`` keeps the file's rate. ``channel=i`` returns that channel alone
    (one speaker per channel), overriding ``channels``. ``channels="mono"`` averages all
    channels; ``"stereo"`` gives two (mono duplicated; surround downmixed by FFmpeg, or
    averaged into both when the file does not say which channel is where); ``None`` keeps
    mono and stereo as they are and downmixes surround to stereo. Shape: ``(frames,)`` for
    mono or one channel, else ``(channels, frames)`` (always 2-D for ``None``).

    ``start_s``/``end_s`` decode only that window (seeking to it), e.g. one line's audio.

    Like the ``ffmpeg`` tool, packets that fail to decode are skipped (logged) so one bad
    MP3 frame does not lose a whole file. But when nothing decodes, or corrupt packets leave
    the audio more than ``TRUNCATION_TOLERANCE`` short of the header's duration (a
    truncated FLAC or AAC), ``UndecodableMedia`` is raised rather than half the audio
    returned as if whole. A shortfall without corrupt packets is accepted, because header
    durations of VBR MP3 and ADTS are estimates; so a file cut at a frame boundary, or a WAV
    (whose length FFmpeg takes from the file size), decodes to what is there.
    ``max_duration_s`` is checked on the header and again while decoding, so a lying
    header cannot decode into hours of audio.

    Encoder delay is not trimmed where the container does not record it (raw ADTS AAC,
    streamed MP3): such files decode with up to two codec frames of extra silence.
    """
    with AudioDecoder(path, **options) as decoder:
        chunks = list(decoder.chunks())
        width, rate = decoder.channels, decoder.rate
    frames = np.concatenate(chunks) if chunks else np.zeros((0, width), np.float32)
    return shape_channels(frames, options), rate


def shape_channels(interleaved: FloatAudio, options: DecodeOptions) -> FloatAudio:
    """``(frames, channels)`` samples in the shape ``decode_audio`` promises."""
    if options.get("channel") is not None or options.get("channels", DEFAULT_CHANNELS) == "mono":
        return np.ascontiguousarray(interleaved[:, 0])
    return np.ascontiguousarray(interleaved.T)


class AudioDecoder:
    """The main audio track of one file as ``(frames, channels)`` float32 chunks.

    Opening checks what the header allows (format, rate and channel bounds, duration cap);
    ``rate`` and ``channels`` (1 or 2) describe the chunks before any is decoded.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        sample_rate: int | None = 16000,
        channels: Channels | None = DEFAULT_CHANNELS,
        channel: int | None = None,
        max_duration_s: float | None = None,
        start_s: float = 0.0,
        end_s: float | None = None,
    ) -> None:
        if sample_rate is not None and sample_rate <= 0:
            raise InvalidInput(f"Sample rate must be positive, not {sample_rate}.")
        if start_s < 0 or (end_s is not None and end_s < start_s):
            raise InvalidInput(f"Invalid time window: {start_s} s to {end_s} s.")
        self._max_duration_s = max_duration_s
        self._start_s, self._end_s = start_s, end_s
        self._exit = ExitStack()
        self._container = self._exit.enter_context(open_input(path))
        try:
            self._stream = audio_stream(self._container)
            source = self._stream.codec_context
            if channel is not None and not 0 <= channel < source.channels:
                raise InvalidInput(
                    f"Channel {channel} does not exist; the audio has {source.channels} channel(s)."
                )
            self.expected = header_duration(self._container)
            if self.expected is not None:
                check_duration(self.expected, max_duration_s)
            self.rate = sample_rate or source.sample_rate
            self._pan, self._layout = _mixdown(source.layout, channels, channel)
            self.channels = av.AudioLayout(self._layout).nb_channels
        except BaseException:
            self._exit.close()
            raise

    def __enter__(self) -> AudioDecoder:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._exit.close()

    def chunks(self) -> Iterator[FloatAudio]:
        """Decoded, mixed-down, resampled samples, in order; raises ``UploadTooLarge`` past
        the cap and ``UndecodableMedia`` for files that are corrupt or truncated."""
        begin = round(self._start_s * self.rate)
        end = None if self._end_s is None else round(self._end_s * self.rate)
        seeked = self._seek(self._start_s - _PREROLL_S)
        graph: Graph | None = None
        position: int | None = None  # output sample index where the next chunk starts
        decoded = corrupt = 0
        try:
            for frame, bad in self._frames():
                corrupt += bad
                if frame is None:
                    if graph is None:
                        break
                    converted = _drain(graph, None)
                else:
                    if graph is None:
                        graph = _graph(frame, self._pan, self._layout, self.rate)
                        position = self._origin(frame, seeked)
                    converted = _drain(graph, frame)
                for chunk in converted:
                    assert position is not None
                    start, position = position, position + len(chunk)
                    decoded += len(chunk)
                    self._check_length(position)
                    stop = None if end is None else max(0, end - start)
                    window = chunk[max(0, begin - start) : stop]
                    if len(window):
                        yield window
                if end is not None and position is not None and position >= end:
                    return
        except (ValueError, av.FFmpegError) as e:  # e.g. the layout changed mid-stream
            raise UndecodableMedia(
                "The audio cannot be converted to PCM: its format is unusual."
            ) from e
        if corrupt:
            log.warning("skipped %d corrupt audio packet(s) in %s", corrupt, self._container.name)
        if self._start_s == 0 and self._end_s is None:
            self._check_complete(decoded / self.rate, corrupt)

    def _check_length(self, decoded: int) -> None:
        """The cap, on what has been decoded so far: headers can lie (an MP3's Xing frame
        count), so this, not the header, is what bounds the work."""
        cap = self._max_duration_s
        if cap is not None and decoded / self.rate - _CAP_SLACK_S > cap:
            raise UploadTooLarge(
                f"The media lasts longer than the longest accepted, {clock(cap)} (h:mm:ss)."
            )

    def _check_complete(self, decoded_s: float, corrupt: int) -> None:
        if decoded_s == 0:
            raise UndecodableMedia("No audio could be decoded from the file; it is corrupt.")
        expected = self.expected
        if corrupt and expected and decoded_s < expected * (1 - TRUNCATION_TOLERANCE):
            raise UndecodableMedia(
                f"The file is truncated or corrupt: only {decoded_s:.1f} s of its "
                f"{expected:.1f} s of audio could be decoded."
            )

    def _frames(self) -> Iterator[tuple[AudioFrame | None, int]]:
        """Decoded frames with how many packets before each were corrupt; ``None`` last."""
        packets = self._container.demux(self._stream)
        corrupt = 0
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
            for frame in frames:
                yield frame, corrupt
                corrupt = 0
        yield None, corrupt

    def _seek(self, to_s: float) -> bool:
        """Jump near ``to_s`` (at or before it); False when decoding starts at the top."""
        if to_s <= 0 or self._stream.time_base is None:
            return False
        target = to_s + self._stream_start()
        try:
            self._container.seek(int(target / self._stream.time_base), stream=self._stream)
        except av.FFmpegError:
            return False
        return True

    def _origin(self, first: AudioFrame, seeked: bool) -> int:
        """The output sample index of the first decoded frame."""
        if not seeked:
            return 0
        if first.time is None:
            raise UndecodableMedia(
                "A part of this file cannot be decoded on its own: its audio has no timestamps."
            )
        return max(0, round((first.time - self._stream_start()) * self.rate))

    def _stream_start(self) -> float:
        stream = self._stream
        if stream.start_time is None or stream.time_base is None:
            return 0.0
        return float(stream.start_time * stream.time_base)


def _mixdown(
    source: av.AudioLayout, channels: Channels | None, channel: int | None
) -> tuple[str | None, str]:
    """The FFmpeg ``pan`` expression (None: FFmpeg's own downmix) and the output layout.

    ``pan`` addresses channels by index, so it works on files that do not say which channel
    is where (a plain 8-channel WAV); FFmpeg's standard surround downmix needs to know.
    """
    count = source.nb_channels
    mean = "+".join(f"{1 / count!r}*c{i}" for i in range(count))
    if channel is not None:
        return f"mono|c0=c{channel}", "mono"
    if channels == "mono" or (channels is None and count == 1):
        return f"mono|c0={mean}", "mono"
    if count == 1:
        return "stereo|c0=c0|c1=c0", "stereo"
    if count == 2:
        return "stereo|c0=c0|c1=c1", "stereo"
    if all(c.name != "NONE" for c in source.channels):
        return None, "stereo"
    return f"stereo|c0={mean}|c1={mean}", "stereo"


def _graph(first: AudioFrame, pan: str | None, layout: str, rate: int) -> Graph:
    """abuffer → [float, pan] → packed float32 at ``rate`` in ``layout`` (FFmpeg inserts the
    resampler) → abuffersink, set up from the first decoded frame."""
    graph = Graph()
    nodes = [
        graph.add(
            "abuffer",
            sample_rate=str(first.sample_rate),
            sample_fmt=first.format.name,
            channel_layout=first.layout.name,
            time_base=str(first.time_base or f"1/{first.sample_rate}"),
        )
    ]
    if pan is not None:  # mixed in float: pan works in its input's format (s16 would round)
        nodes.append(graph.add("aformat", sample_fmts="fltp"))
        nodes.append(graph.add("pan", pan))
    nodes.append(
        graph.add("aformat", sample_fmts="flt", sample_rates=str(rate), channel_layouts=layout)
    )
    nodes.append(graph.add("abuffersink"))
    graph.link_nodes(*nodes)
    try:
        graph.configure()
    except av.FFmpegError as e:
        raise UndecodableMedia(
            "The audio cannot be converted to PCM: its channel layout is unusual."
        ) from e
    return graph


def _drain(graph: Graph, frame: AudioFrame | None) -> list[FloatAudio]:
    """Push one frame (None: the end) and take every converted chunk, ``(frames, ch)``."""
    graph.push(frame)
    out: list[FloatAudio] = []
    while True:
        try:
            converted = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return out
        assert isinstance(converted, AudioFrame)
        width = converted.layout.nb_channels  # at most 2: safe to read as an array
        out.append(converted.to_ndarray().reshape(-1, width).astype(np.float32, copy=False))
