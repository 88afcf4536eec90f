"""A line in a language the translator lacks is translated from its speech heard in English.
That hearing needs the recogniser, so it is done in the recognise step: on workers the
translate step, on a machine that may only translate, reads it from the store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dubbing_studio import media
from dubbing_studio.domain.dub import DubPlan, Segment
from dubbing_studio.domain.speech import RECOGNITION_RATE
from dubbing_studio.engines.protocols import SynthesisOptions
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.pipeline.context import Progress
from dubbing_studio.pipeline.runner import DubPipeline
from dubbing_studio.pipeline.steps import RECOGNISE, TRANSLATE
from dubbing_studio.services.studio import Studio

pytestmark = pytest.mark.slow

JAPANESE = "皆さん、おはようございます。今日は私たちの町の歴史について話します。"
# Apertium has no Japanese: English, heard from the speech, is the way to Spanish.
PLAN = DubPlan(target_language="es", synthesizer="espeak-ng")


@pytest.fixture(scope="module")
def japanese(pipeline_studio: Studio, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Japanese speech spoken by Kokoro, with a second of silence either side."""
    kokoro = pipeline_studio.registry.synthesizer("kokoro")
    speech = kokoro.synthesize(JAPANESE, SynthesisOptions(voice="jf_alpha", language="ja"))
    spoken = 0.5 * np.clip(
        media.resample(speech.samples, speech.sample_rate, RECOGNITION_RATE), -1, 1
    )
    pause = np.zeros(RECOGNITION_RATE, dtype=np.float32)
    path = tmp_path_factory.mktemp("japanese") / "japanese.wav"
    media.write_audio(
        path, np.concatenate([pause, spoken.astype(np.float32), pause]), RECOGNITION_RATE, "wav"
    )
    return path


def test_the_translate_step_reads_the_english_the_recognise_step_heard(
    pipeline_studio: Studio, japanese: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stepwise = DubPipeline(pipeline_studio, ArtifactStore(tmp_path / "steps"))
    translated: list[Segment] = []

    def keep(event: Progress) -> None:
        if event.stage == "translate":
            translated.extend(event.segments)

    asyncio.run(stepwise.run_through(RECOGNISE, japanese, PLAN, tmp_path / "out"))
    transcriber = pipeline_studio.registry.transcriber(PLAN.transcriber)
    heard: list[Any] = []
    monkeypatch.setattr(transcriber, "transcribe", lambda *args: heard.append(args))
    asyncio.run(stepwise.run_through(TRANSLATE, japanese, PLAN, tmp_path / "out", progress=keep))
    assert heard == [], "the translate step did not use the recogniser"
    assert translated and all(line.language == "ja" for line in translated)
    assert all(line.translated_via == "en" and line.target_text for line in translated)
    monkeypatch.undo()

    # In one run the lines come out the same.
    whole = DubPipeline(pipeline_studio, ArtifactStore(tmp_path / "whole"))
    result = asyncio.run(whole.run(japanese, PLAN, tmp_path / "whole-out"))
    assert [(s.target_text, s.translated_via) for s in result.segments] == [
        (s.target_text, s.translated_via) for s in translated
    ]
