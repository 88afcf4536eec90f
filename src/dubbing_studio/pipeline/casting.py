"""Which voice speaks each speaker: chosen from the target language's voices (every engine's,
an OpenAI-compatible server's included), distinct per speaker (alternating gender where
possible), and overridable per speaker (``S1=openai:alloy``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from dubbing_studio.domain.dub import DubPlan
from dubbing_studio.domain.errors import UnsupportedLanguage, ValidationFailed
from dubbing_studio.domain.languages import language_name
from dubbing_studio.domain.speech import Voice
from dubbing_studio.engines.registry import EngineRegistry
from dubbing_studio.engines.voices import usable_voices, voice_preference

# What casting may know of a speaker: gender ("male"/"female") and median F0 in Hz.
SpeakerTraits = tuple[str | None, float | None]


@dataclass(frozen=True, slots=True)
class VoiceRef:
    """A voice of one engine, written ``engine:voice`` in plans, segments and reports."""

    engine: str
    voice: str

    def __str__(self) -> str:
        return f"{self.engine}:{self.voice}"


def parse_voice(text: str, registry: EngineRegistry, language: str) -> VoiceRef:
    """``engine:voice``, or a bare voice id looked up among every engine's voices."""
    voices = usable_voices(registry)
    engine, _, voice = text.partition(":")
    if voice:
        if engine not in voices or not any(v.id == voice for v in voices[engine]):
            raise ValidationFailed(f"No voice {voice!r} in engine {engine!r}.")
        return VoiceRef(engine, voice)
    for name, offered in voices.items():
        if any(v.id == text for v in offered):
            return VoiceRef(name, text)
    raise ValidationFailed(
        f"Unknown voice {text!r}; GET /api/v1/engines lists the voices for "
        f"{language_name(language)}."
    )


def cast_voices(
    registry: EngineRegistry,
    speakers: list[str],
    language: str,
    plan: DubPlan,
    traits: Mapping[str, SpeakerTraits] | None = None,
    voice_f0: Mapping[str, float] | None = None,
) -> dict[str, VoiceRef]:
    """A voice per speaker: the plan's overrides, else distinct voices that speak the language,
    taken from the best engine first, alternating gender between speakers.

    With ``traits`` (voices matched to the speaker) a speaker whose gender is known gets the
    best engine with a free voice of that gender, even a slower one (Kokoro rather than
    Piper), and its voice nearest their median F0 among those measured in ``voice_f0``
    (``engine:voice`` → Hz)."""
    cast: dict[str, VoiceRef] = {}
    for speaker in speakers:
        chosen = plan.speaker_voices.get(speaker) or plan.voice
        if chosen:
            cast[speaker] = parse_voice(chosen, registry, language)
    candidates = _candidates(registry, language, plan.synthesizer)
    if not candidates and len(cast) < len(speakers):
        raise UnsupportedLanguage(f"No voice speaks {language_name(language)}.")
    previous_gender: str | None = None
    for speaker in speakers:
        if speaker in cast:
            continue
        taken = {str(v) for v in cast.values()}
        free = [(e, v) for e, v in candidates if f"{e}:{v.id}" not in taken] or candidates
        gender, f0 = (traits or {}).get(speaker) or (None, None)
        if gender:
            pool = _first_engine([(e, v) for e, v in free if v.gender == gender] or free)
            measured = [(e, v) for e, v in pool if f"{e}:{v.id}" in (voice_f0 or {})]
            if f0 and measured and voice_f0:
                pool = sorted(
                    measured, key=lambda c: abs(math.log2(voice_f0[f"{c[0]}:{c[1].id}"] / f0))
                )
            engine, voice = pool[0]
        else:
            other_gender = [(e, v) for e, v in free if v.gender and v.gender != previous_gender]
            engine, voice = (other_gender if previous_gender and other_gender else free)[0]
        cast[speaker] = VoiceRef(engine, voice.id)
        previous_gender = voice.gender
    return cast


def pitch_pool(
    registry: EngineRegistry, language: str, plan: DubPlan, gender: str, speakers: int = 1
) -> list[tuple[str, Voice]]:
    """The voices ``cast_voices`` may compare by pitch for ``speakers`` speakers of ``gender``
    (what to measure before casting): that gender's voices of the best engines, engine by
    engine until there is one per speaker."""
    candidates = _candidates(registry, language, plan.synthesizer)
    same = [(e, v) for e, v in candidates if v.gender == gender]
    pool: list[tuple[str, Voice]] = []
    for engine in dict.fromkeys(e for e, _ in same):
        if len(pool) >= speakers:
            break
        pool.extend((e, v) for e, v in same if e == engine)
    return pool


def _first_engine(voices: list[tuple[str, Voice]]) -> list[tuple[str, Voice]]:
    return [(e, v) for e, v in voices if e == voices[0][0]] if voices else []


def _candidates(
    registry: EngineRegistry, language: str, engine: str | None
) -> list[tuple[str, Voice]]:
    voices = usable_voices(registry)
    order = voice_preference(registry, engine)
    return [(e, v) for e in order for v in voices.get(e, []) if v.speaks(language)]
