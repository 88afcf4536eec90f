"""Float PCM to the audio formats the studio serves: whole files, atomic writes, or streams.

One muxer core serves all three, so a format behaves the same whether it is returned as
bytes, written to disk or streamed while speech is still being synthesized.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import IO, Any, cast

import av
import numpy as np
import numpy.typing as npt
from av.audio.stream import AudioStream

from dubbing_studio.domain.errors import InvalidInput, StudioError
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.media.files import temp_path

Samples = npt.NDArray[np.floating[Any]]
"""``(frames,)`` mono or ``(channels, frames)`` with one or two channels, nominally in [-1, 1]."""


@dataclass(frozen=True, slots=True)
class _Spec:
    muxer: str
    codec: str
    content_type: str
    streamable: bool = True
    stream_options: tuple[tuple[str, str], ...] = ()
    codec_options: tuple[tuple[str, str], ...] = ()
    bit_rate_per_channel: int | None = None  # None: the encoder's default


_SPECS = {
    # LAME's algorithm quality 5 rather than its default 3: 0.85-0.89 of the encoding time
    # (a minute of 48 kHz stereo: 2.8 -> 2.5 s, on one core at the end of every dub) for the
    # same bitrate and the same waveform SNR and spectral distance to the mix, or closer.
    # 64 kbps a channel, what LAME picks itself at 44.1 and 48 kHz: left to choose, it gives
    # a 16 kHz voice 24 kbps and cuts everything above 6 kHz (the sibilants).
    "mp3": _Spec(
        "mp3",
        "libmp3lame",
        "audio/mpeg",
        codec_options=(("compression_level", "5"),),
        bit_rate_per_channel=64_000,
    ),
    # Ogg pages of 100 ms instead of 1 s, so a stream starts playing sooner.
    "opus": _Spec("ogg", "libopus", "audio/ogg", stream_options=(("page_duration", "100000"),)),
    "aac": _Spec("adts", "aac", "audio/aac"),
    "flac": _Spec("flac", "flac", "audio/flac"),
    # Streamed WAV cannot seek back to fill in sizes: its header says 0xFFFFFFFF bytes, which
    # players and FFmpeg read as "until the end".
    "wav": _Spec("wav", "pcm_s16le", "audio/wav"),
    "pcm": _Spec("s16le", "pcm_s16le", "audio/pcm"),  # raw 16-bit little-endian, interleaved
    # MP4 writes its index after the data, so it needs a seekable output: no streaming.
    "m4a": _Spec("ipod", "aac", "audio/mp4", streamable=False),
}

AUDIO_FORMATS = tuple(_SPECS)
STREAMING_FORMATS = tuple(name for name, spec in _SPECS.items() if spec.streamable)


def content_type(fmt: str) -> str:
    """The HTTP ``Content-Type`` of audio encoded as ``fmt``."""
    return _spec(fmt).content_type


def extension(fmt: str) -> str:
    """The file name extension, without the dot, for ``fmt`` (the format names are chosen
    to be their own extensions)."""
    _spec(fmt)
    return fmt


def encode_audio(samples: Samples, sample_rate: int, fmt: str) -> bytes:
    """A whole audio file in memory; values outside [-1, 1] are clipped."""
    buffer = io.BytesIO()
    _encode_into(buffer, samples, sample_rate, fmt)
    return buffer.getvalue()


def write_audio(path: str | os.PathLike[str], samples: Samples, sample_rate: int, fmt: str) -> Path:
    """Encode to ``path`` through a temporary file in the same folder and an atomic rename,
    so readers never see a half-written file and a failure leaves no debris."""
    target = Path(path)
    with temp_path(target.parent, ".part") as partial:
        with partial.open("wb") as f:
            _encode_into(f, samples, sample_rate, fmt)
        partial.replace(target)
    return target


class StreamingEncoder:
    """Encode audio as it arrives: each ``feed`` returns the bytes ready so far, ``finish``
    the rest. For chunked HTTP responses while speech is still being synthesized.

    Use as a context manager, or call ``close`` when abandoning a stream (client gone).
    """

    def __init__(self, fmt: str, sample_rate: int, *, channels: int = 1) -> None:
        spec = _spec(fmt)
        if not spec.streamable:
            streamable = ", ".join(STREAMING_FORMATS)
            raise InvalidInput(f"{fmt} cannot be streamed; streamable formats: {streamable}.")
        self._sink = _Chunks()
        self._muxer = _Muxer(self._sink, fmt, sample_rate, channels, dict(spec.stream_options))

    def feed(self, samples: Samples) -> bytes:
        self._muxer.write(_planar(samples))
        return self._sink.take()

    def finish(self) -> bytes:
        self._muxer.finish()
        return self._sink.take()

    def close(self) -> None:
        """Release the encoder without finishing the stream."""
        self._muxer.close()

    def __enter__(self) -> StreamingEncoder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _spec(fmt: str) -> _Spec:
    try:
        return _SPECS[fmt]
    except KeyError:
        raise InvalidInput(
            f"Unknown audio format {fmt!r}; choose one of {', '.join(AUDIO_FORMATS)}."
        ) from None


def _encode_into(target: IO[bytes], samples: Samples, sample_rate: int, fmt: str) -> None:
    planes = _planar(samples)
    muxer = _Muxer(target, fmt, sample_rate, len(planes), {})
    try:
        muxer.write(planes)
        muxer.finish()
    finally:
        muxer.close()


class _Muxer:
    """One output container holding one audio stream, fed planar float PCM."""

    def __init__(
        self,
        target: IO[bytes] | _Chunks,
        fmt: str,
        sample_rate: int,
        channels: int,
        options: dict[str, str],
    ) -> None:
        if sample_rate <= 0:
            raise InvalidInput(f"Sample rate must be positive, not {sample_rate}.")
        if channels not in (1, 2):
            raise InvalidInput(f"Only mono and stereo can be encoded, not {channels} channels.")
        spec = _spec(fmt)
        self._fmt = fmt
        self._rate = sample_rate
        self._channels = channels
        self._layout = "mono" if channels == 1 else "stereo"
        self._pts = 0
        self._closed = False
        with self._errors():
            self._container = av.open(target, "w", format=spec.muxer, container_options=options)
            try:
                # PCM without a channel mask must be given a layout, or encoders refuse it.
                stream = self._container.add_stream(
                    spec.codec, rate=_output_rate(spec.codec, sample_rate), layout=self._layout
                )
            except BaseException:
                self.close()
                raise
        self._stream = cast(AudioStream, stream)
        self._stream.codec_context.options = dict(spec.codec_options)
        if spec.bit_rate_per_channel:
            self._stream.bit_rate = spec.bit_rate_per_channel * channels

    def write(self, planes: FloatAudio) -> None:
        """Encode ``(channels, frames)`` float32 samples, as ``_planar`` makes them."""
        if len(planes) != self._channels:
            raise InvalidInput(f"Expected {self._channels} channel(s), got {len(planes)}.")
        if not planes.shape[1]:
            return
        frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout=self._layout)
        frame.sample_rate = self._rate
        frame.time_base = Fraction(1, self._rate)
        frame.pts = self._pts
        self._pts += planes.shape[1]
        with self._errors():
            for packet in self._stream.encode(frame):
                self._container.mux(packet)

    def finish(self) -> None:
        """Flush the encoder and write the trailer."""
        with self._errors():
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._closed = True
            self._container.close()

    def close(self) -> None:
        """Abandon the output (after an error, or a client gone); harmless once finished."""
        if not self._closed:
            self._closed = True
            with suppress(av.FFmpegError):
                self._container.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except av.FFmpegError as e:
            raise StudioError(f"Encoding audio as {self._fmt} failed.") from e


class _Chunks:
    """A write-only file without ``seek``: FFmpeg then writes streamable output and flushes
    after every packet, and ``take`` hands over what has accumulated."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _planar(samples: Samples) -> FloatAudio:
    """``(channels, frames)`` float32, contiguous, finite and clipped to [-1, 1]."""
    array = np.asarray(samples, dtype=np.float32)
    if array.ndim == 1:
        array = array[np.newaxis]
    if array.ndim != 2 or array.shape[0] not in (1, 2):
        raise InvalidInput(
            f"Audio must be (frames,) or (channels, frames) with 1 or 2 channels, "
            f"not shape {array.shape}."
        )
    if not np.isfinite(array).all():
        raise InvalidInput("Audio contains NaN or infinite samples.")
    return np.ascontiguousarray(np.clip(array, -1.0, 1.0))


def _output_rate(codec: str, rate: int) -> int:
    """``rate`` if the encoder takes it, else the nearest higher rate it takes (MP3 tops
    out at 48 kHz, Opus takes 8/12/16/24/48 kHz); PyAV resamples on the way in."""
    rates = av.Codec(codec, "w").audio_rates
    if not rates or rate in rates:
        return rate
    higher = [r for r in rates if r >= rate]
    return min(higher) if higher else max(rates)
