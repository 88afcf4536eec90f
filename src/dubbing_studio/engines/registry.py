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

    def release_idle(self) -> None:
        """Unload models idle past their TTL; engines without models do nothing."""


@dataclass(frozen=True, slots=True)
class Registration:
    capability: Capability
    engine: Engine


class EngineRegistry:
    """Holds engine instances by (capability, name) and resolves the default for each."""

    def __init__(self, defaults: dict[Capability, str] | None = None) -> None:
        self._engines: dict[tuple[Capability, str], Engine] = {}
        self._defaults = defaults or {}

    def register(self, capability: Capability, engine: Engine) -> None:
        self._engines[(capability, engine.name)] = engine

    def names(self, capability: Capability) -> list[str]:
        return [name for cap, name in self._engines if cap == capability]

    def registrations(self) -> Iterable[Registration]:
        for (capability, _), engine in self._engines.items():
            yield Registration(capability, engine)

    def describe(self, *, live: bool = False) -> list[EngineInfo]:
        """Every engine's info; ``live`` asks remote servers what they offer (blocking)."""
        return [r.engine.offered() if live else r.engine.info() for r in self.registrations()]

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
        info = engine.info()
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
