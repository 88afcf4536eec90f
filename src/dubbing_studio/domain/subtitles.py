"""SRT and WebVTT text from timed lines: pure formatting, no I/O."""

from __future__ import annotations

from collections.abc import Iterable

from dubbing_studio.domain.speech import TimedText


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cues(lines: Iterable[TimedText], separator: str) -> list[str]:
    return [
        f"{_timestamp(line.start, separator)} --> {_timestamp(line.end, separator)}\n"
        f"{line.text.strip()}\n"
        for line in lines
        if line.text.strip()
    ]


def to_srt(lines: Iterable[TimedText]) -> str:
    return "\n".join(f"{i}\n{cue}" for i, cue in enumerate(_cues(lines, ","), start=1))


def to_vtt(lines: Iterable[TimedText]) -> str:
    return "WEBVTT\n\n" + "\n".join(_cues(lines, "."))
