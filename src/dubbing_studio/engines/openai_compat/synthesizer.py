"""Text to speech through OpenAI's (or a compatible server's) ``/audio/speech`` endpoint.

``pcm`` answers are 24 kHz signed 16-bit little-endian mono, turned into float samples here;
other formats are handed to the caller as bytes (the seed TTS endpoint streams OpenAI's mp3
as is). The endpoint takes at most 4096 characters, so longer text goes out in sentence
chunks whose answers are joined: valid for raw PCM and for mp3's self-contained frames only.
"""

from __future__ import annotations

import base64
import logging
from typing import Any, Literal

import numpy as np

from dubbing_studio.domain.errors import InvalidInput, NotFound, StudioError
from dubbing_studio.domain.languages import LANGUAGE_NAMES
from dubbing_studio.domain.speech import Speech, Voice
from dubbing_studio.engines.openai_compat.client import (
    OpenAIConnection,
    server_or_configured,
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
        model = self.connection.model_for("speech")
        models = [model]
        if self.director is not None and self._directing(model):
            models.append(f"directed by {self.director.model_id}")
        return self.connection.model_id(*models)

    @property
    def clones_voice(self) -> bool:
        """Set by the operator: OpenAI's own endpoint takes no reference sample."""
        return self.connection.settings.openai.tts_reference_audio

    @property
    def directs_delivery(self) -> bool:
        """Whether the default model speaks with instructions this engine writes per line
        (``SynthesisOptions.character`` keeps them in character)."""
        return self.director is not None and self._directing(self.connection.model_for("speech"))

    def info(self, *, live: bool = False) -> EngineInfo:
        configured = self.connection.configured
        return EngineInfo(
            name=self.name,
            capability=Capability.SYNTHESIZE,
            description="OpenAI(-compatible) text to speech (gpt-4o-mini-tts follows delivery "
            "instructions).",
            available=configured,
            reason=None if configured else self.connection.not_configured,
            languages=tuple(LANGUAGE_NAMES),
            voices=tuple(self._voices(fetch=live)),
            models=server_or_configured(self.connection, "speech", live),
            extra={
                "base_url": self.connection.base_url,
                "voice_director": self.connection.settings.openai.voice_director,
            },
        )

    def offered(self) -> EngineInfo:
        return self.info(live=True)

    def voices(self) -> list[Voice]:
        """The server's voices (``GET /audio/voices``, cached), else the configured list, else
        OpenAI's own."""
        return self._voices(fetch=True)

    def _voices(self, *, fetch: bool) -> list[Voice]:
        if not self.connection.is_openai:  # api.openai.com lists no voices
            reported = parse_voices(self.connection.listing("/audio/voices", fetch=fetch))
            if reported:
                return reported
        languages = tuple(LANGUAGE_NAMES)
        configured = self.connection.settings.openai.speech_voices
        names = configured or list(VOICE_GENDERS)
        return [
            Voice(
                id=v,
                language="",
                name=v.title(),
                gender=VOICE_GENDERS.get(v),
                languages=languages,
            )
            for v in names
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
            character=options.character,
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
        character: str | None = None,
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
        model = model or self.connection.model_for("speech")
        directions = ""
        if _directed(model):
            directions = instructions or self._direct(text, language, character)
        from openai import omit  # the SDK loads on first use (client.py)

        # The text's language helps a compatible server choose a voice that speaks it (the
        # studio's /v1 reads it); api.openai.com takes no such field.
        extra: dict[str, str] = {}
        if language and not self.connection.is_openai:
            extra["language"] = language
        if reference_audio:  # a cloning server speaks in the voice of this sample
            extra["reference_audio"] = base64.b64encode(reference_audio).decode("ascii")

        client = self.connection.client
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
                    extra_body=extra or None,
                )
            parts.append(response.content)
        return b"".join(parts)

    def _directing(self, model: str) -> bool:
        return self.connection.settings.openai.voice_director and _directed(model)

    def _direct(self, text: str, language: str | None, character: str | None) -> str:
        """Delivery instructions are a refinement: a server without chat completions (a
        speech-only server such as speaches) still speaks, without them."""
        if self.director is None or not self.connection.settings.openai.voice_director:
            return ""
        try:
            return self.director.direct_voice(text, language, character)
        except StudioError as exc:
            log.warning("Voice director unavailable, speaking without instructions: %s", exc)
            return ""


def _directed(model: str) -> bool:
    """Whether the TTS model follows delivery instructions."""
    return model.startswith("gpt-4o-mini-tts")


def parse_voices(data: Any) -> list[Voice]:
    """Voices from a ``GET /audio/voices`` answer, in the shapes servers send: a list, or one
    under ``voices`` or ``data``; each an id string (Kokoro-FastAPI) or an object with ``id``
    (or ``voice_id``/``name``) and, from the studio, ``language``, ``languages``, ``gender``.
    A voice that names no language is taken to speak any."""
    items = data.get("voices", data.get("data")) if isinstance(data, dict) else data
    if not isinstance(items, list):
        return []
    voices = []
    for item in items:
        if isinstance(item, str):
            item = {"id": item}
        if not isinstance(item, dict):
            continue
        voice_id = item.get("id") or item.get("voice_id") or item.get("name")
        if not isinstance(voice_id, str) or not voice_id:
            continue
        language = str(item.get("language") or "")
        languages = item.get("languages")
        spoken = tuple(str(code) for code in languages) if isinstance(languages, list) else ()
        gender = item.get("gender")
        voices.append(
            Voice(
                id=voice_id,
                language=language,
                name=str(item.get("name") or voice_id),
                gender=gender if isinstance(gender, str) else VOICE_GENDERS.get(voice_id),
                languages=spoken or (() if language else tuple(LANGUAGE_NAMES)),
            )
        )
    return voices
