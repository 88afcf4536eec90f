"""Subtitle files as a dub's transcript (recognition skipped) or translation (translation
skipped, the cues' timing kept): shared by the CLI, the API and the page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dubbing_studio.domain.dub import Segment, Transcript
from dubbing_studio.domain.errors import ValidationFailed
from dubbing_studio.domain.speech import TimedText
from dubbing_studio.domain.subtitles import parse_subtitles
from dubbing_studio.services.studio import Studio

UNDETERMINED = "und"  # ISO 639-2: a translation-only import says nothing of the source


@dataclass(frozen=True, slots=True)
class SubtitleImport:
    """Parsed cues of the files given: the source-language ones and/or the translation."""

    transcript: tuple[TimedText, ...] = ()
    translation: tuple[TimedText, ...] = ()

    @classmethod
    def parse(
        cls,
        transcript: tuple[str, str] | None = None,
        translation: tuple[str, str] | None = None,
    ) -> SubtitleImport | None:
        """From ``(name, text)`` pairs; None when neither is given. A bad file is a 422 that
        names its line."""
        if transcript is None and translation is None:
            return None
        return cls(_cues(transcript), _cues(translation))

    def to_transcript(
        self, studio: Studio, source_language: str | None, duration: float
    ) -> Transcript:
        """The dub's lines, all one speaker. The translation's cues (when given) set the
        timing and each takes the transcript text it overlaps; cues past the media's end
        are dropped, and ends clipped to it."""
        timing = self.translation or self.transcript
        lines = [
            TimedText(cue.start, min(cue.end, duration), cue.text)
            for cue in timing
            if cue.start < duration and min(cue.end, duration) > cue.start
        ]
        if not lines:
            raise ValidationFailed(
                f"No subtitle cue falls inside the media ({duration:.2f} s long)."
            )
        spoken = " ".join(cue.text for cue in self.transcript)
        if source_language or spoken:
            language = studio.detect_language(spoken, source_language)
        else:
            language = UNDETERMINED
        segments = []
        for index, line in enumerate(lines):
            translated = bool(self.translation)
            segments.append(
                Segment(
                    id=f"seg-{index + 1:04d}",
                    start=round(line.start, 3),
                    end=round(line.end, 3),
                    speaker="S1",
                    source_text=_overlapping(self.transcript, line) if translated else line.text,
                    target_text=line.text if translated else "",
                    target_edited=translated,  # never overwritten by a translator
                )
            )
        return Transcript(language=language, duration=duration, segments=tuple(segments))


def _cues(named: tuple[str, str] | None) -> tuple[TimedText, ...]:
    if named is None:
        return ()
    name, text = named
    return tuple(parse_subtitles(text, name))


def _overlapping(cues: Sequence[TimedText], line: TimedText) -> str:
    """The text of the cues whose middle falls inside ``line``."""
    return " ".join(c.text for c in cues if line.start <= (c.start + c.end) / 2 < line.end)
