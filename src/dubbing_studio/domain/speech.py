"""What engines produce and consume: timed words and segments, and synthesized audio."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatAudio = npt.NDArray[np.float32]

RECOGNITION_RATE = 16_000
"""Speech recognisers (Whisper) take 16 kHz mono: uploads are decoded to it for them."""


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word with its time span in seconds."""

    start: float
    end: float
    text: str
    probability: float = 1.0


@dataclass(frozen=True, slots=True)
class TimedText:
    """A stretch of recognised speech: the unit transcribers return."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    # What the recogniser says of its own confidence (Whisper; None when an engine does not
    # tell): the hallucination guard reads them.
    language: str | None = None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None


SpeechRegion = tuple[float, float]
"""Where a voice activity detector heard speech: (start, end) in seconds."""


@dataclass(frozen=True, slots=True)
class Transcription:
    """A whole transcription result with the detected (or given) language."""

    text: str
    language: str
    language_probability: float
    duration: float
    segments: tuple[TimedText, ...] = ()
    # Speech regions found by voice activity detection; None when the engine ran none.
    speech: tuple[SpeechRegion, ...] | None = None
    model: str = ""  # the model that answered, where an engine may hand off to another

    @classmethod
    def from_segments(
        cls,
        segments: list[TimedText],
        *,
        language: str,
        language_probability: float,
        duration: float,
        speech: tuple[SpeechRegion, ...] | None = None,
    ) -> Transcription:
        """Join segment texts into the plain ``text`` the seed contract returns."""
        text = " ".join(s.text.strip() for s in segments if s.text.strip())
        return cls(
            text=text,
            language=language,
            language_probability=language_probability,
            duration=duration,
            segments=tuple(segments),
            speech=speech,
        )


@dataclass(frozen=True, slots=True)
class Speech:
    """Mono float32 PCM in [-1, 1] with its sample rate."""

    samples: FloatAudio
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate if self.sample_rate else 0.0


@dataclass(frozen=True, slots=True)
class Voice:
    """A voice an engine offers."""

    id: str
    language: str
    name: str = ""
    gender: str | None = None
    languages: tuple[str, ...] = field(default=())
    description: str = ""

    def speaks(self, language: str) -> bool:
        return language == self.language or language in self.languages


@dataclass(frozen=True, slots=True)
class Glossary:
    """Terms kept verbatim and forced translations, applied by every translator."""

    keep: tuple[str, ...] = ()
    force: tuple[tuple[str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.keep and not self.force
