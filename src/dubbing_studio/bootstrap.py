"""Builds the object graph (registry, gate, studio) from settings: the one place that wires.

The app factory, the CLI and the workers call ``build_studio``; tests call it with their own
settings. Nothing here is a module-level singleton.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings

from dubbing_studio.config import Settings
from dubbing_studio.engines.gate import EngineGate
from dubbing_studio.engines.local import register_local_engines
from dubbing_studio.engines.local.speakers import ResemblyzerEncoder
from dubbing_studio.engines.openai_compat import register_openai_engines
from dubbing_studio.engines.plugins import load_engine_plugins
from dubbing_studio.engines.protocols import Capability
from dubbing_studio.engines.registry import EngineRegistry
from dubbing_studio.services.language_id import LanguageIdentifier
from dubbing_studio.services.studio import Studio

LOCAL_DEFAULTS = {
    Capability.TRANSCRIBE: "whisper",
    Capability.TRANSLATE: "apertium",
    Capability.SYNTHESIZE: "piper",
}


def build_registry(settings: Settings) -> EngineRegistry:
    defaults = {
        capability: _default_for(settings, capability, configured)
        for capability, configured in (
            (Capability.TRANSCRIBE, settings.engines.transcriber),
            (Capability.TRANSLATE, settings.engines.translator),
            (Capability.SYNTHESIZE, settings.engines.synthesizer),
        )
    }
    registry = EngineRegistry(defaults)
    register_local_engines(registry, settings)
    register_openai_engines(registry, settings)
    load_engine_plugins(registry, settings)
    return registry


def _default_for(settings: Settings, capability: Capability, configured: str) -> str:
    """``auto`` means the OpenAI engine when a key or base URL is set, else the local one."""
    if configured != "auto":
        return configured
    return "openai" if settings.openai_configured else LOCAL_DEFAULTS[capability]


def build_studio(settings: Settings, registry: EngineRegistry | None = None) -> Studio:
    return Studio(
        settings=settings,
        registry=registry or build_registry(settings),
        gate=EngineGate(settings.engine_concurrency, niceness=settings.worker_niceness),
        language_id=LanguageIdentifier(),
        speaker_encoder=ResemblyzerEncoder(settings.model_idle_ttl_s),
    )


# Native libraries the engines import on first use. Their initialisation (dlopen, static
# constructors) holds the GIL for up to hundreds of milliseconds: done during a dub, it stalls
# every request; done before the server accepts any, it costs a few seconds of start-up.
ENGINE_LIBRARIES = (
    "ctranslate2",
    "faster_whisper",
    "onnxruntime",
    "piper",
    "kokoro_onnx",
    "torch",
    "resemblyzer",
    "pedalboard",
    "pyloudnorm",
    "openai",  # the OpenAI engines import the SDK on first use (engines/openai_compat/client.py)
)


def preload_engine_libraries() -> list[str]:
    """Import the engine libraries that are installed; returns their names."""
    loaded = []
    for name in ENGINE_LIBRARIES:
        if importlib.util.find_spec(name) is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # third-party deprecation noise at import
                importlib.import_module(name)
            loaded.append(name)
    return loaded
