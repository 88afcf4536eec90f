"""Choosing a speaker's cleanest 6–10 s as the reference for a voice-cloning engine."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dubbing_studio.domain.dub import Segment
from dubbing_studio.pipeline.reference import reference_span

RATE = 16_000


def speech_like(seconds: float, f0: float = 120.0) -> np.ndarray:
    """Voiced syllables (harmonic bursts) with short pauses between them."""
    t = np.arange(int(seconds * RATE)) / RATE
    voice = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    syllables = (np.sin(2 * np.pi * 3.0 * t) > -0.3).astype(float)
    return 0.2 * voice * syllables


def reader(audio: np.ndarray) -> Callable[[float, float], np.ndarray]:
    return lambda start, end: audio[int(start * RATE) : int(end * RATE)].astype(np.float32)


def line(index: int, start: float, end: float, speaker: str = "S1") -> Segment:
    return Segment(f"seg-{index}", start, end, speaker, "words")


def test_the_cleanest_long_enough_run_of_lines_wins() -> None:
    rng = np.random.default_rng(7)
    audio = np.zeros(45 * RATE)
    noisy, clean, short, talked_over = (0, 9), (10, 18.5), (20, 23), (25, 33)
    for start, end in (noisy, clean, short, talked_over):
        audio[int(start * RATE) : int(end * RATE)] = speech_like(end - start)
    audio[: 9 * RATE] += rng.normal(0, 0.08, 9 * RATE)  # a noisy room
    lines = [
        line(1, 0, 4.5),
        line(2, 4.6, 9),  # joins the line before: one 9 s stretch, but noisy
        line(3, 10, 14),
        line(4, 14.3, 18.5),  # joins: a clean 8.5 s stretch
        line(5, 20, 23),  # clean but too short alone
        line(6, 25, 33),  # clean, 8 s, but someone else talks over half of it
        line(7, 28, 32, speaker="S2"),
    ]
    assert reference_span(lines, "S1", reader(audio), RATE) == (10.0, 18.5)


def test_long_runs_are_cut_to_ten_seconds_and_short_speakers_get_none() -> None:
    audio = speech_like(30)
    lines = [line(1, 0, 7), line(2, 7.2, 14), line(3, 14.1, 30), line(4, 2, 5, speaker="S2")]
    start, end = reference_span(lines, "S1", reader(audio), RATE) or (0.0, 0.0)
    assert 6.0 <= end - start <= 10.0 and not (start < 5 and end > 2)  # S2's line is avoided
    assert reference_span(lines, "S2", reader(audio), RATE) is None  # 3 s is not enough
