from __future__ import annotations

import pytest

from dubbing_studio.domain.errors import EngineUnavailable, NotFound
from dubbing_studio.engines.lease import ModelLease
from dubbing_studio.engines.protocols import Capability, EngineInfo
from dubbing_studio.engines.registry import Engine, EngineRegistry


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lease_loads_once_and_unloads_after_idle_ttl() -> None:
    clock = FakeClock()
    lease = ModelLease(lambda: object(), idle_ttl_s=10, clock=clock)
    with lease.use() as first, lease.use() as second:
        assert first is second
        clock.now = 100
        assert not lease.reap(), "never unloaded while borrowed"
    assert lease.loads == 1
    clock.now = 105
    assert not lease.reap(), "idle only 5 s"
    clock.now = 111
    assert lease.reap() and not lease.loaded
    with lease.use():
        pass
    assert lease.loads == 2


def test_warm_loads_once_before_any_use_and_idles_from_then() -> None:
    clock = FakeClock()
    lease = ModelLease(lambda: object(), idle_ttl_s=10, clock=clock)
    clock.now = 50
    lease.warm()
    lease.warm()
    assert lease.loaded and lease.loads == 1, "idempotent"
    with lease.use():
        pass
    assert lease.loads == 1, "the first use finds it loaded"
    lease.warm()
    clock.now = 55
    assert not lease.reap() and lease.loaded


class StubEngine(Engine):
    def __init__(self, name: str, available: bool) -> None:
        self.name = name
        self._available = available

    def info(self) -> EngineInfo:
        return EngineInfo(
            name=self.name,
            capability=Capability.TRANSLATE,
            description="stub",
            available=self._available,
            reason=None if self._available else "binary missing",
        )


def test_registry_defaults_unknown_and_unavailable() -> None:
    registry = EngineRegistry({Capability.TRANSLATE: "b"})
    registry.register(Capability.TRANSLATE, StubEngine("a", True))
    registry.register(Capability.TRANSLATE, StubEngine("b", False))
    assert registry.get(Capability.TRANSLATE, "a").name == "a"
    with pytest.raises(EngineUnavailable, match="binary missing"):
        registry.get(Capability.TRANSLATE)
    with pytest.raises(NotFound, match="known: a, b"):
        registry.get(Capability.TRANSLATE, "zzz")
    with pytest.raises(NotFound):
        registry.get(Capability.SYNTHESIZE, "a")
