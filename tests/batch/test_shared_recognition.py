"""Dubs of one file into two languages share one recognition, even when they run at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dubbing_studio.bootstrap import build_studio
from dubbing_studio.config import Settings
from dubbing_studio.domain.dub import DubPlan
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.pipeline.runner import DubPipeline
from tests.batch.conftest import TARGETS

pytestmark = pytest.mark.slow


def test_concurrent_languages_recognise_once(clips: list[Path], tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path, temp_dir=tmp_path / "tmp", whisper={"model": "tiny.en"}, _env_file=None
    )
    pipeline = DubPipeline(build_studio(settings), ArtifactStore(tmp_path / "artifacts"))

    async def both() -> list[int]:
        runs = [
            pipeline.run(
                clips[0],
                DubPlan(target_language=language, synthesizer="espeak-ng"),
                tmp_path / language,
            )
            for language in TARGETS
        ]
        results = await asyncio.gather(*runs)
        return [
            sum(n for call, n in r.engine_calls.items() if call.startswith("transcribe:"))
            for r in results
        ]

    assert sorted(asyncio.run(both())) == [0, 1]
