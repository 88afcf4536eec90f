"""One Protocol per engine capability. Callers never know which engine they hold.

Engine methods are synchronous and CPU-bound; services run them off the event loop. Engines
name their capabilities as base classes, so mypy checks each method against its Protocol.

``model_id`` is everything about an engine, besides its name and the call's own options, that
decides its output: the model, its variant and decoding settings, the server answering. Stage
cache keys include it, so switching a model recomputes that stage and reuses the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from dubbing_studio.domain.speech import FloatAudio, Glossary, Speech, Transcription, Voice


class Capability(StrEnum):
    TRANSCRIBE = "transcribe"
    TRANSLATE = "translate"
    SYNTHESIZE = "synthesize"
    SEPARATE = "separate"


@dataclass(frozen=True, slots=True)
class TranscribeOptions:
    """What a caller may ask of a transcriber; engines ignore what they cannot honour."""

    language: str | None = None
    task: str = "transcribe"  # or "translate": speech in any language to English text
    word_timestamps: bool = True
    vad: bool = True
    prompt: str | None = None
    # Detect the language of each speech region rather than once per file (recordings where
    # speakers switch language); each segment then carries its own language.
    language_per_region: bool = False
    # Another of the engine's models (``EngineInfo.models``) for this call; None: its own.
    model: str | None = None


@dataclass(frozen=True, slots=True)
class SynthesisOptions:
    """``rate`` is a speaking-rate multiplier: 1.0 natural, 1.2 is 20% faster."""

    voice: str | None = None
    language: str | None = None
    rate: float = 1.0
    instructions: str | None = None
    model: str | None = None  # engines with several models (OpenAI: tts-1, gpt-4o-mini-tts)
    reference_audio: bytes | None = None  # WAV of the voice to speak in (``VoiceCloner``s)
    # Who says the line (the speaker and some of their lines), so engines that direct the
    # delivery (gpt-4o-mini-tts) keep one character across a speaker's lines.
    character: str | None = None


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """What ``GET /api/v1/engines`` says about one engine."""

    name: str
    capability: Capability
    description: str
    available: bool
    reason: str | None = None
    languages: tuple[str, ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()
    voices: tuple[Voice, ...] = ()
    models: tuple[str, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class Transcriber(Protocol):
    name: str

    @property
    def model_id(self) -> str:
        """The model this engine transcribes with (see the module docstring)."""
        ...

    def transcribe(self, audio: Path, options: TranscribeOptions) -> Transcription:
        """Recognise speech in a local media file."""
        ...


@runtime_checkable
class ModelWarming(Protocol):
    """An engine whose calls may name another of its models (``TranscribeOptions.model``) and
    that can load one ahead of them."""

    def warm_model(self, model: str) -> None:
        """Load ``model`` now, so no call waits for it; idempotent."""
        ...


@runtime_checkable
class Translator(Protocol):
    name: str

    @property
    def model_id(self) -> str:
        """The model this engine translates with (see the module docstring)."""
        ...

    def translate(
        self,
        texts: list[str],
        source: str,
        target: str,
        glossary: Glossary | None = None,
    ) -> list[str]:
        """Translate a whole batch in one go; the result lines up with ``texts``."""
        ...

    def supports(self, source: str, target: str) -> bool:
        """Whether this engine can translate between the two language codes."""
        ...


@runtime_checkable
class Shortener(Protocol):
    """A translator that can also rewrite a line shorter (an LLM); used to fit timing."""

    name: str

    @property
    def model_id(self) -> str: ...

    def shorten(self, text: str, language: str, max_chars: int) -> str:
        """``text`` said in at most ``max_chars`` if the engine manages; never longer."""
        ...


@runtime_checkable
class Pivoting(Protocol):
    """A translator that reaches some pairs through a third language on its own."""

    def pivot(self, source: str, target: str) -> str | None:
        """The language it goes through from ``source`` to ``target``; None when direct."""
        ...


@runtime_checkable
class Synthesizer(Protocol):
    name: str

    @property
    def model_id(self) -> str:
        """The model this engine speaks with; per-voice models are keyed by the voice too."""
        ...

    def synthesize(self, text: str, options: SynthesisOptions) -> Speech:
        """Speak ``text``; long text is split and synthesized in bounded chunks."""
        ...

    def voices(self) -> list[Voice]:
        """Voices this engine offers here."""
        ...


@runtime_checkable
class Separator(Protocol):
    """Splits a recording into the speech in it and everything else (music, effects, room)."""

    name: str

    @property
    def model_id(self) -> str:
        """The model this engine separates with (see the module docstring)."""
        ...

    def separate(self, samples: FloatAudio, rate: int) -> tuple[FloatAudio, FloatAudio]:
        """``(speech, background)`` of ``samples`` (``(frames,)`` or ``(channels, frames)``
        at ``rate``), each shaped like the input, sample-aligned with it, and adding up to it."""
        ...


@runtime_checkable
class VoiceCloner(Protocol):
    """A synthesizer that can speak in the voice of a reference sample
    (``SynthesisOptions.reference_audio``) when ``clones_voice`` says this server can."""

    name: str

    @property
    def clones_voice(self) -> bool: ...


@runtime_checkable
class SpeakerEncoder(Protocol):
    """Turns a stretch of speech into a voice embedding."""

    name: str

    def available(self) -> tuple[bool, str]:
        """Whether it can run here and, if not, why (with the fix)."""
        ...

    def embed(self, clips: Sequence[FloatAudio]) -> list[npt.NDArray[np.float32] | None]:
        """For each clip of 16 kHz mono speech, a unit vector, or None when it holds too
        little speech to tell a voice (all at once: an encoder may batch them)."""
        ...

    def warm(self) -> None:
        """Load the model now, so no call waits for it; idempotent."""
        ...

    def release_idle(self) -> None:
        """Unload the model when it has idled past its TTL."""
        ...
