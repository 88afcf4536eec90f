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


# A I–V–vi–IV progression in C (root, third, fifth in Hz), one chord per bar of four beats.
_CHORDS = (
    (261.63, 329.63, 392.00),
    (196.00, 246.94, 293.66),
    (220.00, 261.63, 329.63),
    (174.61, 220.00, 261.63),
)


def music_bed(seconds: float, rate: int, *, beat_s: float = 0.5, seed: int = 7) -> FloatAudio:
    """A synthetic song without voice, mono, at an RMS of 0.3: decaying
    harmonic chords with a bass an octave below, a kick on every beat and a hi-hat between
    beats. Tonal and percussive at once, like the music under speech in real videos."""
    frames = round(seconds * rate)
    t = np.arange(frames) / rate
    bed = np.zeros(frames)
    bar = round(4 * beat_s * rate)
    for index, start in enumerate(range(0, frames, bar)):
        chord = _CHORDS[index % len(_CHORDS)]
        tt = t[start : start + bar] - t[start]
        decay = np.exp(-0.8 * tt)
        for note in chord:
            for harmonic in range(1, 6):
                bed[start : start + bar] += (
                    0.3 / harmonic * decay * np.sin(2 * np.pi * note * harmonic * tt + harmonic)
                )
        bed[start : start + bar] += 0.5 * decay * np.sin(np.pi * chord[0] * tt)
    hit, hat = round(0.15 * rate), round(0.05 * rate)
    noise = np.random.default_rng(seed)
    for beat in range(0, frames, round(beat_s * rate)):
        tt = t[: min(hit, frames - beat)]
        bed[beat : beat + len(tt)] += 1.5 * np.exp(-30 * tt) * np.sin(2 * np.pi * 55 * tt)
        offbeat = beat + round(beat_s * rate / 2)
        tt = t[: max(0, min(hat, frames - offbeat))]
        bed[offbeat : offbeat + len(tt)] += 0.3 * np.exp(-80 * tt) * noise.standard_normal(len(tt))
    return (bed * 0.3 / np.sqrt(np.mean(bed**2))).astype(np.float32)


def over_music(speech: FloatAudio, rate: int, music_db: float) -> tuple[FloatAudio, FloatAudio]:
    """``(mix, music)``: mono ``speech`` over a ``music_bed`` whose level is ``music_db``
    relative to the speech's (RMS over the whole recording)."""
    music = music_bed(len(speech) / rate, rate)
    power = np.mean(speech.astype(np.float64) ** 2) / np.mean(music.astype(np.float64) ** 2)
    music = (music * np.sqrt(power) * 10 ** (music_db / 20)).astype(np.float32)
    return speech + music, music
