"""Which languages a line's translation passes through."""

from __future__ import annotations

from dubbing_studio.domain.speech import Glossary
from dubbing_studio.pipeline.translate import translation_route


class _Pairs:
    """A translator that knows some direct pairs and nothing else."""

    name = "pairs"
    model_id = "pairs"

    def __init__(self, *pairs: str) -> None:
        self.pairs = {tuple(p.split("-")) for p in pairs}

    def supports(self, source: str, target: str) -> bool:
        return (source, target) in self.pairs

    def translate(
        self, texts: list[str], source: str, target: str, glossary: Glossary | None = None
    ) -> list[str]:
        return texts


class _SelfPivoting(_Pairs):
    def supports(self, source: str, target: str) -> bool:
        return super().supports(source, target) or (source, target) == ("en", "fr")

    def pivot(self, source: str, target: str) -> str | None:
        return "es" if (source, target) == ("en", "fr") else None


def test_direct_same_language_pivot_and_no_way() -> None:
    translator = _Pairs("de-en", "en-ca", "es-ca")
    assert translation_route(translator, "ca", "ca") == ("ca",), "re-voiced, not translated"
    assert translation_route(translator, "es", "ca") == ("es", "ca")
    assert translation_route(translator, "de", "ca") == ("de", "en", "ca"), "through English"
    assert translation_route(translator, "ja", "ca") is None


def test_a_pivot_the_engine_takes_itself_is_reported() -> None:
    assert translation_route(_SelfPivoting(), "en", "fr") == ("en", "es", "fr")
