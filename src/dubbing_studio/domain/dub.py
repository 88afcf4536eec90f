"""The dub as data: segments, the plan that says how to dub them, and the report.

Plain types with no I/O, so the pipeline, the API, the store and the tests share one model.
Times are seconds from the start of the input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from dubbing_studio.domain.speech import Glossary, Word


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


@dataclass(frozen=True, slots=True)
class MixPolicy:
    """How the dubbed voice is laid over the original audio."""

    background: str = "duck"  # "duck": keep the original under the voice; "replace": drop it
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
    shortened_from: str | None = None  # the translation before it was rewritten to fit


@dataclass(frozen=True, slots=True)
class DubReport:
    source_language: str
    target_language: str
    duration_s: float
    segments: tuple[SegmentReport, ...]
    outputs: dict[str, str]
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
        }

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
        }
