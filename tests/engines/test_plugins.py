"""Engine plugins: the installed test plugin registers through its entry point, and plugins
that fail in any way are reported and left out while the studio builds as usual."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from dubbing_studio.bootstrap import build_registry
from dubbing_studio.config import ApertiumSettings, Settings
from dubbing_studio.engines.local.apertium import ApertiumTranslator
from dubbing_studio.engines.plugins import (
    ENTRY_POINT_GROUP,
    PluginRegistrar,
    load_engine_plugins,
)
from dubbing_studio.engines.protocols import Capability
from dubbing_studio.engines.registry import Engine, EngineRegistry
from tests.conftest import require_echo_plugin

ECHO_DISTRIBUTION = "dubbing-studio-echo"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]


def test_the_installed_echo_plugin_adds_its_translator(settings: Settings) -> None:
    require_echo_plugin()
    registry = build_registry(settings)

    (status,) = [p for p in registry.plugins if p.name == "echo"]
    assert status.error is None
    assert status.distribution == ECHO_DISTRIBUTION
    assert status.engines == ((Capability.TRANSLATE, "echo"),)
    assert registry.plugin_of(Capability.TRANSLATE, "echo") == "echo"
    assert registry.plugin_of(Capability.TRANSLATE, "apertium") is None
    echo = registry.translator("echo")
    assert echo.translate(["Hello there."], "en", "es") == ["Hello there."]


# --- plugins that go wrong, as real entry points of this module ----------------------------


class _NotATranslator(Engine):
    name = "mute"


def raising(registry: PluginRegistrar, settings: Settings) -> None:
    raise RuntimeError("the plugin's server is down")


def clashing(registry: PluginRegistrar, settings: Settings) -> None:
    registry.register(Capability.TRANSLATE, ApertiumTranslator(ApertiumSettings()))


def half_done(registry: PluginRegistrar, settings: Settings) -> None:
    from dubbing_studio_echo import EchoTranslator

    class Parrot(EchoTranslator):
        name = "parrot"

    registry.register(Capability.TRANSLATE, Parrot())
    registry.register(Capability.TRANSLATE, _NotATranslator())


def silent(registry: PluginRegistrar, settings: Settings) -> None:
    """Registers nothing."""


def _entry(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


def test_broken_plugins_are_reported_and_left_out(settings: Settings) -> None:
    require_echo_plugin()
    registry = EngineRegistry()
    registry.register(Capability.TRANSLATE, ApertiumTranslator(settings.apertium))
    here = __name__
    entries = [
        _entry("missing", "no_such_plugin_module:register"),
        _entry("raising", f"{here}:raising"),
        _entry("clashing", f"{here}:clashing"),
        _entry("half", f"{here}:half_done"),
        _entry("silent", f"{here}:silent"),
        _entry("echo", "dubbing_studio_echo:register"),
    ]

    statuses = {s.name: s for s in load_engine_plugins(registry, settings, entries)}

    assert statuses["echo"].error is None
    errors = {name: s.error or "" for name, s in statuses.items() if name != "echo"}
    assert "ModuleNotFoundError" in errors["missing"]
    assert "server is down" in errors["raising"]
    assert "'apertium' already exists" in errors["clashing"]
    assert "does not implement Translator" in errors["half"]
    assert "registered no engine" in errors["silent"]
    # Only the working plugin's engine got in: the half-done plugin's parrot was held back.
    assert registry.names(Capability.TRANSLATE) == ["apertium", "echo"]
    assert registry.plugin_of(Capability.TRANSLATE, "echo") == "echo"
    assert [s.name for s in registry.plugins] == sorted(statuses)
