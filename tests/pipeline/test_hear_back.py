"""Hearing the dub back in windows, beside the synthesis of the next lines and the mix: real
engines on real speech, a fresh artifact store per dub. The windows are made small here, so
the lines of an 11 s input are heard in several."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dubbing_studio.domain.dub import DubPlan
from dubbing_studio.engines.local.whisper import WhisperTranscriber
from dubbing_studio.engines.protocols import TranscribeOptions
from dubbing_studio.pipeline import backcheck, runner
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.pipeline.runner import DubPipeline, DubResult
from dubbing_studio.pipeline.steps import HEAR_BACK, MIX, SYNTHESIZE
from dubbing_studio.services.studio import Studio

pytestmark = pytest.mark.slow

PLAN = DubPlan(target_language="en", audio_formats=("wav",))


@pytest.fixture(scope="module", autouse=True)
def one_clip_per_window() -> Iterator[None]:
    """Every clip longer than half a second goes to the recogniser in a window of its own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backcheck, "WINDOW_S", 1.5)
        yield


def _pipeline(studio: Studio, root: Path) -> DubPipeline:
    return DubPipeline(studio, ArtifactStore(root / "artifacts"))


def _heard(result: DubResult) -> list[dict[str, Any]]:
    """What report.json says each line was heard as, and the rest of its line but the ids
    (which every run makes anew) and the outputs."""
    report = json.loads(result.outputs["report.json"].read_text())
    return [
        {key: value for key, value in line.items() if key != "id"} for line in report["segments"]
    ]


@pytest.fixture(scope="module")
def whole(
    pipeline_studio: Studio, jfk: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[DubPipeline, DubResult]:
    pipeline = _pipeline(pipeline_studio, tmp_path_factory.mktemp("whole"))
    out = tmp_path_factory.mktemp("whole-out")
    return pipeline, asyncio.run(pipeline.run(jfk, PLAN, out))


def test_each_line_is_heard_back_in_windows(
    whole: tuple[DubPipeline, DubResult], pipeline_studio: Studio
) -> None:
    _, result = whole
    lines = _heard(result)
    clips = {segment.audio_key for segment in result.segments}
    assert len(clips) >= 2, "the input gives several lines, so several windows"
    assert result.engine_calls["hear-back:whisper"] == len(clips)
    for line in lines:
        assert line["heard_text"] and line["wer"] is not None and line["cer"] is not None
    mean_wer = sum(line["wer"] for line in lines) / len(lines)
    assert mean_wer <= 0.15, lines
    assert result.report.engines["hear_back"] == "whisper:tiny.en", "the model for English"
    temp_dir = pipeline_studio.settings.temp_dir
    assert not list(temp_dir.glob(".tmp-*")), "hearing back left a temp file"


def test_the_hearing_model_loads_before_the_first_window_asks_for_it(
    pipeline_studio: Studio, jfk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tiny.en, which the recogniser does not use, starts loading as the first lines are
    spoken: the first window's call would otherwise wait for it. A rerun, which finds every
    line and what was heard of it stored, loads nothing."""
    calls: list[tuple[str, str | None]] = []
    warm_model, transcribe = WhisperTranscriber.warm_model, WhisperTranscriber.transcribe

    def warming(self: WhisperTranscriber, model: str) -> None:
        calls.append(("warm", model))
        warm_model(self, model)

    def transcribing(self: WhisperTranscriber, audio: Path, options: TranscribeOptions) -> Any:
        calls.append(("transcribe", options.model))
        return transcribe(self, audio, options)

    monkeypatch.setattr(WhisperTranscriber, "warm_model", warming)
    monkeypatch.setattr(WhisperTranscriber, "transcribe", transcribing)
    pipeline = _pipeline(pipeline_studio, tmp_path)
    asyncio.run(pipeline.run(jfk, PLAN, tmp_path / "out"))

    assert calls.count(("warm", "tiny.en")) == 1, calls
    assert calls.index(("warm", "tiny.en")) < calls.index(("transcribe", "tiny.en")), calls
    calls.clear()
    asyncio.run(pipeline.run(jfk, PLAN, tmp_path / "again"))
    assert calls == []


def test_a_rerun_asks_no_engine_and_reports_the_same(
    whole: tuple[DubPipeline, DubResult], jfk: Path, tmp_path: Path
) -> None:
    pipeline, first = whole
    again = asyncio.run(pipeline.run(jfk, PLAN, tmp_path))
    assert sum(again.engine_calls.values()) == 0, again.engine_calls
    assert _heard(again) == _heard(first)


def test_steps_on_their_own_report_what_one_run_does(
    pipeline_studio: Studio, jfk: Path, tmp_path: Path
) -> None:
    """As a dub's steps run on workers: synthesis alone hears nothing; the hear-back step
    then hears every line; the mix step only reads what they stored. The same report as one
    run from the same spoken lines (a copy of the store after synthesis: Piper's takes vary
    from run to run), which hears them back beside the mix."""
    stepped, whole = tmp_path / "stepped", tmp_path / "whole"
    pipeline = _pipeline(pipeline_studio, stepped)
    assert asyncio.run(pipeline.run_through(SYNTHESIZE, jfk, PLAN, stepped / "out")) is None
    assert not list((stepped / "artifacts").rglob("heard-back*"))
    shutil.copytree(stepped / "artifacts", whole / "artifacts")

    assert asyncio.run(pipeline.run_through(HEAR_BACK, jfk, PLAN, stepped / "out")) is None
    mixed = asyncio.run(pipeline.run_through(MIX, jfk, PLAN, stepped / "out"))
    assert mixed is not None
    assert not [call for call in mixed.engine_calls if call.startswith("hear-back:")]

    at_once = asyncio.run(_pipeline(pipeline_studio, whole).run(jfk, PLAN, whole / "out"))
    assert at_once.engine_calls["hear-back:whisper"] >= 2
    assert not [call for call in at_once.engine_calls if call.startswith("synthesize:")]
    assert _heard(mixed) == _heard(at_once)


def test_a_failing_dub_leaves_no_window_running_and_no_temp_file(
    pipeline_studio: Studio, jfk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Synthesis fails after the first line was sent to be heard back: the dub fails, with
    no hearing left running behind it."""
    speak_line = runner.speak_line
    spoken = 0

    async def failing_second_line(*args: Any) -> Any:
        nonlocal spoken
        spoken += 1
        if spoken == 2:
            await asyncio.sleep(0.2)  # the first line's window is being heard
            raise RuntimeError("synthesizer died")
        return await speak_line(*args)

    monkeypatch.setattr(runner, "speak_line", failing_second_line)
    pipeline = _pipeline(pipeline_studio, tmp_path)
    left: list[asyncio.Task[Any]] = []

    async def dub() -> None:
        try:
            await pipeline.run(jfk, PLAN, tmp_path / "out")
        finally:
            left.extend(t for t in asyncio.all_tasks() if t is not asyncio.current_task())

    with pytest.raises(RuntimeError, match="synthesizer died"):
        asyncio.run(dub())
    assert spoken == 2
    assert not left, left
    assert not list(pipeline_studio.settings.temp_dir.glob(".tmp-*"))
    assert not (tmp_path / "out" / "report.json").exists()
