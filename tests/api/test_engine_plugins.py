"""``GET /api/v1/engines`` lists plugin engines and plugin failures, and a dub can use a plugin
engine; unusable engines say why."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dubbing_studio.api.app import create_app
from dubbing_studio.bootstrap import build_registry, build_studio
from dubbing_studio.config import LlamaCppSettings, Settings
from dubbing_studio.engines.plugins import ENTRY_POINT_GROUP, load_engine_plugins
from tests.api.test_dubs import follow
from tests.conftest import require_echo_plugin


def test_plugin_engines_are_listed_with_their_plugin(client: TestClient) -> None:
    require_echo_plugin()
    listing = client.get("/api/v1/engines").json()

    (echo,) = [e for e in listing["engines"] if e["name"] == "echo"]
    assert echo["capability"] == "translate" and echo["available"]
    assert echo["plugin"] == "echo"
    assert all(e["plugin"] is None for e in listing["engines"] if e["name"] != "echo")
    (plugin,) = [p for p in listing["plugins"] if p["name"] == "echo"]
    assert plugin == {
        "name": "echo",
        "target": "dubbing_studio_echo:register",
        "distribution": "dubbing-studio-echo",
        "engines": [{"capability": "translate", "name": "echo"}],
        "error": None,
    }
    assert any(e["name"] == "llamacpp" for e in listing["engines"])


def test_a_broken_plugin_and_a_missing_model_are_explained(
    studio_settings: Settings, tmp_path: Path
) -> None:
    missing = tmp_path / "absent.gguf"
    settings = studio_settings.model_copy(update={"llamacpp": LlamaCppSettings(model=str(missing))})
    registry = build_registry(settings)
    broken = EntryPoint(name="broken", value="no_such_plugin:register", group=ENTRY_POINT_GROUP)
    load_engine_plugins(registry, settings, [broken])
    client = TestClient(create_app(settings, build_studio(settings, registry)))

    response = client.get("/api/v1/engines")

    assert response.status_code == 200
    listing = response.json()
    (llm,) = [e for e in listing["engines"] if e["name"] == "llamacpp"]
    assert not llm["available"] and str(missing) in llm["reason"]
    (plugin,) = [p for p in listing["plugins"] if p["name"] == "broken"]
    assert plugin["engines"] == [] and "ModuleNotFoundError" in plugin["error"]


@pytest.mark.slow
def test_a_dub_uses_the_plugin_translator(client: TestClient, samples_dir: Path) -> None:
    require_echo_plugin()
    with (samples_dir / "jfk.flac").open("rb") as handle:
        response = client.post(
            "/api/v1/dubs",
            files={"file": ("jfk.flac", handle, "audio/flac")},
            data={"target_language": "es", "options": json.dumps({"translator": "echo"})},
        )
    assert response.status_code == 202, response.text
    dub_id = response.json()["id"]
    try:
        events = follow(client, dub_id)
        assert events[-1][1] == "done", events[-3:]
        dub = client.get(f"/api/v1/dubs/{dub_id}").json()
        assert dub["status"] == "succeeded", dub
        segments = client.get(f"/api/v1/dubs/{dub_id}/segments").json()["items"]
        assert segments and all(s["target_text"] == s["source_text"] for s in segments)
        assert "country" in " ".join(s["target_text"] for s in segments)
    finally:
        client.delete(f"/api/v1/dubs/{dub_id}")


def test_piper_lists_the_voices_derived_from_joe(client: TestClient) -> None:
    """The voices made from Joe by shifting pitch and formants are voices like any other:
    with their own id, gender and description, for the page and ``--voice`` to offer."""
    listing = client.get("/api/v1/engines").json()

    (piper,) = [e for e in listing["engines"] if e["name"] == "piper"]
    voices = {v["id"]: v for v in piper["voices"]}
    assert voices["en_US-joe-medium"]["gender"] == "male"
    bright, light = voices["en_US-joe-medium+bright"], voices["en_US-joe-medium+light"]
    assert (bright["gender"], light["gender"]) == ("female", "male")
    assert all(v["language"] == "en" and v["description"] for v in (bright, light))
