"""Per-capability OpenAI endpoints: how settings resolve, which engine ``auto`` picks, what
a server's listings become, and what the voice director is told. Logic only: the fake server
of ``test_openai_engines`` sits under the real SDK; real servers are in tests/e2e."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from dubbing_studio.bootstrap import build_registry
from dubbing_studio.config import OpenAIEndpoint, OpenAISettings, Settings
from dubbing_studio.domain.dub import DubPlan
from dubbing_studio.domain.errors import ValidationFailed
from dubbing_studio.engines.openai_compat import (
    OpenAIConnection,
    OpenAISynthesizer,
    OpenAITranslator,
)
from dubbing_studio.engines.openai_compat.synthesizer import VOICE_GENDERS, parse_voices
from dubbing_studio.engines.protocols import Capability, SynthesisOptions
from dubbing_studio.pipeline.casting import cast_voices, parse_voice

from .test_openai_engines import KEY, FakeServer, pcm_route, speech_bodies

SPEECH_URL = "http://kokoro.local:8880/v1"
CHAT_URL = "http://ollama.local:11434/v1"


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_each_capability_falls_back_to_the_shared_url_key_model_and_timeout() -> None:
    shared = settings(
        openai_api_key=SecretStr(KEY),
        openai=OpenAISettings(
            timeout_s=30,
            speech=OpenAIEndpoint(base_url=SPEECH_URL + "/", model="kokoro", timeout_s=5),
        ),
    )
    chat = shared.openai_endpoint("chat")
    assert (chat.base_url, chat.model, chat.timeout_s) == (None, "gpt-5.1", 30)
    assert chat.api_key is not None and chat.configured
    speech = shared.openai_endpoint("speech")
    assert (speech.base_url, speech.model, speech.timeout_s) == (SPEECH_URL, "kokoro", 5)
    # OPENAI_API_KEY belongs to OpenAI: never sent to a server configured beside it.
    assert speech.api_key is None and speech.configured


def test_endpoints_come_from_nested_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DUBBING_STUDIO_OPENAI__CHAT__BASE_URL", CHAT_URL)
    monkeypatch.setenv("DUBBING_STUDIO_OPENAI__CHAT__MODEL", "llama3.2")
    monkeypatch.setenv("DUBBING_STUDIO_OPENAI__SPEECH__BASE_URL", SPEECH_URL)
    monkeypatch.setenv("DUBBING_STUDIO_OPENAI__SPEECH__API_KEY", "kokoro-key")
    configured = settings()
    chat, speech = configured.openai_endpoint("chat"), configured.openai_endpoint("speech")
    assert (chat.base_url, chat.model) == (CHAT_URL, "llama3.2")
    assert speech.api_key is not None and speech.api_key.get_secret_value() == "kokoro-key"
    assert not configured.openai_endpoint("transcription").configured
    # auto: OpenAI(-compatible) where that capability has a server, local elsewhere.
    registry = build_registry(configured)
    assert registry.default_name(Capability.TRANSLATE) == "openai"
    assert registry.default_name(Capability.SYNTHESIZE) == "openai"
    assert registry.default_name(Capability.TRANSCRIBE) == "whisper"


@pytest.mark.parametrize(
    ("listing", "expected"),
    [
        ({"voices": ["af_bella", "am_adam"]}, ["af_bella", "am_adam"]),  # Kokoro-FastAPI
        ([{"voice_id": "v1", "name": "One"}], ["v1"]),
        ({"data": [{"id": "onyx"}, {"nope": 1}, 3]}, ["onyx"]),
        ({"detail": "Not Found"}, []),
        (None, []),
    ],
)
def test_voice_listings_in_the_shapes_servers_send(listing: Any, expected: list[str]) -> None:
    assert [v.id for v in parse_voices(listing)] == expected


def test_a_compatible_server_s_voices_and_models_are_listed_once_and_cached() -> None:
    server = FakeServer()
    server.routes["/audio/voices"] = lambda _: httpx.Response(
        200, json={"voices": [{"id": "es_voice", "language": "es", "gender": "female"}]}
    )
    server.routes["/models"] = lambda _: httpx.Response(
        200, json={"object": "list", "data": [{"id": "kokoro"}, {"id": "tts-1"}]}
    )
    configured = settings(openai=OpenAISettings(speech=OpenAIEndpoint(base_url=SPEECH_URL)))
    client = httpx.Client(transport=httpx.MockTransport(server))
    synth = OpenAISynthesizer(OpenAIConnection(configured, "speech", http_client=client))
    assert synth.info().voices[0].id == "alloy", "info() never waits on the network"
    (voice,) = synth.voices()
    assert (voice.id, voice.gender, voice.speaks("es"), voice.speaks("en")) == (
        "es_voice",
        "female",
        True,
        False,
    )
    offered = synth.offered()
    assert offered.models == ("gpt-4o-mini-tts", "kokoro", "tts-1")
    assert [v.id for v in synth.info().voices] == ["es_voice"]  # from the cache now
    assert len(server.requests) == 2, [r.url.path for r in server.requests]


def test_the_line_s_language_goes_to_compatible_servers_only() -> None:
    for base_url, expected in ((SPEECH_URL, "es"), (None, None)):
        server = FakeServer()
        pcm_route(server, [0])
        configured = settings(
            openai_api_key=SecretStr(KEY),
            openai=OpenAISettings(tts_model="tts-1", speech=OpenAIEndpoint(base_url=base_url)),
        )
        client = httpx.Client(transport=httpx.MockTransport(server))
        synth = OpenAISynthesizer(OpenAIConnection(configured, "speech", http_client=client))
        synth.synthesize("Hola.", SynthesisOptions(voice="nova", language="es"))
        (body,) = speech_bodies(server)
        assert body.get("language") == expected, (base_url, body)


def test_the_director_keeps_each_line_in_the_speaker_s_character() -> None:
    server = FakeServer()
    pcm_route(server, [0])
    server.replies = ["Stern, slow."]
    connection = OpenAIConnection(
        settings(openai_api_key=SecretStr(KEY)),
        http_client=httpx.Client(transport=httpx.MockTransport(server)),
    )
    synth = OpenAISynthesizer(connection, director=OpenAITranslator(connection))
    assert synth.directs_delivery
    character = "Speaker S1 (voice onyx), who says: Pregunta. / No preguntes."
    synth.synthesize("No preguntes.", SynthesisOptions(voice="onyx", character=character))
    (chat,) = server.chats
    assert "character" in chat["messages"][0]["content"]
    assert json.loads(chat["messages"][1]["content"])["character"] == character
    assert speech_bodies(server)[0]["instructions"] == "Stern, slow."


def test_auto_casts_openai_voices_when_speech_is_configured_and_local_ones_otherwise() -> None:
    # Port 9 refuses at once: no listing, so OpenAI's own voice names.
    speech = OpenAISettings(speech=OpenAIEndpoint(base_url="http://127.0.0.1:9/v1"))
    remote = build_registry(settings(openai=speech))
    plan = DubPlan(target_language="es")
    cast = cast_voices(remote, ["S1", "S2"], "es", plan)
    assert {voice.engine for voice in cast.values()} == {"openai"}, cast
    genders = [VOICE_GENDERS[voice.voice] for voice in cast.values()]
    assert cast["S1"] != cast["S2"] and len(set(genders)) == 2, cast
    assert str(parse_voice("openai:shimmer", remote, "es")) == "openai:shimmer"

    local = build_registry(settings())
    assert "openai" not in {
        voice.engine for voice in cast_voices(local, ["S1"], "es", plan).values()
    }
    with pytest.raises(ValidationFailed, match="No voice 'alloy' in engine 'openai'"):
        parse_voice("openai:alloy", local, "es")
