"""Dubs whose engines are other real servers on loopback: transcription and speech on a second
studio process's own OpenAI-compatible ``/v1``, chat on llama.cpp (SmolLM2), each capability
configured with its own endpoint, as a user would (environment variables).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dubbing_studio import media
from dubbing_studio.bootstrap import build_studio, dub_engines
from dubbing_studio.config import OpenAIEndpoint, OpenAISettings, Settings
from dubbing_studio.domain.dub import DubPlan, FitOutcome
from dubbing_studio.domain.errors import InvalidInput
from dubbing_studio.engines.protocols import TranscribeOptions
from dubbing_studio.engines.registry import EngineRegistry
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.pipeline.runner import DubPipeline, DubResult
from tests.llm_server import llm_server

from .conftest import Server
from .test_server_process import finished, submit, wait_for

__all__ = ["llm_server"]  # the session fixture

pytestmark = pytest.mark.slow

# Neither server may pick up an OpenAI configuration from the environment running the tests.
NO_OPENAI: dict[str, str | None] = {
    "OPENAI_API_KEY": None,
    "OPENAI_BASE_URL": None,
    "DUBBING_STUDIO_RATE_LIMIT__REQUESTS_PER_MINUTE": "0",
}
VOICES = {"S1": "onyx", "S2": "nova"}


@pytest.fixture(scope="module")
def engine_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A studio process on local engines, used by the other studio as its engine server."""
    root = tmp_path_factory.mktemp("engine-studio")
    server = Server(data_dir=root / "data", temp_dir=root / "tmp", env=NO_OPENAI)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fast_talker(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """JFK sped up to 60% of his time (pitch kept), so translated lines must be shortened
    or fitted."""
    samples, rate = media.decode_audio(samples_dir / "jfk.flac", channels="mono")
    faster = media.time_stretch(samples, rate, 1 / 0.6)
    path = tmp_path_factory.mktemp("talker") / "jfk-fast.wav"
    return media.write_audio(path, faster, rate, "wav")


def test_the_studio_v1_lists_its_voices(engine_studio: Server) -> None:
    voices = httpx.get(f"{engine_studio.url}/v1/audio/voices", timeout=30).json()["voices"]
    by_id = {v["id"]: v for v in voices}
    assert {"onyx", "nova", "alloy"} <= set(by_id), by_id
    assert "es" in by_id["onyx"]["languages"] and by_id["onyx"]["gender"] == "male"
    joe = by_id["en_US-joe-medium"]  # a local voice, with its engine and language
    assert joe["engine"] == "piper" and joe["languages"] == ["en"]


def engine_env(engine_studio: Server) -> dict[str, str | None]:
    """Transcription and speech on the engine studio's /v1, configured as a user would."""
    engines_v1 = f"{engine_studio.url}/v1"
    return {
        **NO_OPENAI,
        "DUBBING_STUDIO_OPENAI__TRANSCRIPTION__BASE_URL": engines_v1,
        "DUBBING_STUDIO_OPENAI__TRANSCRIPTION__MODEL": "whisper-1",
        "DUBBING_STUDIO_OPENAI__SPEECH__BASE_URL": engines_v1,
        "DUBBING_STUDIO_OPENAI__SPEECH__MODEL": "tts-1",
    }


def dub_over_api(
    root: Path,
    env: dict[str, str | None],
    source: Path,
    options: dict[str, Any],
    timeout: float,
) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """Start a studio process with ``env``, dub ``source`` into Spanish through its HTTP API;
    returns its ``GET /api/v1/engines``, the dub's report and the dubbed WAV."""
    studio = Server(data_dir=root / "data", temp_dir=root / "tmp", env=env)
    studio.start()
    try:
        listed = httpx.get(f"{studio.url}/api/v1/engines", timeout=60).json()
        options = {**options, "audio_formats": ["wav"], "diarize": False}
        dub_id = submit(studio, source, "es", json.dumps(options))
        wait_for(studio, dub_id, finished, timeout=timeout)
        base = f"{studio.url}/api/v1/dubs/{dub_id}/outputs"
        report = httpx.get(f"{base}/report.json", timeout=30).json()
        wav = root / "dub.wav"
        wav.write_bytes(httpx.get(f"{base}/audio.wav", timeout=60).content)
    finally:
        studio.stop()
    assert abs(media.probe(wav).duration - media.probe(source).duration) <= 0.05
    return listed, report, wav


def assert_fitted_or_reported(report: dict[str, Any], max_speed: float) -> None:
    outcomes = {o.value for o in FitOutcome}
    lines = report["segments"]
    assert lines
    for line in lines:
        assert line["target_text"] and line["outcome"] in outcomes, line
        assert line["speed"] <= max_speed + 1e-3, line
        if line["shortened_from"] is not None:
            assert len(line["target_text"]) < len(line["shortened_from"]), line
    totals = report["totals"]
    assert totals["shortened"] == sum(line["shortened_from"] is not None for line in lines)
    assert totals["trimmed"] == sum(line["outcome"] == "trimmed" for line in lines)


def test_a_dub_with_transcription_and_per_speaker_voices_on_another_studio(
    engine_studio: Server, samples_dir: Path, tmp_path: Path
) -> None:
    engines_v1 = f"{engine_studio.url}/v1"
    two_speakers = samples_dir / "stereo_diarization.wav"  # one per channel
    options = {
        "translator": "apertium",
        "speaker_voices": {speaker: f"openai:{voice}" for speaker, voice in VOICES.items()},
    }
    listed, report, _ = dub_over_api(
        tmp_path, engine_env(engine_studio), two_speakers, options, timeout=600
    )
    assert listed["defaults"]["transcribe"] == listed["defaults"]["synthesize"] == "openai"
    speech = next(
        e for e in listed["engines"] if e["name"] == "openai" and e["capability"] == "synthesize"
    )
    # As the engine studio reports them: its voices (local ids too) and its models.
    assert {"onyx", "en_US-joe-medium"} <= {v["id"] for v in speech["voices"]}
    assert {"tts-1", "piper"} <= set(speech["models"])

    engines = report["engines"]
    assert engines["transcribe"] == f"openai:whisper-1@{engines_v1}", engines
    assert engines["synthesize:openai"] == f"openai:tts-1@{engines_v1}", engines
    lines = report["segments"]
    assert {line["speaker"] for line in lines} == set(VOICES), lines
    for line in lines:  # every line spoken remotely, in its speaker's voice
        assert line["engine"] == "openai" and line["voice"] == VOICES[line["speaker"]], line
    assert_fitted_or_reported(report, max_speed=1.3)


@pytest.mark.llm
def test_a_dub_over_the_api_with_chat_on_llama_cpp_and_speech_on_another_studio(
    engine_studio: Server, llm_server: str, fast_talker: Path, tmp_path: Path
) -> None:
    env = {
        **engine_env(engine_studio),
        "DUBBING_STUDIO_OPENAI__CHAT__BASE_URL": llm_server,
        "DUBBING_STUDIO_OPENAI__CHAT__MODEL": "smollm2",
        "DUBBING_STUDIO_OPENAI__MAX_OUTPUT_TOKENS": "128",
        "DUBBING_STUDIO_OPENAI__MAX_RETRIES": "0",
        # A 2-core machine running other tests beside the model can take minutes a reply.
        "DUBBING_STUDIO_OPENAI__TIMEOUT_S": "900",
    }
    options = {
        "speaker_voices": {"S1": "openai:onyx"},
        "timing": {"max_speed": 1.0, "max_line_s": 3.0},
    }
    listed, report, _ = dub_over_api(tmp_path, env, fast_talker, options, timeout=3600)
    remote = {listed["defaults"][c] for c in ("transcribe", "translate", "synthesize")}
    assert remote == {"openai"}, listed["defaults"]  # separation stays local: no such endpoint
    engines = report["engines"]
    assert engines["translate"] == f"openai:smollm2@{llm_server}", engines
    assert engines["synthesize:openai"].startswith(f"openai:tts-1@{engine_studio.url}/v1")
    assert all(line["voice"] == "onyx" for line in report["segments"]), report["segments"]
    assert_fitted_or_reported(report, max_speed=1.0)


# --- in process, against the engine studio -------------------------------------------------


def remote_settings(root: Path, engines_v1: str, **openai: object) -> Settings:
    endpoint = OpenAIEndpoint(base_url=engines_v1)
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=root,
        temp_dir=root / "tmp",
        openai_api_key=None,
        openai_base_url=None,
        openai=OpenAISettings(
            transcription=endpoint,
            speech=endpoint,
            max_retries=0,
            **openai,  # type: ignore[arg-type]
        ),
    )


PLAN = DubPlan(
    target_language="es",
    source_language="en",
    translator="apertium",
    speaker_voices={"S1": "openai:onyx"},
    audio_formats=("wav",),
    diarize=False,
)


def remote_dub(
    store: ArtifactStore, source: Path, out: Path, engines_v1: str, tts: str
) -> DubResult:
    settings = remote_settings(out / "data", engines_v1, tts_model=tts)
    pipeline = DubPipeline(dub_engines(build_studio(settings)), store)
    return asyncio.run(pipeline.run(source, PLAN, out))


def test_switching_the_remote_tts_model_speaks_again_and_reuses_the_rest(
    engine_studio: Server, samples_dir: Path, tmp_path: Path
) -> None:
    engines_v1 = f"{engine_studio.url}/v1"
    jfk = samples_dir / "jfk.flac"
    store = ArtifactStore(tmp_path / "artifacts")
    first = remote_dub(store, jfk, tmp_path / "first", engines_v1, "tts-1")
    assert first.engine_calls["transcribe:openai"] == 1, first.engine_calls
    assert first.engine_calls["synthesize:openai"] >= len(first.segments) >= 1
    assert first.report.engines["synthesize:openai"] == f"openai:tts-1@{engines_v1}"
    transcripts = {p: p.stat().st_mtime_ns for p in store.root.glob("*/transcript-*")}

    # The engine studio speaks the model "espeak-ng" with espeak-ng: another model, new speech.
    switched = remote_dub(store, jfk, tmp_path / "switched", engines_v1, "espeak-ng")
    # New speech is heard back (report.json's quality section); nothing before it reruns.
    calls = Counter({k: n for k, n in switched.engine_calls.items() if k != "hear-back:openai"})
    assert set(calls) == {"synthesize:openai"}, calls
    assert calls["synthesize:openai"] >= len(switched.segments), calls
    assert {p: p.stat().st_mtime_ns for p in store.root.glob("*/transcript-*")} == transcripts
    assert [s.target_text for s in switched.segments] == [s.target_text for s in first.segments]
    assert {s.audio_key for s in switched.segments}.isdisjoint(s.audio_key for s in first.segments)

    again = remote_dub(store, jfk, tmp_path / "again", engines_v1, "espeak-ng")
    assert not again.engine_calls, again.engine_calls


def remote_transcriber(root: Path, engines_v1: str, fallback: str) -> EngineRegistry:
    settings = remote_settings(
        root,
        engines_v1,
        transcribe_model="gpt-4o-transcribe",
        timestamp_fallback=fallback,
    )
    return build_studio(settings).registry


@pytest.mark.parametrize(
    ("fallback", "answered"),
    [("remote", "whisper-1@"), ("local", "whisper:")],
)
def test_a_model_without_timestamps_hands_off_and_says_to_which(
    engine_studio: Server, samples_dir: Path, tmp_path: Path, fallback: str, answered: str
) -> None:
    registry = remote_transcriber(tmp_path, f"{engine_studio.url}/v1", fallback)
    result = registry.transcriber().transcribe(samples_dir / "jfk.flac", TranscribeOptions())
    assert answered in result.model, result.model
    assert result.segments and "ask not what your country" in result.text.lower()


def test_without_a_fallback_the_error_says_why_and_what_to_set(
    engine_studio: Server, samples_dir: Path, tmp_path: Path
) -> None:
    registry = remote_transcriber(tmp_path, f"{engine_studio.url}/v1", "none")
    with pytest.raises(InvalidInput, match="gpt-4o-transcribe gives no segment timestamps") as err:
        registry.transcriber().transcribe(samples_dir / "jfk.flac", TranscribeOptions())
    assert "TIMESTAMP_FALLBACK" in err.value.detail
