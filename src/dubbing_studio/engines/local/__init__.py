"""Offline engines: Whisper, Apertium, a llama.cpp LLM, Piper, Kokoro, espeak-ng and DeepFilterNet.

All are registered whether or not their packages are installed here, so ``GET /engines`` can say
what is missing; none loads a model until it is first used.
"""

from __future__ import annotations

from dubbing_studio.config import Settings
from dubbing_studio.engines.local.apertium import ApertiumTranslator
from dubbing_studio.engines.local.deepfilter import DeepFilterSeparator
from dubbing_studio.engines.local.espeak import EspeakSynthesizer
from dubbing_studio.engines.local.kokoro import KokoroSynthesizer
from dubbing_studio.engines.local.llamacpp import LlamaCppTranslator
from dubbing_studio.engines.local.piper import PiperSynthesizer
from dubbing_studio.engines.local.whisper import WhisperTranscriber
from dubbing_studio.engines.protocols import Capability
from dubbing_studio.engines.registry import EngineRegistry

__all__ = [
    "ApertiumTranslator",
    "DeepFilterSeparator",
    "EspeakSynthesizer",
    "KokoroSynthesizer",
    "LlamaCppTranslator",
    "PiperSynthesizer",
    "WhisperTranscriber",
    "register_local_engines",
]


def register_local_engines(registry: EngineRegistry, settings: Settings) -> None:
    ttl = settings.model_idle_ttl_s
    models_dir = settings.data_dir / "models"
    registry.register(
        Capability.TRANSCRIBE, WhisperTranscriber(settings.whisper, ttl, cache_dir=models_dir)
    )
    registry.register(Capability.TRANSLATE, ApertiumTranslator(settings.apertium))
    registry.register(
        Capability.TRANSLATE, LlamaCppTranslator(settings.llamacpp, ttl, cache_dir=models_dir)
    )
    registry.register(Capability.SYNTHESIZE, PiperSynthesizer(settings.piper, ttl))
    registry.register(
        Capability.SYNTHESIZE, KokoroSynthesizer(settings.kokoro, settings.data_dir, ttl)
    )
    registry.register(Capability.SYNTHESIZE, EspeakSynthesizer(settings.espeak))
    registry.register(Capability.SEPARATE, DeepFilterSeparator())
