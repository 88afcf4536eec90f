"""Text to speech through OpenAI's (or a compatible server's) ``/audio/speech`` endpoint.

``pcm`` answers are 24 kHz signed 16-bit little-endian mono, turned into float samples here;
other formats are handed to the caller as bytes (the seed TTS endpoint streams OpenAI's mp3
as is). The endpoint takes at most 4096 characters, so longer text goes out in sentence
chunks whose answers are joined: valid for raw PCM and for mp3's self-contained frames only.
"""

from __future__ import annotations

import base64
import logging
from typing import Literal

import numpy as np

from dubbing_studio.domain.errors import InvalidInput, NotFound, StudioError
from dubbing_studio.domain.languages import LANGUAGE_NAMES
from dubbing_studio.domain.speech import Speech, Voice
from dubbing_studio.engines.openai_compat.client import (
    NOT_CONFIGURED,
    OpenAIConnection,
    upstream_errors,
)
from dubbing_studio.engines.openai_compat.translator import OpenAITranslator
from dubbing_studio.engines.protocols import (
    Capability,
    EngineInfo,
    SynthesisOptions,
    Synthesizer,
)
from dubbing_studio.engines.registry import Engine
from dubbing_studio.engines.text import split_sentences

log = logging.getLogger(__name__)

AudioFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]

PCM_SAMPLE_RATE = 24_000
MAX_INPUT_CHARS = 4096
MIN_SPEED, MAX_SPEED = 0.25, 4.0
DEFAULT_VOICE = "alloy"
JOINABLE_FORMATS: frozenset[str] = frozenset({"pcm", "mp3"})

# OpenAI's built-in voices (all multilingual) and their usual perceived gender.
VOICE_GENDERS: dict[str, str | None] = {
    "alloy": None,
    "ash": "male",
    "ballad": "male",
    "coral": "female",
    "echo": "male",
    "fable": "male",
    "nova": "female",
    "onyx": "male",
    "sage": "female",
    "shimmer": "female",
    "verse": "male",
    "marin": "female",
    "cedar": "male",
}


class OpenAISynthesizer(Engine, Synthesizer):
    """Synthesizer protocol; ``director`` writes delivery instructions when none are given."""

    name = "openai"

    def __init__(
        self, connection: OpenAIConnection, director: OpenAITranslator | None = None
    ) -> None:
        self.connection = connection
        self.director = director

    @property
    def model_id(self) -> str:
        """The default TTS model and, where it writes the delivery instructions, the director's
        (``SynthesisOptions.model``, when a caller sets it, is part of the call instead)."""
        cfg = self.connection.settings.openai
        models = [cfg.tts_model]
        if self.director is not None and cfg.voice_director and _directed(cfg.tts_model):
            models.append(f"directed by {self.director.model_id}")
        return self.connection.model_id(*models)

    @property
    def clones_voice(self) -> bool:
        """Set by the operator: OpenAI's own endpoint takes no reference sample."""
        return self.connection.settings.openai.tts_reference_audio

    def info(self) -> EngineInfo:
        configured = self.connection.configured
        return EngineInfo(
            name=self.name,
            capability=Capability.SYNTHESIZE,
            description="OpenAI text to speech (gpt-4o-mini-tts follows delivery instructions).",
            available=configured,
            reason=None if configured else NOT_CONFIGURED,
            languages=tuple(LANGUAGE_NAMES),
            voices=tuple(self.voices()),
            models=(self.connection.settings.openai.tts_model,),
            extra={
                "base_url": self.connection.base_url,
                "voice_director": self.connection.settings.openai.voice_director,
            },
        )

    def voices(self) -> list[Voice]:
        languages = tuple(LANGUAGE_NAMES)
        return [
            Voice(id=v, language="en", name=v.title(), gender=g, languages=languages)
            for v, g in VOICE_GENDERS.items()
        ]

    def synthesize(self, text: str, options: SynthesisOptions) -> Speech:
        pcm = self.speech_bytes(
            text,
            voice=options.voice,
            model=options.model,
            instructions=options.instructions,
            fmt="pcm",
            speed=options.rate,
            language=options.language,
            reference_audio=options.reference_audio if self.clones_voice else None,
        )
        pcm = pcm[: len(pcm) // 2 * 2]
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        return Speech(samples=samples, sample_rate=PCM_SAMPLE_RATE)

    def speech_bytes(
        self,
        text: str,
        *,
        voice: str | None = None,
        model: str | None = None,
        instructions: str | None = None,
        fmt: AudioFormat = "mp3",
        speed: float = 1.0,
        language: str | None = None,
        reference_audio: bytes | None = None,
    ) -> bytes:
        """The encoded audio exactly as the server sends it, for ``text`` of any length
        in a joinable format (pcm, mp3) or up to 4096 characters in the others."""
        if not text.strip():
            raise InvalidInput("Text to speak must not be empty.")
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise InvalidInput(f"Speed must be between {MIN_SPEED} and {MAX_SPEED}.")
        voice = voice or DEFAULT_VOICE
        if self.connection.is_openai and voice not in VOICE_GENDERS:
            raise NotFound(f"OpenAI has no voice {voice!r}; voices: {', '.join(VOICE_GENDERS)}.")
        chunks = [text] if len(text) <= MAX_INPUT_CHARS else split_sentences(text, MAX_INPUT_CHARS)
        if len(chunks) > 1 and fmt not in JOINABLE_FORMATS:
            raise InvalidInput(
                f"Text over {MAX_INPUT_CHARS} characters can only be spoken as pcm or mp3."
            )
        model = model or self.connection.settings.openai.tts_model
        directions = ""
        if _directed(model):
            directions = instructions or self._direct(text, language)
        from openai import omit  # the SDK loads on first use (client.py)

        client = self.connection.client
        extra = (
            {"reference_audio": base64.b64encode(reference_audio).decode("ascii")}
            if reference_audio
            else None
        )
        parts = []
        for chunk in chunks:
            with upstream_errors("speech"):
                response = client.audio.speech.create(
                    model=model,
                    voice=voice,
                    input=chunk,
                    response_format=fmt,
                    instructions=directions or omit,
                    speed=speed if speed != 1.0 else omit,
                    extra_body=extra,
                )
            parts.append(response.content)
        return b"".join(parts)

    def _direct(self, text: str, language: str | None) -> str:
        """Delivery instructions are a refinement: a server without chat completions (a
        speech-only server such as speaches) still speaks, without them."""
        if self.director is None or not self.connection.settings.openai.voice_director:
            return ""
        try:
            return self.director.direct_voice(text, language)
        except StudioError as exc:
            log.warning("Voice director unavailable, speaking without instructions: %s", exc)
            return ""


def _directed(model: str) -> bool:
    """Whether the TTS model follows delivery instructions."""
    return model.startswith("gpt-4o-mini-tts")
