"""``auto`` background: separate where a separator can run, else duck; others pass through."""

from __future__ import annotations

import pytest

from dubbing_studio.domain.dub import MixPolicy
from dubbing_studio.engines.protocols import Capability, EngineInfo
from dubbing_studio.engines.registry import Engine, EngineRegistry
from dubbing_studio.pipeline.separate import background_mode


class _Separator(Engine):
    name = "fake-separator"

    def __init__(self, available: bool) -> None:
        self._available = available

    def info(self) -> EngineInfo:
        return EngineInfo(self.name, Capability.SEPARATE, "", self._available, "not installed")


def _registry(separator: bool | None) -> EngineRegistry:
    registry = EngineRegistry()
    if separator is not None:
        registry.register(Capability.SEPARATE, _Separator(separator))
    return registry


@pytest.mark.parametrize(
    ("separator", "expected"), [(True, "separate"), (False, "duck"), (None, "duck")]
)
def test_auto_separates_only_where_a_separator_can_run(
    separator: bool | None, expected: str
) -> None:
    assert MixPolicy().background == "auto"
    assert background_mode(MixPolicy(), _registry(separator)) == expected


@pytest.mark.parametrize("chosen", ["duck", "separate", "replace"])
def test_a_chosen_background_is_kept(chosen: str) -> None:
    assert background_mode(MixPolicy(background=chosen), _registry(False)) == chosen
