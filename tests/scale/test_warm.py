"""A worker loads the models of the queues it takes when it starts, with the real engines:
the first dub it runs waits for none of them."""

from __future__ import annotations

from pathlib import Path

from dubbing_studio.bootstrap import build_studio
from dubbing_studio.config import Settings
from dubbing_studio.domain.errors import EngineFailed
from dubbing_studio.engines.protocols import Capability, EngineInfo
from dubbing_studio.engines.registry import Engine, EngineRegistry
from dubbing_studio.scale.worker import warm_engines


def test_a_worker_loads_the_engines_of_its_queues_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    studio = build_studio(settings)
    whisper = studio.registry.get(Capability.TRANSCRIBE, "whisper")

    warmed = warm_engines(studio, ["mt", "mix"])
    assert not whisper.info().extra["loaded"], "asr is not among its queues"
    assert "transcribe:whisper" not in warmed

    warmed = warm_engines(studio, ["asr", "tts"])
    assert whisper.info().extra["loaded"]
    assert {"transcribe:whisper", "speaker-encoder:resemblyzer"} <= set(warmed)
    assert {"synthesize:piper", "synthesize:kokoro"} <= set(warmed), "every voice a dub casts"
    assert warm_engines(studio, ["asr"]) == [
        "transcribe:whisper",
        "hear-back:whisper:tiny.en",  # the hear-back step runs on asr
        "speaker-encoder:resemblyzer",
    ]
    assert whisper.info().extra["loaded"], "warming again is harmless"


class UnloadableTranslator(Engine):
    name = "unloadable"

    def info(self) -> EngineInfo:
        return EngineInfo(
            name=self.name, capability=Capability.TRANSLATE, description="", available=True
        )

    def warm(self) -> None:
        raise EngineFailed("its model file is damaged")


def test_an_engine_that_fails_to_load_is_skipped_and_the_worker_serves_the_rest(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    registry = EngineRegistry({Capability.TRANSLATE: "unloadable"})
    registry.register(Capability.TRANSLATE, UnloadableTranslator())
    studio = build_studio(settings, registry)
    assert warm_engines(studio, ["mt"]) == []
