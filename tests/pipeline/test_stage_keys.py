"""Stage keys name the engine's model: switching a model recomputes that stage (and what
depends on its output) and reuses the stages before it; keeping the model reuses everything.

Real engines on real speech: Whisper base and tiny.en, Apertium, espeak-ng.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from dubbing_studio.bootstrap import build_studio
from dubbing_studio.config import EspeakSettings, Settings, WhisperSettings
from dubbing_studio.domain.dub import DubPlan
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.pipeline.runner import DubPipeline, DubResult

pytestmark = pytest.mark.slow

PLAN = DubPlan(
    target_language="es",
    source_language="en",
    transcriber="whisper",
    translator="apertium",
    synthesizer="espeak-ng",
    audio_formats=("wav",),
    diarize=False,
)


def dub(store: ArtifactStore, source: Path, out: Path, **settings: object) -> DubResult:
    root = out / "data"
    studio = build_studio(
        Settings(_env_file=None, data_dir=root, temp_dir=root / "tmp", **settings)  # type: ignore[call-arg]
    )
    return asyncio.run(DubPipeline(studio, store).run(source, PLAN, out))


def stage_files(store: ArtifactStore, stage: str) -> dict[Path, int]:
    """The stage's artifacts with their modification times (a rewrite changes them)."""
    return {p: p.stat().st_mtime_ns for p in store.root.glob(f"*/{stage}-*")}


def transcribed(result: DubResult) -> bool:
    return any(key.startswith("transcribe:") for key in result.engine_calls)


def test_switching_the_whisper_model_transcribes_again_and_reuses_the_audio(
    jfk: Path, tmp_path: Path
) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    base = WhisperSettings(model="base")
    tiny = WhisperSettings(model="tiny.en")
    first = dub(store, jfk, tmp_path / "base", whisper=base)
    assert first.engine_calls["transcribe:whisper"] == 1
    audio = stage_files(store, "recognition-audio")
    assert audio and len(stage_files(store, "transcript")) == 1

    switched = dub(store, jfk, tmp_path / "tiny", whisper=tiny)
    assert switched.engine_calls["transcribe:whisper"] == 1, switched.engine_calls
    assert stage_files(store, "recognition-audio") == audio, "decoded audio was reused"
    assert len(stage_files(store, "transcript")) == 2

    for whisper in (base, tiny):  # unchanged models: nothing is recomputed
        again = dub(store, jfk, tmp_path / f"again-{whisper.model}", whisper=whisper)
        assert not again.engine_calls, (whisper.model, again.engine_calls)


def test_switching_the_tts_program_speaks_again_and_reuses_text(jfk: Path, tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    first = dub(store, jfk, tmp_path / "first")
    assert first.engine_calls["synthesize:espeak-ng"] >= 1
    # Another espeak-ng program (here the same one under another path) is another model.
    other = tmp_path / "bin" / "espeak-ng-other"
    other.parent.mkdir()
    os.symlink("/usr/bin/espeak-ng", other)
    switched = dub(store, jfk, tmp_path / "switched", espeak=EspeakSettings(binary=str(other)))
    calls = switched.engine_calls
    assert not transcribed(switched) and "translate:apertium" not in calls, calls
    assert calls["synthesize:espeak-ng"] >= len(switched.segments), calls
    assert [s.target_text for s in switched.segments] == [s.target_text for s in first.segments]
    assert {s.audio_key for s in switched.segments}.isdisjoint(s.audio_key for s in first.segments)

    again = dub(store, jfk, tmp_path / "again", espeak=EspeakSettings(binary=str(other)))
    assert not again.engine_calls, again.engine_calls
