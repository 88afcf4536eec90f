"""Engines backed by OpenAI or any OpenAI-compatible server (llama.cpp, vLLM, Ollama, ...).

They are always registered, so ``GET /engines`` can say why they are unavailable. Each
capability has its own connection (``Settings.openai_endpoint``: chat on Ollama, speech on
Kokoro-FastAPI, …); the translator doubles as transcript refiner and voice director.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dubbing_studio.config import Settings
from dubbing_studio.engines.openai_compat.client import OpenAIConnection
from dubbing_studio.engines.openai_compat.synthesizer import OpenAISynthesizer
from dubbing_studio.engines.openai_compat.transcriber import OpenAITranscriber
from dubbing_studio.engines.openai_compat.translator import OpenAITranslator
from dubbing_studio.engines.protocols import Capability
from dubbing_studio.engines.registry import EngineRegistry

if TYPE_CHECKING:
    import httpx

__all__ = [
    "OpenAIConnection",
    "OpenAISynthesizer",
    "OpenAITranscriber",
    "OpenAITranslator",
    "register_openai_engines",
]


def register_openai_engines(
    registry: EngineRegistry,
    settings: Settings,
    *,
    http_client: httpx.Client | None = None,
    local_transcriber: str = "whisper",
) -> None:
    """``local_transcriber`` names the engine that ``timestamp_fallback="local"`` uses."""

    def connect(capability: str) -> OpenAIConnection:
        return OpenAIConnection(settings, capability, http_client=http_client)

    translator = OpenAITranslator(connect("chat"))
    registry.register(Capability.TRANSLATE, translator)
    registry.register(
        Capability.TRANSCRIBE,
        OpenAITranscriber(
            connect("transcription"),
            refiner=translator,
            local=lambda: registry.transcriber(local_transcriber),
        ),
    )
    registry.register(
        Capability.SYNTHESIZE, OpenAISynthesizer(connect("speech"), director=translator)
    )
