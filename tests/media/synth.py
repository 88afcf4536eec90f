"""Test media made on the fly with PyAV directly (not with the code under test)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.stream import VideoStream

from dubbing_studio.domain.speech import FloatAudio


def tone(seconds: float, rate: int, freq: float = 440.0, channels: int = 1) -> FloatAudio:
    """A sine at ``freq`` Hz, ``(frames,)`` for mono or ``(channels, frames)``, each channel
    an octave above the previous so channels can be told apart."""
    t = np.arange(round(seconds * rate)) / rate
    planes = np.stack([0.3 * np.sin(2 * np.pi * freq * 2**c * t) for c in range(channels)])
    planes = planes.astype(np.float32)
    return planes[0] if channels == 1 else planes


def dominant_frequency(samples: FloatAudio, rate: int) -> float:
    """The strongest frequency in Hz, to check a signal survived a codec or a stretch."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


def write_with_pyav(
    path: Path, *, muxer: str, codec: str, rate: int, seconds: float, layout: str = "mono"
) -> Path:
    """A tone in a container/codec pair the studio reads but does not write."""
    with av.open(str(path), "w", format=muxer) as out:
        _mux_tone(out, _add_audio(out, codec, rate, layout), seconds, rate, layout)
    return path


def make_video(
    path: Path,
    *,
    muxer: str,
    video_codec: str,
    audio_codec: str | None,
    seconds: float = 1.0,
    fps: int = 10,
    audio_rate: int = 48000,
) -> Path:
    """A small changing test picture, with a 440 Hz tone when ``audio_codec`` is given."""
    with av.open(str(path), "w", format=muxer) as out:
        video = cast(VideoStream, out.add_stream(video_codec, rate=fps))
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = _add_audio(out, audio_codec, audio_rate, "mono") if audio_codec else None
        for i in range(round(seconds * fps)):
            image = np.full((48, 64, 3), (i * 20) % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None:
            _mux_tone(out, audio, seconds, audio_rate, "mono")
    return path


def live_webm(path: Path, seconds: float) -> Path:
    """Opus in WebM written to an unseekable pipe, as live recorders do: the header then
    carries no duration."""

    class Pipe:
        def __init__(self) -> None:
            self.data = bytearray()

        def write(self, chunk: bytes) -> int:
            self.data += chunk
            return len(chunk)

    pipe = Pipe()
    with av.open(pipe, "w", format="webm") as out:
        _mux_tone(out, _add_audio(out, "libopus", 48000, "mono"), seconds, 48000, "mono")
    path.write_bytes(pipe.data)
    return path


def _add_audio(out: OutputContainer, codec: str, rate: int, layout: str) -> AudioStream:
    return cast(AudioStream, out.add_stream(codec, rate=rate, layout=layout))


def _mux_tone(
    out: OutputContainer, stream: AudioStream, seconds: float, rate: int, layout: str
) -> None:
    channels = av.AudioLayout(layout).nb_channels
    planes = np.atleast_2d(tone(seconds, rate, channels=channels))
    frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout=layout)
    frame.sample_rate = rate
    frame.pts = 0
    frame.time_base = Fraction(1, rate)
    out.mux(stream.encode(frame))
    out.mux(stream.encode(None))
