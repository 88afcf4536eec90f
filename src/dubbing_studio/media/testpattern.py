"""Inputs made from real speech: a test-pattern video carrying it (the demo's input), and
long reels of short recordings (tests and benchmarks). The repository ships no media."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.media.decode import decode_audio
from dubbing_studio.media.encode import write_audio


def speech_video(
    path: Path, speech: Path, *, fps: int = 10, size: tuple[int, int] = (96, 64)
) -> Path:
    """A moving test pattern (mpeg4) as long as ``speech``, carrying its audio as AAC."""
    planes, rate = decode_audio(speech, sample_rate=None, channels="stereo")
    seconds = planes.shape[1] / rate
    width, height = size
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream("aac", rate=rate, layout="stereo")
        for i in range(int(seconds * fps)):
            image = np.zeros((height, width, 3), np.uint8)
            image[:, (i * 3) % width] = 255
            image[..., 1] = (i * 7) % 256
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        sound = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(planes), format="fltp", layout="stereo"
        )
        sound.sample_rate = rate
        sound.pts = 0
        sound.time_base = Fraction(1, rate)
        out.mux(audio.encode(sound))
        out.mux(audio.encode(None))
    return path


def speech_reel(
    path: Path, recordings: list[FloatAudio], rate: int, *, min_seconds: float, gap_s: float = 1.0
) -> Path:
    """Mono recordings played one after another with ``gap_s`` of silence, repeated until
    the reel lasts at least ``min_seconds``: a long input made from short real speech."""
    gap = np.zeros(round(gap_s * rate), dtype=np.float32)
    parts: list[FloatAudio] = []
    length = 0
    while length < min_seconds * rate:
        for recording in recordings:
            parts += [recording, gap]
            length += len(recording) + len(gap)
    write_audio(path, np.concatenate(parts), rate, "flac")
    return path
