"""Choosing a local voice for text when the caller named an OpenAI voice or none at all.

The seed's clients send OpenAI model and voice names. Without an OpenAI key they map to local
engines: the text's language decides which engines can speak it, the OpenAI voice's gender
picks among their voices, and ``tts-1`` (OpenAI's fast model) prefers the fastest engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from dubbing_studio.domain.errors import UnsupportedLanguage, ValidationFailed
from dubbing_studio.domain.languages import language_name
from dubbing_studio.domain.speech import Voice
from dubbing_studio.engines.openai_compat.synthesizer import VOICE_GENDERS
from dubbing_studio.engines.protocols import Capability, Synthesizer
from dubbing_studio.engines.registry import EngineRegistry

OPENAI_TTS_MODELS = ("gpt-4o-mini-tts", "tts-1", "tts-1-hd")
REMOTE_ENGINE = "openai"  # the OpenAI(-compatible) synthesizer: its voices are a server's

# Local engines in order of preference per OpenAI model: natural voices first; tts-1 asks for
# speed, so Kokoro (about 10x slower than Piper here) is left out of it.
ENGINE_PREFERENCE: dict[str, tuple[str, ...]] = {
    "gpt-4o-mini-tts": ("piper", "kokoro", "espeak-ng"),
    "tts-1-hd": ("piper", "kokoro", "espeak-ng"),
    "tts-1": ("piper", "espeak-ng", "kokoro"),
}


@dataclass(frozen=True, slots=True)
class VoiceChoice:
    engine: str
    voice: str
    language: str


def choose_local_voice(
    registry: EngineRegistry, *, language: str, voice: str | None, model: str | None
) -> VoiceChoice:
    """A local (engine, voice) that speaks ``language``, honouring the requested voice.

    ``voice`` may be a local voice id (used as is), an OpenAI voice name (its gender is
    matched), or None.
    """
    usable = usable_voices(registry, local_only=True)
    if voice:
        for engine, voices in usable.items():
            for candidate in voices:
                if candidate.id == voice:
                    if not candidate.speaks(language):
                        raise UnsupportedLanguage(
                            f"Voice {voice!r} does not speak {language_name(language)}."
                        )
                    return VoiceChoice(engine, candidate.id, language)
        if voice.lower() not in VOICE_GENDERS:
            raise ValidationFailed(
                f"Unknown voice {voice!r}: use one of {', '.join(VOICE_GENDERS)} "
                "or a local voice id from GET /api/v1/engines."
            )
    gender = VOICE_GENDERS.get((voice or "").lower())
    preference = ENGINE_PREFERENCE.get(model or "", ENGINE_PREFERENCE["gpt-4o-mini-tts"])
    speakers = [
        (engine, v) for engine in preference for v in usable.get(engine, []) if v.speaks(language)
    ]
    if not speakers:
        raise UnsupportedLanguage(
            f"No local voice speaks {language_name(language)} ({language}); "
            "install a voice for it or configure OpenAI."
        )
    matching = [(e, v) for e, v in speakers if gender is None or v.gender == gender]
    engine, chosen = (matching or speakers)[0]
    return VoiceChoice(engine, chosen.id, language)


def usable_voices(registry: EngineRegistry, *, local_only: bool = False) -> dict[str, list[Voice]]:
    """Each synthesizer that can run here and its voices, OpenAI's (as its server lists them,
    which may ask the server) unless ``local_only``."""
    voices: dict[str, list[Voice]] = {}
    for registration in registry.registrations():
        engine = registration.engine
        if registration.capability != Capability.SYNTHESIZE:
            continue
        if local_only and engine.name == REMOTE_ENGINE:
            continue
        if engine.info().available:
            voices[engine.name] = cast(Synthesizer, engine).voices()
    return voices


def voice_preference(registry: EngineRegistry, engine: str | None) -> tuple[str, ...]:
    """The engines whose voices a dub tries, best first: the one asked for, else the default
    synthesizer (OpenAI's when speech is configured) and then the local ones."""
    if engine:
        return (engine,)
    default = registry.default_name(Capability.SYNTHESIZE)
    return tuple(dict.fromkeys((default, *ENGINE_PREFERENCE["gpt-4o-mini-tts"])))
