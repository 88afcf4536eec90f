"""Engines registered by name per capability, with a configured default for each.

Engines are cheap to construct (models load lazily through a ``ModelLease``), so the registry
builds them all up front and can report on every one, usable or not, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from dubbing_studio.domain.errors import EngineUnavailable, NotFound
from dubbing_studio.engines.protocols import (
    Capability,
    EngineInfo,
    Separator,
    Synthesizer,
    Transcriber,
    Translator,
)


class Engine:
    """What every engine offers besides its capability: a description of itself."""

    name: str

    def info(self) -> EngineInfo:  # pragma: no cover - interface
        raise NotImplementedError

    def offered(self) -> EngineInfo:
        """``info`` with what a remote engine's server reports it offers (models, voices),
        which may ask the server; local engines know it already."""
        return self.info()

    def warm(self) -> None:
        """Load the models a call needs now (a worker at start), so no call waits for them;
        idempotent. Engines without models do nothing."""

    def release_idle(self) -> None:
        """Unload models idle past their TTL; engines without models do nothing."""


@dataclass(frozen=True, slots=True)
class Registration:
    capability: Capability
    engine: Engine


@dataclass(frozen=True, slots=True)
class PluginStatus:
    """One ``dubbing_studio.engines`` entry point: what it registered, or why it failed."""

    name: str
    target: str  # the entry point's "module:function"
    distribution: str | None
    engines: tuple[tuple[Capability, str], ...] = ()
    error: str | None = None


class EngineRegistry:
    """Holds engine instances by (capability, name) and resolves the default for each."""

    def __init__(self, defaults: dict[Capability, str] | None = None) -> None:
        self._engines: dict[tuple[Capability, str], Engine] = {}
        self._defaults = defaults or {}
        self.plugins: list[PluginStatus] = []

    def register(self, capability: Capability, engine: Engine) -> None:
        self._engines[(capability, engine.name)] = engine

    def has(self, capability: Capability, name: str) -> bool:
        return (capability, name) in self._engines

    def plugin_of(self, capability: Capability, name: str) -> str | None:
        """The plugin that registered this engine; None for the studio's own."""
        for plugin in self.plugins:
            if (capability, name) in plugin.engines:
                return plugin.name
        return None

    def names(self, capability: Capability) -> list[str]:
        return [name for cap, name in self._engines if cap == capability]

    def registrations(self) -> Iterable[Registration]:
        for (capability, _), engine in self._engines.items():
            yield Registration(capability, engine)

    def describe(self, *, live: bool = False) -> list[EngineInfo]:
        """Every engine's info; ``live`` asks remote servers what they offer (blocking)."""
        return [_info(r.capability, r.engine, live) for r in self.registrations()]

    def default_name(self, capability: Capability) -> str:
        default = self._defaults.get(capability)
        if default is None:
            names = self.names(capability)
            if not names:
                raise EngineUnavailable(f"No {capability.value} engine is registered.")
            return names[0]
        return default

    def get(self, capability: Capability, name: str | None = None) -> Engine:
        """The named (or default) engine, if it can run here; else a 404 or 503 error."""
        chosen = name or self.default_name(capability)
        engine = self._engines.get((capability, chosen))
        if engine is None:
            known = ", ".join(sorted(self.names(capability))) or "none"
            raise NotFound(f"No {capability.value} engine named {chosen!r}; known: {known}.")
        info = _info(capability, engine)
        if not info.available:
            raise EngineUnavailable(f"Engine {chosen!r} cannot run here: {info.reason}")
        return engine

    def transcriber(self, name: str | None = None) -> Transcriber:
        return cast(Transcriber, self.get(Capability.TRANSCRIBE, name))

    def translator(self, name: str | None = None) -> Translator:
        return cast(Translator, self.get(Capability.TRANSLATE, name))

    def synthesizer(self, name: str | None = None) -> Synthesizer:
        return cast(Synthesizer, self.get(Capability.SYNTHESIZE, name))

    def separator(self, name: str | None = None) -> Separator:
        return cast(Separator, self.get(Capability.SEPARATE, name))

    def release_idle(self) -> None:
        seen: set[int] = set()
        for engine in self._engines.values():
            if id(engine) not in seen:
                seen.add(id(engine))
                engine.release_idle()


def _info(capability: Capability, engine: Engine, live: bool = False) -> EngineInfo:
    """The engine's own description (``live``: with what its server offers); one that cannot
    describe itself (a broken plugin) is listed as unusable rather than failing the listing."""
    try:
        return engine.offered() if live else engine.info()
    except Exception as error:
        return EngineInfo(
            name=engine.name,
            capability=capability,
            description="",
            available=False,
            reason=f"the engine failed to describe itself: {type(error).__name__}: {error}",
        )
