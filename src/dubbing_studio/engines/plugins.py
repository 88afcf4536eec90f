"""Engines from other packages, found through the entry-point group ``dubbing_studio.engines``.

A plugin package names a function in its ``pyproject.toml``::

    [project.entry-points."dubbing_studio.engines"]
    echo = "dubbing_studio_echo:register"

and ``register(registry, settings)`` calls ``registry.register(Capability.TRANSLATE, engine)``
for each engine it offers; the engine subclasses ``Engine`` and implements its capability's
Protocol. The ``registry`` a plugin receives checks each engine and commits a plugin's
engines only when its function returns, so a plugin that fails to import, raises, or offers
something unusable is left out whole and reported (log, ``GET /api/v1/engines``, the CLI)
while the studio starts as usual. Plugins cannot replace an engine that is already registered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from dubbing_studio.config import Settings
from dubbing_studio.engines.protocols import Capability, Synthesizer, Transcriber, Translator
from dubbing_studio.engines.registry import Engine, EngineRegistry, PluginStatus

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "dubbing_studio.engines"
_PROTOCOLS: dict[Capability, type] = {
    Capability.TRANSCRIBE: Transcriber,
    Capability.TRANSLATE: Translator,
    Capability.SYNTHESIZE: Synthesizer,
}


class PluginError(Exception):
    """A plugin offered an engine the studio cannot use."""


class PluginRegistrar:
    """What a plugin's function receives as its registry: checks engines and holds them back
    until the plugin has finished."""

    def __init__(self, registry: EngineRegistry) -> None:
        self._registry = registry
        self.pending: list[tuple[Capability, Engine]] = []

    def register(self, capability: Capability, engine: Engine) -> None:
        capability = Capability(capability)
        name = getattr(engine, "name", None)
        if not isinstance(name, str) or not name.strip():
            raise PluginError(f"a {capability.value} engine has no name")
        if not isinstance(engine, Engine):
            raise PluginError(f"engine {name!r} does not subclass dubbing_studio's Engine")
        protocol = _PROTOCOLS[capability]
        if not isinstance(engine, protocol):
            raise PluginError(f"engine {name!r} does not implement {protocol.__name__}")
        taken = self._registry.has(capability, name) or any(
            (capability, name) == (c, e.name) for c, e in self.pending
        )
        if taken:
            raise PluginError(f"a {capability.value} engine named {name!r} already exists")
        self.pending.append((capability, engine))


def load_engine_plugins(
    registry: EngineRegistry,
    settings: Settings,
    plugins: Iterable[EntryPoint] | None = None,
) -> list[PluginStatus]:
    """Run every installed plugin (or the given entry points) against ``registry``.

    Returns each plugin's status, also kept in ``registry.plugins``.
    """
    found = entry_points(group=ENTRY_POINT_GROUP) if plugins is None else plugins
    statuses = []
    for entry in sorted(found, key=lambda e: e.name):
        status = _load(entry, registry, settings)
        registry.plugins.append(status)
        statuses.append(status)
    return statuses


def _load(entry: EntryPoint, registry: EngineRegistry, settings: Settings) -> PluginStatus:
    distribution = entry.dist.name if entry.dist is not None else None
    registrar = PluginRegistrar(registry)
    try:
        register = entry.load()
        register(registrar, settings)
        if not registrar.pending:
            raise PluginError("it registered no engine")
    except Exception as error:  # a plugin may fail in any way; the studio runs on without it
        reason = f"{type(error).__name__}: {error}"
        log.error("engine plugin %r (%s) left out: %s", entry.name, entry.value, reason)
        return PluginStatus(entry.name, entry.value, distribution, error=reason)
    for capability, engine in registrar.pending:
        registry.register(capability, engine)
    engines = tuple((capability, engine.name) for capability, engine in registrar.pending)
    log.info("engine plugin %r registered %s", entry.name, _names(engines))
    return PluginStatus(entry.name, entry.value, distribution, engines=engines)


def _names(engines: tuple[tuple[Capability, str], ...]) -> str:
    return ", ".join(f"{capability.value}:{name}" for capability, name in engines)
