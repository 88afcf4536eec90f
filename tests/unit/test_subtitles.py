from __future__ import annotations

from dubbing_studio.domain.speech import TimedText
from dubbing_studio.domain.subtitles import to_srt, to_vtt

LINES = [
    TimedText(0.0, 1.5, " Hello there. "),
    TimedText(1.5, 2.0, "   "),
    TimedText(3661.25, 3662.0049, "Second line"),
]


def test_srt_numbers_cues_and_skips_blank_lines() -> None:
    assert to_srt(LINES) == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n"
        "2\n01:01:01,250 --> 01:01:02,005\nSecond line\n"
    )


def test_vtt_header_and_dot_separator() -> None:
    text = to_vtt(LINES)
    assert text.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n")
    assert "01:01:01.250 --> 01:01:02.005" in text


def test_negative_times_clamp_to_zero() -> None:
    assert to_srt([TimedText(-0.2, 0.5, "x")]).splitlines()[1].startswith("00:00:00,000")
