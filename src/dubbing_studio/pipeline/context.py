"""What the stages of one dub share: engines (through their gate), the artifact store, the
plan, engine-call counts and a progress callback."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from dubbing_studio.config import Settings
from dubbing_studio.domain.dub import DubPlan, Segment
from dubbing_studio.engines.gate import EngineGate
from dubbing_studio.engines.protocols import SpeakerEncoder
from dubbing_studio.engines.registry import EngineRegistry
from dubbing_studio.media.sandbox import Sandbox
from dubbing_studio.pipeline.artifacts import ArtifactStore

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Progress:
    """One progress event: ``stage`` is one of ``STAGES``; ``done``/``total`` count items;
    ``segments`` are lines that just appeared or changed (transcribed, translated, dubbed)."""

    stage: str
    done: int
    total: int
    message: str = ""
    segments: tuple[Segment, ...] = ()
    language: str | None = None  # the source language, once known


STAGES = ("ingest", "transcribe", "translate", "synthesize", "hear_back", "mix", "export")

ProgressCallback = Callable[[Progress], None]


def ignore_progress(_: Progress) -> None:
    """The default progress callback."""


class DubEngines(Protocol):
    """The little the pipeline needs of whoever wires the engines (``EngineBundle``, built in
    ``bootstrap``): named so the pipeline depends on it, not on the services above it."""

    @property
    def settings(self) -> Settings: ...

    @property
    def registry(self) -> EngineRegistry: ...

    @property
    def gate(self) -> EngineGate: ...

    @property
    def speaker_encoder(self) -> SpeakerEncoder: ...

    @property
    def media_sandbox(self) -> Sandbox: ...


class KeyedLocks:
    """One asyncio lock per artifact key, shared by the runs of one pipeline: two dubs of the
    same file (a batch into two languages) compute a stage once, the second finds it stored."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._holders: Counter[str] = Counter()

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._holders[key] += 1
        try:
            async with lock:
                yield
        finally:
            self._holders[key] -= 1
            if not self._holders[key]:
                del self._holders[key], self._locks[key]


@dataclass(frozen=True, slots=True)
class EngineBundle:
    """Exactly what ``DubEngines`` names, and nothing more: what ``bootstrap`` hands the
    pipeline."""

    settings: Settings
    registry: EngineRegistry
    gate: EngineGate
    speaker_encoder: SpeakerEncoder
    media_sandbox: Sandbox


@dataclass
class DubContext:
    studio: DubEngines
    store: ArtifactStore
    plan: DubPlan
    progress: ProgressCallback = ignore_progress
    engine_calls: Counter[str] = field(default_factory=Counter)
    locks: KeyedLocks = field(default_factory=KeyedLocks)
    # For the report: which engine and model did each stage's work (``stage: "engine:model"``;
    # a transcriber that handed off names the model that answered), and the translations
    # that were rewritten shorter to fit (segment id: the translation before).
    engines_used: dict[str, str] = field(default_factory=dict)
    shortened: dict[str, str] = field(default_factory=dict)

    async def engine(self, label: str, engine: str, fn: Callable[..., T], *args: Any) -> T:
        """Call an engine through the gate (bounded per engine), counting the call."""
        self.engine_calls[f"{label}:{engine}"] += 1
        return await self.studio.gate.run(engine, fn, *args)

    async def compute(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """CPU or file work that is not an engine: off the event loop, at low priority."""
        return await self.studio.gate.compute(fn, *args, **kwargs)

    async def use(self, *artifacts: tuple[str, str]) -> None:
        """Tells the store's tracking that this run uses these ``(key, ext)`` artifacts,
        before any of them is touched: in one call, on a thread, as it writes to the job
        store (which would stall every request of the event loop)."""
        if untold := self.store.untold(artifacts):
            await asyncio.to_thread(self.store.tell, untold)

    def report(
        self,
        stage: str,
        done: int,
        total: int,
        message: str = "",
        segments: tuple[Segment, ...] = (),
        language: str | None = None,
    ) -> None:
        self.progress(Progress(stage, done, total, message, segments, language))
