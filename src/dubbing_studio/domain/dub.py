"""The dub as data: segments, the plan that says how to dub them, and the report.

Plain types with no I/O, so the pipeline, the API, the store and the tests share one model.
Times are seconds from the start of the input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from dubbing_studio.domain.speech import Glossary, SpeechRegion, Word


class SegmentStatus(StrEnum):
    PENDING = "pending"  # transcribed, waiting for translation or speech
    READY = "ready"  # dubbed audio fitted into its slot
    STALE = "stale"  # edited since its audio was made
    FAILED = "failed"


class FitOutcome(StrEnum):
    FITS = "fits"  # at natural pace inside its slot (padded with silence)
    BORROWED = "borrowed"  # used silence after its slot, before the next line
    SPED_UP = "sped_up"  # faster voice and/or time-stretch, within the cap
    OVERRUN = "overrun"  # longer than its window by less than the allowed overrun
    TRIMMED = "trimmed"  # still too long at the cap: cut at a pause with a fade


@dataclass(frozen=True, slots=True)
class TimingPolicy:
    """How dubbed lines are fitted into the original timing."""

    max_speed: float = 1.3  # never speed speech up more than this
    min_speed: float = 0.9  # never slow speech down more than this (pad instead)
    max_overrun_s: float = 0.1  # may run into the next line's start by this much (it shifts)
    min_gap_s: float = 0.05  # silence kept before a speaker's next line
    min_line_s: float = 1.0  # fragments shorter than this merge with a neighbour
    max_line_s: float = 7.0  # longer lines split at punctuation or pauses (subtitle-sized)
    split_pause_s: float = 0.5  # a pause this long between words may split a line
    # "strict": a line that still does not fit at the cap is cut at a pause (reported);
    # "natural": nothing is cut — it runs on, pushing the same speaker's next lines up to
    # ``max_drift_s`` late (they catch up in the next pause), faster than the cap if need be.
    fit: str = "strict"
    max_drift_s: float = 1.0


@dataclass(frozen=True, slots=True)
class MixPolicy:
    """How the dubbed voice is laid over the original audio."""

    # "duck": keep the original, quieter, under the voice; "separate": keep the original minus
    # its speech at full level (needs a separator); "replace": drop the original; "auto":
    # separate where a separator can run, else duck
    background: str = "auto"
    duck_db: float = -18.0
    fade_s: float = 0.15
    target_lufs: float = -16.0


@dataclass(frozen=True, slots=True)
class DubPlan:
    """Everything that decides the output besides the input and the segment texts."""

    target_language: str
    source_language: str | None = None  # None: detect
    transcriber: str | None = None
    translator: str | None = None
    synthesizer: str | None = None
    voice: str | None = None  # default voice for every speaker
    speaker_voices: dict[str, str] = field(default_factory=dict)
    glossary: Glossary = field(default_factory=Glossary)
    timing: TimingPolicy = field(default_factory=TimingPolicy)
    mix: MixPolicy = field(default_factory=MixPolicy)
    keep_original_audio: bool = False
    audio_formats: tuple[str, ...] = ("mp3",)
    video_format: str | None = None  # "mp4" or "mkv"; None: same family as the input
    # Tell speakers on one channel apart by voice. None: when the speakers extra is
    # installed; True: required (an error without it); False: never.
    diarize: bool | None = None
    # Shift each speaker's dubbed voice toward their median F0 (±4 semitones at most).
    match_voice: bool = False
    # Transcribe the dubbed lines back in the target language and score them (WER/CER)
    # against their text: one recogniser pass over the dubbed speech.
    back_transcribe: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DubPlan:
        """The inverse of ``to_dict``. Keys this version does not know (a stored plan from a
        newer or older release) are dropped rather than making the project unreadable."""
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        glossary = data.pop("glossary", None) or {}
        return cls(
            glossary=Glossary(
                keep=tuple(glossary.get("keep", ())),
                force=tuple((str(a), str(b)) for a, b in glossary.get("force", ())),
            ),
            timing=_known(TimingPolicy, data.pop("timing", None)),
            mix=_known(MixPolicy, data.pop("mix", None)),
            audio_formats=tuple(data.pop("audio_formats", ("mp3",))),
            **data,
        )


def _known(kind: type[Any], values: dict[str, Any] | None) -> Any:
    names = {f.name for f in fields(kind)}
    return kind(**{k: v for k, v in (values or {}).items() if k in names})


@dataclass(frozen=True, slots=True)
class Segment:
    """One dubbed line: its place in time, who says it, what, and how it was dubbed."""

    id: str
    start: float
    end: float
    speaker: str
    source_text: str
    words: tuple[Word, ...] = ()
    target_text: str = ""
    voice: str | None = None
    status: SegmentStatus = SegmentStatus.PENDING
    target_edited: bool = False  # a person wrote the translation: never overwrite it
    audio_key: str | None = None  # the fitted clip's artifact
    synthesized_s: float | None = None  # natural-pace length of the speech
    fitted_s: float | None = None  # length as placed in the mix
    speed: float | None = None  # total speed factor applied (rate x stretch)
    overrun_s: float = 0.0
    outcome: FitOutcome | None = None
    language: str | None = None  # the language spoken in this line (None: the transcript's)
    # Why a person should check this line (``review.REASONS``); empty when nothing is odd.
    flags: tuple[str, ...] = ()
    words_trimmed: int = 0  # words of the dubbed line lost when it was cut to fit
    # The language its translation went through when no direct pair exists ("en" also when
    # Whisper translated the speech itself into English first).
    translated_via: str | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start

    def edited(self, **changes: Any) -> Segment:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Transcript:
    language: str
    duration: float
    segments: tuple[Segment, ...]
    # Where voice activity detection heard speech (None: the transcriber ran none), and
    # recognised lines the hallucination guard kept out of the dub, for a person to review.
    speech: tuple[SpeechRegion, ...] | None = None
    set_aside: tuple[Segment, ...] = ()


@dataclass(frozen=True, slots=True)
class SegmentReport:
    id: str
    speaker: str
    start: float
    end: float
    slot_s: float
    window_s: float
    source_text: str
    target_text: str
    engine: str
    voice: str
    synthesized_s: float
    fitted_s: float
    speed: float
    overrun_s: float
    outcome: str
    language: str = ""  # the language spoken in the line
    translated_via: str | None = None  # the pivot language, when no direct pair exists
    flags: tuple[str, ...] = ()  # reasons to review the line (see pipeline.review)
    words_trimmed: int = 0
    drift_s: float = 0.0  # how much later than in the source the line starts
    # The dubbed line heard back by the recogniser in the target language, and its word and
    # character error rates against the target text (None: back-transcription was off).
    heard_text: str | None = None
    wer: float | None = None
    cer: float | None = None
    shortened_from: str | None = None  # the translation before it was rewritten to fit


@dataclass(frozen=True, slots=True)
class SetAsideLine:
    """A recognised line kept out of the dub because it looks invented; a person decides."""

    id: str
    speaker: str
    start: float
    end: float
    language: str
    text: str
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DubReport:
    source_language: str
    target_language: str
    duration_s: float
    segments: tuple[SegmentReport, ...]
    outputs: dict[str, str]
    # Per speaker: the pitch and gender heard, the voice cast and the shift applied.
    speakers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Share of the detected speech time inside a line (None: no voice activity detection),
    # and the stretches of speech longer than a second no line covers.
    coverage: float | None = None
    unrecognised: tuple[SpeechRegion, ...] = ()
    set_aside: tuple[SetAsideLine, ...] = ()
    fit: str = "strict"
    engines: dict[str, str] = field(default_factory=dict)  # stage: "engine:model@server"

    def totals(self) -> dict[str, Any]:
        speeds = [s.speed for s in self.segments] or [1.0]
        outcomes: dict[str, int] = {}
        for s in self.segments:
            outcomes[s.outcome] = outcomes.get(s.outcome, 0) + 1
        return {
            "segments": len(self.segments),
            "max_speed": max(speeds),
            "mean_speed": sum(speeds) / len(speeds),
            "overruns": sum(1 for s in self.segments if s.overrun_s > 0),
            "shortened": sum(1 for s in self.segments if s.shortened_from is not None),
            "trimmed": outcomes.get(FitOutcome.TRIMMED.value, 0),
            "outcomes": outcomes,
            "words_trimmed": sum(s.words_trimmed for s in self.segments),
            "max_drift_s": max((s.drift_s for s in self.segments), default=0.0),
            "flagged": sum(1 for s in self.segments if s.flags) + len(self.set_aside),
            "set_aside": len(self.set_aside),
            "unrecognised": len(self.unrecognised),
            "coverage": self.coverage,
            "languages": sorted({s.language for s in self.segments if s.language}),
        }

    def quality(self) -> dict[str, Any]:
        """The intelligibility summary: what was heard back, and what may be missing."""
        heard = [s for s in self.segments if s.wer is not None]
        target_words = sum(max(1, len(s.target_text.split())) for s in heard)
        totals = self.totals()
        return {
            "back_transcribed": bool(heard),
            "wer": _weighted(heard, "wer", target_words),
            "cer": _weighted(heard, "cer", target_words),
            "max_wer": max((s.wer or 0.0 for s in heard), default=None),
            "coverage": self.coverage,
            "words_trimmed": totals["words_trimmed"],
            "max_drift_s": totals["max_drift_s"],
            "mean_speed": totals["mean_speed"],
            "max_speed": totals["max_speed"],
            "lines_flagged": totals["flagged"],
            "unrecognised_s": round(sum(b - a for a, b in self.unrecognised), 3),
        }

    def warnings(self) -> list[str]:
        """What the listener will miss or should not trust, one sentence each; the CLI
        summary and the page say these out loud."""
        said = []
        trimmed = [s for s in self.segments if s.words_trimmed]
        if trimmed:
            words = sum(s.words_trimmed for s in trimmed)
            said.append(
                f"{_count(words, 'word')} cut from {_count(len(trimmed), 'line')} too long "
                "for the slot (fit strict); fit natural keeps every word."
            )
        if self.unrecognised:
            spans = ", ".join(f"{a:.1f}–{b:.1f} s" for a, b in self.unrecognised)
            said.append(f"Speech no line covers (unrecognised): {spans}.")
        if self.set_aside:
            said.append(
                f"{_count(len(self.set_aside), 'recognised line')} set aside as likely "
                "invented, not voiced: review set_aside."
            )
        flagged = [s.id for s in self.segments if s.flags]
        if flagged:
            said.append(
                f"{len(flagged)} voiced lines are flagged for review: {', '.join(flagged)}."
            )
        return said

    def worst(self, count: int = 5) -> list[SegmentReport]:
        """Lines that needed the most help: fastest, then longest overrun."""
        return sorted(self.segments, key=lambda s: (-s.speed, -s.overrun_s))[:count]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_language": self.source_language,
            "target_language": self.target_language,
            "duration_s": self.duration_s,
            "engines": self.engines,
            "totals": self.totals(),
            "worst": [s.id for s in self.worst()],
            "segments": [asdict(s) for s in self.segments],
            "outputs": self.outputs,
            "speakers": self.speakers,
            "fit": self.fit,
            "coverage": self.coverage,
            "unrecognised": [{"start": a, "end": b} for a, b in self.unrecognised],
            "set_aside": [asdict(s) for s in self.set_aside],
            "quality": self.quality(),
            "warnings": self.warnings(),
        }


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _weighted(lines: list[SegmentReport], name: str, words: int) -> float | None:
    """An error rate over all lines, each weighted by its number of target words."""
    if not lines:
        return None
    total = sum(getattr(s, name) * max(1, len(s.target_text.split())) for s in lines)
    return round(total / max(1, words), 4)
