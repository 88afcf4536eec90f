"""Builds the object graph (registry, gate, studio) from settings: the one place that wires.

The app factory, the CLI and the workers call ``build_studio``; tests call it with their own
settings. Nothing here is a module-level singleton.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import warnings
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from dubbing_studio.config import Settings
from dubbing_studio.engines.gate import EngineGate
from dubbing_studio.engines.local import register_local_engines
from dubbing_studio.engines.local._cpus import usable_cpus
from dubbing_studio.engines.local.speakers import ResemblyzerEncoder
from dubbing_studio.engines.openai_compat import register_openai_engines
from dubbing_studio.engines.plugins import load_engine_plugins
from dubbing_studio.engines.protocols import Capability
from dubbing_studio.engines.registry import EngineRegistry
from dubbing_studio.heap import limit_arenas
from dubbing_studio.media.sandbox import ForkServer
from dubbing_studio.pipeline.context import EngineBundle
from dubbing_studio.services.language_id import LanguageIdentifier
from dubbing_studio.services.studio import Studio

if TYPE_CHECKING:
    from dubbing_studio.services.dubs import DubService

log = logging.getLogger(__name__)

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
    register_openai_engines(
        registry, settings, local_transcriber=LOCAL_DEFAULTS[Capability.TRANSCRIBE]
    )
    load_engine_plugins(registry, settings)
    return registry


# The OpenAI endpoint (``Settings.openai_endpoint``) that serves each capability.
OPENAI_ENDPOINTS = {
    Capability.TRANSCRIBE: "transcription",
    Capability.TRANSLATE: "chat",
    Capability.SYNTHESIZE: "speech",
}


def _default_for(settings: Settings, capability: Capability, configured: str) -> str:
    """``auto`` means the OpenAI engine when that capability's endpoint has a key or base URL
    (its own, or ``OPENAI_API_KEY``/``OPENAI_BASE_URL``), else the local one."""
    if configured != "auto":
        return configured
    endpoint = settings.openai_endpoint(OPENAI_ENDPOINTS[capability])
    return "openai" if endpoint.configured else LOCAL_DEFAULTS[capability]


def build_studio(settings: Settings, registry: EngineRegistry | None = None) -> Studio:
    """The studio, in a process whose C heap has an arena per CPU it may run on (``heap``;
    its affinity, not a container's CPU quota): built before the engines' threads start, so
    they share those."""
    limit_arenas(usable_cpus())
    return Studio(
        settings=settings,
        registry=registry or build_registry(settings),
        gate=EngineGate(settings.engine_concurrency, niceness=settings.worker_niceness),
        language_id=LanguageIdentifier(),
        speaker_encoder=ResemblyzerEncoder(settings.model_idle_ttl_s),
        media_sandbox=ForkServer(),
    )


def open_dub_service(settings: Settings, studio: Studio) -> DubService:
    """The dub service on its migrated store, with a runner attached but not started (see
    ``running``), so shells can hook into it before any dub runs. Blocking (migrations)."""
    # SQLAlchemy and Alembic take 0.7 s to import: commands without dubs never load them.
    from dubbing_studio.jobs.runner import InProcessRunner
    from dubbing_studio.jobs.store import DubStore
    from dubbing_studio.pipeline.artifacts import ArtifactStore
    from dubbing_studio.services.dubs import DubService
    from dubbing_studio.services.events import EventHub

    store = DubStore(settings.database)
    store.migrate()
    dubs = DubService(
        settings,
        studio,
        store,
        ArtifactStore(settings.data_dir / "artifacts"),
        EventHub(),
        engines=dub_engines(studio),
    )
    dubs.runner = InProcessRunner(
        dubs.execute, settings.max_concurrent_jobs, settings.quotas.concurrent_dubs
    )
    return dubs


@contextlib.asynccontextmanager
async def running(dubs: DubService) -> AsyncIterator[DubService]:
    """Start the dub runner and resume unfinished dubs; on exit, stop it and close the store.
    Embedded, one process per data folder runs dubs (two would each resume the same ones);
    with worker processes, the workers take over a dead worker's dubs themselves."""
    runner = dubs.runner
    if runner is None:
        raise RuntimeError("The dub service has no runner attached.")
    try:
        await runner.start()
        if not dubs.settings.distributed:
            resumed = await dubs.resume()
            if resumed:
                log.info("Resuming %d unfinished dub(s)", len(resumed))
        yield dubs
    finally:
        await runner.stop()
        dubs.store.close()


def dub_engines(studio: Studio) -> EngineBundle:
    """The narrow bundle of engines the dub pipeline runs on: the studio's own, shared."""
    return EngineBundle(
        settings=studio.settings,
        registry=studio.registry,
        gate=studio.gate,
        speaker_encoder=studio.speaker_encoder,
        media_sandbox=studio.media_sandbox,
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
    "webrtcvad",  # the speaker encoder's voice activity detector (its network is numpy)
    "pedalboard",
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
