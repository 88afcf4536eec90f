"""``GET /api/v1/engines``: every engine, what it offers, and whether it can run here."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from dubbing_studio.api.deps import StudioDep, require_api_key
from dubbing_studio.engines.protocols import Capability, EngineInfo

router = APIRouter(prefix="/api/v1", tags=["engines"], dependencies=[Depends(require_api_key)])


class VoiceOut(BaseModel):
    id: str
    language: str
    name: str
    gender: str | None
    languages: list[str]
    description: str = ""


class PairOut(BaseModel):
    source: str
    target: str


class EngineOut(BaseModel):
    name: str
    capability: Capability
    description: str
    available: bool
    reason: str | None
    default: bool
    plugin: str | None = Field(None, description="The plugin that added it, if one did.")
    languages: list[str]
    pairs: list[PairOut]
    voices: list[VoiceOut]
    models: list[str]


class PluginEngineOut(BaseModel):
    capability: Capability
    name: str


class PluginOut(BaseModel):
    """An installed engine plugin (entry point group ``dubbing_studio.engines``)."""

    name: str
    target: str
    distribution: str | None
    engines: list[PluginEngineOut]
    error: str | None = Field(description="Why the plugin was left out; null when it loaded.")


class EnginesOut(BaseModel):
    engines: list[EngineOut]
    defaults: dict[Capability, str]
    plugins: list[PluginOut] = []


def _engine_out(info: EngineInfo, default: bool, plugin: str | None) -> EngineOut:
    return EngineOut(
        name=info.name,
        capability=info.capability,
        description=info.description,
        available=info.available,
        reason=info.reason,
        default=default,
        plugin=plugin,
        languages=list(info.languages),
        pairs=[PairOut(source=a, target=b) for a, b in info.pairs],
        voices=[
            VoiceOut(
                id=v.id,
                language=v.language,
                name=v.name or v.id,
                gender=v.gender,
                languages=list(v.languages or (v.language,)),
                description=v.description,
            )
            for v in info.voices
        ],
        models=list(info.models),
    )


@router.get("/engines", response_model=EnginesOut)
async def engines(studio: StudioDep) -> EnginesOut:
    defaults = {c: studio.registry.default_name(c) for c in Capability}
    # Remote engines list what their servers report (GET /models, /audio/voices: short
    # timeout, cached), else what is configured.
    infos = await anyio.to_thread.run_sync(lambda: studio.registry.describe(live=True))
    registry = studio.registry
    return EnginesOut(
        engines=[
            _engine_out(
                i, defaults[i.capability] == i.name, registry.plugin_of(i.capability, i.name)
            )
            for i in infos
        ],
        defaults=defaults,
        plugins=[
            PluginOut(
                name=p.name,
                target=p.target,
                distribution=p.distribution,
                engines=[PluginEngineOut(capability=c, name=n) for c, n in p.engines],
                error=p.error,
            )
            for p in registry.plugins
        ],
    )
