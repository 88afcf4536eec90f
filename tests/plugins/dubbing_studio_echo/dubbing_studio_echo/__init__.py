"""An engine plugin for the dubbing studio: the ``echo`` translator says every line unchanged.

Useful on its own to re-voice a transcript in its own language with other voices, and the
tests' proof that a package outside the studio can add an engine.
"""

from __future__ import annotations

from dubbing_studio.config import Settings
from dubbing_studio.domain.languages import LANGUAGE_NAMES
from dubbing_studio.domain.speech import Glossary
from dubbing_studio.engines.plugins import PluginRegistrar
from dubbing_studio.engines.protocols import Capability, EngineInfo, Translator
from dubbing_studio.engines.registry import Engine


class EchoTranslator(Engine, Translator):
    name = "echo"
    model_id = "echo-1"

    def info(self) -> EngineInfo:
        return EngineInfo(
            name=self.name,
            capability=Capability.TRANSLATE,
            description="Returns every line unchanged (a test plugin).",
            available=True,
            languages=tuple(LANGUAGE_NAMES),
        )

    def supports(self, source: str, target: str) -> bool:
        return source in LANGUAGE_NAMES and target in LANGUAGE_NAMES

    def translate(
        self, texts: list[str], source: str, target: str, glossary: Glossary | None = None
    ) -> list[str]:
        return list(texts)


def register(registry: PluginRegistrar, settings: Settings) -> None:
    """The entry point: called once per studio with its registry and settings."""
    registry.register(Capability.TRANSLATE, EchoTranslator())
