"""A run tells which artifacts it uses (a job store write each time) before touching them,
and never from the event loop's thread: that write would stall every other request there."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

from dubbing_studio.domain.dub import DubPlan, Transcript
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.pipeline.runner import DubPipeline
from dubbing_studio.services.studio import Studio


class UseLog:
    """An ``on_use`` that remembers each call's paths and thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, tuple[Path, ...]]] = []

    def __call__(self, paths: Sequence[Path]) -> None:
        self.calls.append((threading.get_ident(), tuple(paths)))

    @property
    def told(self) -> set[Path]:
        return {path for _, paths in self.calls for path in paths}

    def threads(self) -> set[int]:
        return {thread for thread, _ in self.calls}


def test_a_run_tells_every_artifact_it_uses_off_the_event_loop(
    pipeline_studio: Studio, jfk: Path, tmp_path: Path
) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    pipeline = DubPipeline(pipeline_studio, store)
    plan = DubPlan(target_language="es")

    async def run(transcript: Transcript | None = None) -> tuple[UseLog, int]:
        log = UseLog()
        await pipeline.run(jfk, plan, tmp_path / "out", transcript=transcript, on_use=log)
        return log, threading.get_ident()

    first, loop = asyncio.run(run())
    made = {p.relative_to(store.root) for p in store.root.rglob("*") if p.is_file()}
    assert made and made <= first.told, "every artifact the run made was told first"
    assert loop not in first.threads()

    # An edited transcript: recognition is looked up, not run, and the rest is found stored.
    result_lines = asyncio.run(pipeline.run(jfk, plan, tmp_path / "out")).segments
    edited = Transcript(language="en", duration=11.0, segments=tuple(result_lines))
    again, loop = asyncio.run(run(edited))
    assert again.told and loop not in again.threads()
    assert len(again.calls) < len(again.told), "looked-up artifacts are told in batches"
