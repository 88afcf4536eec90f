"""All local engines register under their capabilities, cheaply, and describe themselves."""

from __future__ import annotations

from pathlib import Path

from dubbing_studio.config import Settings
from dubbing_studio.engines.local import register_local_engines
from dubbing_studio.engines.protocols import Capability, Synthesizer, Transcriber, Translator
from dubbing_studio.engines.registry import EngineRegistry


def test_local_engines_register_by_capability_without_loading_anything(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    registry = EngineRegistry()

    register_local_engines(registry, settings)

    assert registry.names(Capability.TRANSCRIBE) == ["whisper"]
    assert registry.names(Capability.TRANSLATE) == ["apertium", "llamacpp"]
    assert registry.names(Capability.SYNTHESIZE) == ["piper", "kokoro", "espeak-ng"]
    assert isinstance(registry.transcriber("whisper"), Transcriber)
    assert isinstance(registry.translator("apertium"), Translator)
    for name in registry.names(Capability.SYNTHESIZE):
        assert isinstance(registry.synthesizer(name), Synthesizer)
    infos = registry.describe()
    assert all(info.available for info in infos), [i.reason for i in infos if not i.available]
    registry.release_idle()
    assert not (tmp_path / "data").exists(), "models are joined or assembled on first use only"
