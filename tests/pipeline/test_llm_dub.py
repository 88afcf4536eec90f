"""A dub whose translator is a real OpenAI-compatible chat server (llama.cpp serving
SmolLM2-135M), with timing tight enough that lines must be shortened by the model.

SmolLM2 translates badly (often it answers in English); these tests check that the dub
finishes with every line fitted or reported, and that the chat model is part of the keys.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dubbing_studio import media
from dubbing_studio.bootstrap import build_studio
from dubbing_studio.cli import app
from dubbing_studio.config import OpenAISettings, Settings
from dubbing_studio.domain.dub import DubPlan, FitOutcome, TimingPolicy
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.pipeline.runner import DubPipeline, DubResult
from tests.llm_server import llm_server

__all__ = ["llm_server"]  # the session fixture

pytestmark = [pytest.mark.llm, pytest.mark.slow]

# Short slots: JFK time-compressed to 60% of his pace (pitch kept), cut into short lines,
# dubbed at no speed-up; one speaker (no diarization, which is tested elsewhere).
PLAN = DubPlan(
    target_language="es",
    source_language="en",
    transcriber="whisper",
    translator="openai",
    synthesizer="espeak-ng",
    timing=TimingPolicy(max_speed=1.0, max_line_s=3.0),
    audio_formats=("wav",),
    diarize=False,
)


def llm_pipeline(base_url: str, root: Path, store: ArtifactStore, chat_model: str) -> DubPipeline:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=root,
        temp_dir=root / "tmp",
        openai_api_key=None,
        openai_base_url=base_url,
        # A 2-core machine running other tests beside the model can take minutes per reply.
        openai=OpenAISettings(
            chat_model=chat_model, max_output_tokens=128, max_retries=0, timeout_s=600.0
        ),
    )
    return DubPipeline(build_studio(settings), store)


@pytest.fixture(scope="module")
def fast_talker(jfk: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    samples, rate = media.decode_audio(jfk, channels="mono")
    faster = media.time_stretch(samples, rate, 1 / 0.6)
    return media.write_audio(tmp_path_factory.mktemp("fast") / "jfk-fast.wav", faster, rate, "wav")


@pytest.fixture(scope="module")
def llm_store(tmp_path_factory: pytest.TempPathFactory) -> ArtifactStore:
    return ArtifactStore(tmp_path_factory.mktemp("llm-artifacts"))


@pytest.fixture(scope="module")
def first_dub(
    llm_server: str,
    fast_talker: Path,
    llm_store: ArtifactStore,
    tmp_path_factory: pytest.TempPathFactory,
) -> DubResult:
    root = tmp_path_factory.mktemp("llm-dub")
    pipeline = llm_pipeline(llm_server, root, llm_store, "smollm2")
    return asyncio.run(pipeline.run(fast_talker, PLAN, root / "out"))


def test_overlong_lines_are_shortened_and_every_line_fitted_or_reported(
    first_dub: DubResult, fast_talker: Path
) -> None:
    calls = first_dub.engine_calls
    assert calls["translate:openai"] == 1, calls
    assert calls["shorten:openai"] >= 1, calls
    report = json.loads(first_dub.outputs["report.json"].read_text())
    assert len(report["segments"]) == len(first_dub.segments) >= 2, first_dub.segments
    outcomes = {o.value for o in FitOutcome}
    for line in report["segments"]:
        assert line["target_text"] and line["outcome"] in outcomes, line
        assert line["speed"] <= PLAN.timing.max_speed + 1e-3, line
    trimmed = sum(line["outcome"] == FitOutcome.TRIMMED.value for line in report["segments"])
    assert report["totals"]["trimmed"] == trimmed
    wav = first_dub.outputs["audio.wav"]
    assert abs(media.probe(wav).duration - media.probe(fast_talker).duration) <= 0.05


def test_an_unchanged_chat_model_reuses_everything(
    first_dub: DubResult,
    llm_server: str,
    fast_talker: Path,
    llm_store: ArtifactStore,
    tmp_path: Path,
) -> None:
    pipeline = llm_pipeline(llm_server, tmp_path, llm_store, "smollm2")
    again = asyncio.run(pipeline.run(fast_talker, PLAN, tmp_path / "out"))
    assert not again.engine_calls, again.engine_calls
    assert [s.target_text for s in again.segments] == [s.target_text for s in first_dub.segments]


def test_another_chat_model_translates_again_and_reuses_the_transcript(
    first_dub: DubResult,
    llm_server: str,
    fast_talker: Path,
    llm_store: ArtifactStore,
    tmp_path: Path,
) -> None:
    # llama.cpp's server answers any model name with its one model: same server, new key.
    pipeline = llm_pipeline(llm_server, tmp_path, llm_store, "smollm2-renamed")
    again = asyncio.run(pipeline.run(fast_talker, PLAN, tmp_path / "out"))
    calls = again.engine_calls
    assert calls["translate:openai"] == 1, calls
    assert not any(key.startswith("transcribe") for key in calls), calls
    assert [s.source_text for s in again.segments] == [s.source_text for s in first_dub.segments]


def test_the_cli_dubs_with_the_chat_server(
    llm_server: str, fast_talker: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same through ``dubbing-studio dub``, configured as a user would: environment."""
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    environment = {
        "OPENAI_BASE_URL": llm_server,
        "DUBBING_STUDIO_DATA_DIR": str(tmp_path / "data"),
        "DUBBING_STUDIO_ENGINES__TRANSCRIBER": "whisper",
        "DUBBING_STUDIO_OPENAI__CHAT_MODEL": "smollm2",
        "DUBBING_STUDIO_OPENAI__MAX_OUTPUT_TOKENS": "128",
        "DUBBING_STUDIO_OPENAI__MAX_RETRIES": "0",
        "DUBBING_STUDIO_OPENAI__TIMEOUT_S": "600",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "out"
    args = ["dub", str(fast_talker), "--from", "en", "--to", "es", "--translator", "openai"]
    args += ["--synthesizer", "espeak-ng", "--max-speed", "1.0", "--no-diarize"]
    args += ["--formats", "wav", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["segments"] and all(line["target_text"] for line in report["segments"])
    assert all(line["speed"] <= 1.0 + 1e-3 for line in report["segments"])
    assert (out / f"{fast_talker.stem}.es.wav").exists()
