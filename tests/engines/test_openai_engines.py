"""The OpenAI engines' requests and reply handling, against a scripted fake server.

The fake sits under the real ``openai`` SDK as an ``httpx.MockTransport``, so what is checked
is what would go over the wire.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import SecretStr

from dubbing_studio.config import OpenAISettings, Settings
from dubbing_studio.domain.errors import EngineFailed, EngineUnavailable, InvalidInput, NotFound
from dubbing_studio.domain.speech import Glossary
from dubbing_studio.engines.openai_compat import (
    OpenAIConnection,
    OpenAISynthesizer,
    OpenAITranscriber,
    OpenAITranslator,
)
from dubbing_studio.engines.openai_compat.client import (
    UpstreamFailed,
    UpstreamRateLimited,
    UpstreamTimeout,
    upstream_errors,
)
from dubbing_studio.engines.openai_compat.translator import (
    PER_LINE_FALLBACK_MAX,
    ReplyError,
    chunk_bounds,
    enforce_glossary,
    parse_numbered_lines,
)
from dubbing_studio.engines.protocols import SynthesisOptions, TranscribeOptions, VoiceCloner

KEY = "sk-test-secret-0123456789"
COMPAT_URL = "http://llm.local:8080/v1"

Handler = Callable[[httpx.Request], httpx.Response]


class FakeServer:
    """Records requests; chat replies come from a queue, other paths from ``routes``."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.replies: list[str] = []
        self.routes: dict[str, Handler] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/v1")
        if path in self.routes:
            return self.routes[path](request)
        assert path == "/chat/completions", f"unexpected request to {path}"
        return chat_response(self.replies.pop(0))

    @property
    def chats(self) -> list[dict[str, Any]]:
        return [
            json.loads(r.content) for r in self.requests if r.url.path.endswith("/chat/completions")
        ]


def chat_response(content: str) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": "fake",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content},
                }
            ],
        },
    )


def error_response(status: int, message: str, code: str | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "type": "x", "code": code}})


def make_settings(*, base_url: str | None = None, key: str | None = KEY, **openai: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        openai_api_key=SecretStr(key) if key else None,
        openai_base_url=base_url,
        openai=OpenAISettings(**{"max_retries": 0, **openai}),
    )


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


def connect(server: FakeServer, **settings: Any) -> OpenAIConnection:
    client = httpx.Client(transport=httpx.MockTransport(server))
    return OpenAIConnection(make_settings(**settings), http_client=client)


def numbered(*lines: str) -> str:
    return json.dumps({"lines": {str(n): line for n, line in enumerate(lines, 1)}})


def sent_lines(chat: dict[str, Any]) -> dict[str, str]:
    return dict(json.loads(chat["messages"][1]["content"])["lines"])


# --- reply parsing --------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        '{"lines": {"1": "uno", "2": "dos"}}',
        '```json\n{"lines": {"1": "uno", "2": "dos"}}\n```',
        'Here you go:\n{"lines": {"2": " dos ", "1": "uno"}}\nHope it helps!',
        '{"1": "uno", "2": "dos"}',
        '{"translations": ["uno", "dos"]}',
        '["uno", "dos"]',
    ],
)
def test_parse_accepts_the_shapes_models_send(reply: str) -> None:
    assert parse_numbered_lines(reply, 2) == ["uno", "dos"]


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("uno, dos", "not valid JSON"),
        ('{"lines": {"1": "uno"}}', "ids missing: ['2']"),
        ('{"lines": {"1": "uno", "2": "dos", "3": "tres"}}', "unexpected: ['3']"),
        ('{"lines": {"1": "uno", "2": " "}}', "no text for ids ['2']"),
        ('{"lines": {"1": "uno", "2": 2}}', "no text for ids ['2']"),
        ('["uno"]', "expected 2 lines, got 1"),
        ('"uno dos"', "neither an object"),
    ],
)
def test_parse_names_what_is_wrong(reply: str, problem: str) -> None:
    with pytest.raises(ReplyError, match=re.escape(problem)):
        parse_numbered_lines(reply, 2)


def test_chunks_cover_every_line_in_order_within_budget() -> None:
    texts = ["x" * 30] * 10  # 10 + 8 estimated tokens each
    bounds = list(chunk_bounds(texts, 40))
    assert bounds == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
    assert list(chunk_bounds(["y" * 1000], 40)) == [(0, 1)], "an oversized line goes alone"
    assert list(chunk_bounds([], 40)) == []


# --- translation ----------------------------------------------------------------------


def test_translation_is_one_json_request_for_the_whole_batch(server: FakeServer) -> None:
    server.replies = [numbered("Hola.", "¿Qué tal?", "Adiós.")]
    translator = OpenAITranslator(connect(server))
    out = translator.translate(["Hello.", "", "How are you?", "Bye."], "en", "es")
    assert out == ["Hola.", "", "¿Qué tal?", "Adiós."], "blank lines stay blank, in place"
    (chat,) = server.chats
    assert sent_lines(chat) == {"1": "Hello.", "2": "How are you?", "3": "Bye."}
    assert chat["response_format"] == {"type": "json_object"}
    assert chat["model"] == "gpt-5.1"
    assert chat["max_completion_tokens"] == 8192 and "max_tokens" not in chat
    system = chat["messages"][0]["content"]
    assert "from English to Spanish" in system and "not word for word" in system


def test_compatible_servers_get_max_tokens(server: FakeServer) -> None:
    server.replies = [numbered("Hola.")]
    OpenAITranslator(connect(server, base_url=COMPAT_URL)).translate(["Hi."], "en", "es")
    (chat,) = server.chats
    assert chat["max_tokens"] == 8192 and "max_completion_tokens" not in chat
    assert str(server.requests[0].url).startswith(COMPAT_URL)


def test_rejected_token_parameter_is_switched_once(server: FakeServer) -> None:
    rejected = iter([True])

    def chat(request: httpx.Request) -> httpx.Response:
        if next(rejected, False):
            return error_response(
                400, "Unsupported parameter: 'max_tokens'; use max_completion_tokens"
            )
        return chat_response(numbered("Hola."))

    server.routes["/chat/completions"] = chat
    translator = OpenAITranslator(connect(server, base_url=COMPAT_URL))
    assert translator.translate(["Hi."], "en", "es") == ["Hola."]
    assert translator.translate(["Hi."], "en", "es") == ["Hola."]
    sent = [json.loads(r.content) for r in server.requests]
    assert ["max_tokens" in body for body in sent] == [True, False, False]


def test_unusable_reply_is_retried_once_with_the_problem_named(server: FakeServer) -> None:
    server.replies = [numbered("Hola."), numbered("Hola.", "Adiós.")]
    out = OpenAITranslator(connect(server)).translate(["Hi.", "Bye."], "en", "es")
    assert out == ["Hola.", "Adiós."]
    first, second = server.chats
    assert "could not be used" not in first["messages"][0]["content"]
    assert "ids missing: ['2']" in second["messages"][0]["content"]
    assert second["messages"][1] == first["messages"][1]


def test_two_unusable_replies_fall_back_to_one_request_per_line(server: FakeServer) -> None:
    server.replies = ["not json", '{"lines": {}}', '"Hola."', "```\nAdiós.\n```"]
    out = OpenAITranslator(connect(server)).translate(["Hi.", "Bye."], "en", "es")
    assert out == ["Hola.", "Adiós."]
    singles = server.chats[2:]
    assert all("response_format" not in chat for chat in singles)
    second = json.loads(singles[1]["messages"][1]["content"])
    assert second == {"line": "Bye.", "context_before": ["Hi."], "context_after": []}


def test_no_per_line_fallback_for_long_chunks(server: FakeServer) -> None:
    server.replies = ["nope", "still nope"]
    lines = [f"Line {n}." for n in range(PER_LINE_FALLBACK_MAX + 1)]
    with pytest.raises(EngineFailed, match="did not return 26 lines"):
        OpenAITranslator(connect(server)).translate(lines, "en", "es")
    assert len(server.chats) == 2


def test_empty_per_line_answer_fails_cleanly(server: FakeServer) -> None:
    server.replies = ["x", "x", "Hola.", "  "]
    with pytest.raises(EngineFailed, match="empty line"):
        OpenAITranslator(connect(server)).translate(["Hi.", "Bye."], "en", "es")


def test_long_jobs_go_in_chunks_with_neighbouring_context(server: FakeServer) -> None:
    lines = [f"Sentence number {n} of the job." for n in range(6)]  # 18 tokens each
    server.replies = [numbered("a", "b"), numbered("c", "d"), numbered("e", "f")]
    translator = OpenAITranslator(connect(server, max_output_tokens=80))
    assert translator.translate(lines, "en", "es") == ["a", "b", "c", "d", "e", "f"]
    middle = json.loads(server.chats[1]["messages"][1]["content"])
    assert list(middle["lines"].values()) == lines[2:4]
    assert middle["context_before"] == lines[0:2] and middle["context_after"] == lines[4:6]


def test_glossary_is_in_the_prompt_and_forced_terms_are_enforced(server: FakeServer) -> None:
    glossary = Glossary(keep=("Acme",), force=(("dub", "doblaje"),))
    server.replies = [numbered("Acme hace un dub.")]
    out = OpenAITranslator(connect(server)).translate(["Acme makes a dub."], "en", "es", glossary)
    assert out == ["Acme hace un doblaje."]
    system = server.chats[0]["messages"][0]["content"]
    assert 'keep "Acme" exactly' in system and 'translate "dub" as "doblaje"' in system


def test_glossary_enforcement_leaves_correct_lines_alone() -> None:
    glossary = Glossary(force=(("dub", "doblaje"),))
    assert enforce_glossary("A dub.", "Un doblaje.", glossary) == "Un doblaje."
    assert enforce_glossary("Dubbing.", "Dubbing.", glossary) == "Dubbing.", "whole words only"
    assert enforce_glossary("No term.", "dub", glossary) == "dub", "term not in the source"


def test_supports_any_pair_of_known_languages(server: FakeServer) -> None:
    translator = OpenAITranslator(connect(server))
    assert translator.supports("en", "ja") and translator.supports("Spanish", "pt-BR")
    assert not translator.supports("en", "klingon")


# --- other rewrites -------------------------------------------------------------------


def test_refine_keeps_the_original_when_the_polish_is_not_plausible(server: FakeServer) -> None:
    server.replies = ["Hello, world. How are you?", "", "Totally different and much longer text."]
    translator = OpenAITranslator(connect(server))
    assert translator.refine("hello world how are you", "en") == "Hello, world. How are you?"
    assert translator.refine("hello world", "en") == "hello world", "empty reply"
    assert translator.refine("hello world", "en") == "hello world", "content invented"
    assert "speech-recognition transcripts in English" in server.chats[0]["messages"][0]["content"]


def test_shorten_asks_only_when_needed_and_never_lengthens(server: FakeServer) -> None:
    translator = OpenAITranslator(connect(server))
    assert translator.shorten("Short.", "en", max_chars=20) == "Short."
    assert server.chats == []
    server.replies = ["It is late.", "This answer is far longer than the original line was."]
    text = "It is really getting quite late now."
    assert translator.shorten(text, "en", 14) == "It is late."
    assert "at most 14 characters" in server.chats[0]["messages"][0]["content"]
    assert translator.shorten(text, "en", 10) == text
    with pytest.raises(InvalidInput):
        translator.shorten(text, "en", 0)


def test_direct_voice_returns_the_instructions(server: FakeServer) -> None:
    server.replies = ['"Warm and calm; slow pace."']
    direction = OpenAITranslator(connect(server)).direct_voice("Bienvenidos.", "es")
    assert direction == "Warm and calm; slow pace."
    assert json.loads(server.chats[0]["messages"][1]["content"]) == {
        "language": "Spanish",
        "text": "Bienvenidos.",
    }


# --- client and errors ----------------------------------------------------------------


def test_client_sends_the_key_or_a_placeholder(server: FakeServer) -> None:
    server.replies = ["a", "b"]
    connect(server).chat("s", "u")
    connect(server, key=None, base_url=COMPAT_URL).chat("s", "u")
    auth = [r.headers["authorization"] for r in server.requests]
    assert auth == [f"Bearer {KEY}", "Bearer not-needed"]


def test_unconfigured_connection_is_unavailable(server: FakeServer) -> None:
    connection = connect(server, key=None)
    assert not connection.configured
    with pytest.raises(EngineUnavailable, match="OPENAI_API_KEY"):
        connection.chat("s", "u")
    assert server.requests == []


@pytest.mark.parametrize(
    ("status", "code", "error", "http_status"),
    [
        (401, None, EngineUnavailable, 503),
        (429, "rate_limit_exceeded", UpstreamRateLimited, 429),
        (429, "insufficient_quota", EngineUnavailable, 503),
        (400, None, InvalidInput, 400),
        (404, "model_not_found", UpstreamFailed, 502),
        (500, None, UpstreamFailed, 502),
    ],
)
def test_sdk_errors_become_studio_errors(
    server: FakeServer, status: int, code: str | None, error: type[Exception], http_status: int
) -> None:
    message = f"upstream says no (key {KEY[:8]}...)" if status != 401 else f"bad key {KEY}"
    server.routes["/chat/completions"] = lambda _: error_response(status, message, code)
    with pytest.raises(error) as caught:
        connect(server).chat("s", "u")
    assert getattr(caught.value, "status_code", None) == http_status
    assert KEY not in str(caught.value)
    if status == 401:
        assert str(caught.value) == "OpenAI rejected the API key; set OPENAI_API_KEY."
    else:
        assert "upstream says no" in str(caught.value), "the server's message, not the body dump"


def test_transport_errors_become_upstream_errors(server: FakeServer) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    for handler, error, status in ((timeout, UpstreamTimeout, 504), (refused, UpstreamFailed, 502)):
        server.routes["/chat/completions"] = handler
        with pytest.raises(error) as caught:
            connect(server).chat("s", "u")
        assert caught.value.status_code == status


def test_retries_follow_max_retries(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("openai._base_client.INITIAL_RETRY_DELAY", 0.0)
    server.routes["/chat/completions"] = lambda _: error_response(503, "overloaded")
    with pytest.raises(UpstreamFailed, match="HTTP 503"):
        connect(server, max_retries=3).chat("s", "u")
    assert len(server.requests) == 4


def test_upstream_errors_leaves_other_exceptions_alone() -> None:
    with pytest.raises(KeyError), upstream_errors("test"):
        raise KeyError("not ours")


# --- transcription --------------------------------------------------------------------


def form_fields(request: httpx.Request) -> dict[str, list[str]]:
    """The non-file fields of a multipart body."""
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(rb'name="([^"]+)"\r\n\r\n(.*?)\r\n--', request.content, re.S):
        fields.setdefault(name.decode(), []).append(value.decode())
    return fields


def segment(index: int, start: float, end: float, text: str) -> dict[str, Any]:
    """A ``verbose_json`` segment with the fields the SDK's model requires."""
    return {
        "id": index,
        "seek": 0,
        "start": start,
        "end": end,
        "text": text,
        "tokens": [index],
        "temperature": 0.0,
        "avg_logprob": -0.1,
        "compression_ratio": 1.0,
        "no_speech_prob": 0.0,
    }


VERBOSE = {
    "task": "transcribe",
    "language": "english",
    "duration": 4.0,
    "text": "Hello there. General Kenobi.",
    "segments": [
        segment(0, 0.0, 1.5, " Hello there."),
        segment(1, 2.0, 4.0, " General Kenobi."),
    ],
    "words": [
        {"word": "Hello", "start": 0.0, "end": 0.6},
        {"word": "there", "start": 0.7, "end": 1.4},
        {"word": "General", "start": 2.0, "end": 2.9},
        {"word": "Kenobi", "start": 3.0, "end": 3.9},
    ],
}


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    path = tmp_path / "clip.wav"
    path.write_bytes(b"RIFF fake audio")
    return path


def test_timestamped_transcription_uses_whisper_verbose_json(
    server: FakeServer, audio: Path
) -> None:
    server.routes["/audio/transcriptions"] = lambda _: httpx.Response(200, json=VERBOSE)
    result = OpenAITranscriber(connect(server)).transcribe(audio, TranscribeOptions(prompt="Star"))
    fields = form_fields(server.requests[0])
    assert fields["model"] == ["whisper-1"] and fields["response_format"] == ["verbose_json"]
    assert fields["timestamp_granularities[]"] == ["segment", "word"]
    assert fields["prompt"] == ["Star"] and "language" not in fields
    assert b'filename="clip.wav"' in server.requests[0].content
    assert result.language == "en" and result.duration == 4.0
    assert result.text == "Hello there. General Kenobi."
    assert [s.text for s in result.segments] == ["Hello there.", "General Kenobi."]
    assert [[w.text for w in s.words] for s in result.segments] == [
        ["Hello", "there"],
        ["General", "Kenobi"],
    ]


def test_plain_transcription_uses_the_transcribe_model(server: FakeServer, audio: Path) -> None:
    server.routes["/audio/transcriptions"] = lambda _: httpx.Response(200, json={"text": " Hola. "})
    options = TranscribeOptions(language="es", word_timestamps=False)
    result = OpenAITranscriber(connect(server)).transcribe(audio, options)
    fields = form_fields(server.requests[0])
    assert fields["model"] == ["gpt-4o-transcribe"] and fields["response_format"] == ["json"]
    assert fields["language"] == ["es"]
    assert (result.text, result.language, result.segments) == ("Hola.", "es", ())


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the endpoint, by OpenAI
def test_translate_task_uses_the_translations_endpoint(server: FakeServer, audio: Path) -> None:
    body = {**VERBOSE, "task": "translate", "words": None}
    server.routes["/audio/translations"] = lambda _: httpx.Response(200, json=body)
    options = TranscribeOptions(language="es", task="translate")
    result = OpenAITranscriber(connect(server)).transcribe(audio, options)
    assert form_fields(server.requests[0])["model"] == ["whisper-1"]
    assert result.language == "en" and len(result.segments) == 2
    with pytest.raises(InvalidInput, match="Unknown task"):
        OpenAITranscriber(connect(server)).transcribe(audio, TranscribeOptions(task="dub"))


def test_refinement_polishes_segment_texts_and_keeps_timings(
    server: FakeServer, audio: Path
) -> None:
    server.routes["/audio/transcriptions"] = lambda _: httpx.Response(200, json=VERBOSE)
    server.replies = [numbered("Hello there!", "General Kenobi!")]
    connection = connect(server, refine_transcripts=True)
    transcriber = OpenAITranscriber(connection, refiner=OpenAITranslator(connection))
    result = transcriber.transcribe(audio, TranscribeOptions())
    assert result.text == "Hello there! General Kenobi!"
    assert [w.text for w in result.segments[1].words] == ["General", "Kenobi"]
    assert sent_lines(server.chats[0]) == {"1": "Hello there.", "2": "General Kenobi."}


# --- speech ---------------------------------------------------------------------------


def pcm_route(server: FakeServer, samples: list[int]) -> None:
    pcm = np.array(samples, dtype="<i2").tobytes()
    server.routes["/audio/speech"] = lambda _: httpx.Response(200, content=pcm)


def speech_bodies(server: FakeServer) -> list[dict[str, Any]]:
    return [json.loads(r.content) for r in server.requests if r.url.path.endswith("/audio/speech")]


def test_synthesis_decodes_24khz_pcm_and_sends_instructions(server: FakeServer) -> None:
    pcm_route(server, [0, 16384, -32768])
    synth = OpenAISynthesizer(connect(server))
    speech = synth.synthesize(
        "Hola.", SynthesisOptions(voice="coral", rate=1.25, instructions="Calm.")
    )
    assert speech.sample_rate == 24_000 and speech.samples.dtype == np.float32
    assert speech.samples.tolist() == [0.0, 0.5, -1.0]
    (body,) = speech_bodies(server)
    assert body == {
        "model": "gpt-4o-mini-tts",
        "voice": "coral",
        "input": "Hola.",
        "response_format": "pcm",
        "instructions": "Calm.",
        "speed": 1.25,
    }


def test_a_reference_sample_goes_only_to_a_server_that_clones(server: FakeServer) -> None:
    pcm_route(server, [0])
    sample = b"RIFF-sample-of-the-speaker"
    options = SynthesisOptions(voice="alloy", reference_audio=sample)
    plain = OpenAISynthesizer(connect(server, base_url=COMPAT_URL))
    assert not plain.clones_voice
    plain.synthesize("Hola.", options)
    cloning = OpenAISynthesizer(connect(server, base_url=COMPAT_URL, tts_reference_audio=True))
    assert isinstance(cloning, VoiceCloner) and cloning.clones_voice
    cloning.synthesize("Hola.", options)
    first, second = speech_bodies(server)
    assert "reference_audio" not in first
    assert base64.b64decode(second["reference_audio"]) == sample


def test_voice_director_writes_instructions_when_none_given(server: FakeServer) -> None:
    pcm_route(server, [0])
    server.replies = ["Cheerful, quick."]
    connection = connect(server)
    synth = OpenAISynthesizer(connection, director=OpenAITranslator(connection))
    synth.synthesize("¡Hola!", SynthesisOptions(language="es"))
    (body,) = speech_bodies(server)
    assert body["instructions"] == "Cheerful, quick." and body["voice"] == "alloy"
    assert "speed" not in body


def test_models_without_instructions_get_none(server: FakeServer) -> None:
    server.routes["/audio/speech"] = lambda _: httpx.Response(200, content=b"ID3mp3")
    connection = connect(server)
    synth = OpenAISynthesizer(connection, director=OpenAITranslator(connection))
    audio = synth.speech_bytes("Hi.", voice="onyx", model="tts-1", instructions="Loud.")
    assert audio == b"ID3mp3"
    (body,) = speech_bodies(server)
    assert body["model"] == "tts-1" and body["response_format"] == "mp3"
    assert "instructions" not in body and server.chats == []


def test_voices_are_checked_only_against_openai_itself(server: FakeServer) -> None:
    pcm_route(server, [0])
    with pytest.raises(NotFound, match="no voice 'joe'"):
        OpenAISynthesizer(connect(server)).speech_bytes("Hi.", voice="joe")
    OpenAISynthesizer(connect(server, base_url=COMPAT_URL)).speech_bytes("Hi.", voice="joe")
    assert speech_bodies(server)[0]["voice"] == "joe"


def test_long_text_is_spoken_in_sentence_chunks(server: FakeServer) -> None:
    pcm_route(server, [1, 2])
    synth = OpenAISynthesizer(connect(server))
    text = " ".join(["This sentence is one of many in a long text."] * 200)  # ~9,200 chars
    speech = synth.synthesize(text, SynthesisOptions(instructions="Even."))
    bodies = speech_bodies(server)
    assert len(bodies) == 3 and all(len(b["input"]) <= 4096 for b in bodies)
    assert len(speech.samples) == 6
    with pytest.raises(InvalidInput, match="pcm or mp3"):
        synth.speech_bytes(text, fmt="wav")


@pytest.mark.parametrize(("text", "speed"), [("", 1.0), ("Hi.", 0.1), ("Hi.", 4.5)])
def test_bad_speech_requests_are_refused_before_sending(
    server: FakeServer, text: str, speed: float
) -> None:
    with pytest.raises(InvalidInput):
        OpenAISynthesizer(connect(server)).speech_bytes(text, speed=speed)
    assert server.requests == []


def test_voices_cover_every_language(server: FakeServer) -> None:
    voices = {v.id: v for v in OpenAISynthesizer(connect(server)).voices()}
    assert {"alloy", "nova", "onyx", "verse"} <= set(voices)
    assert voices["nova"].gender == "female" and voices["onyx"].gender == "male"
    assert voices["alloy"].speaks("ja") and voices["alloy"].speaks("es")


def test_model_ids_follow_the_models_and_the_server(server: FakeServer) -> None:
    """What stage keys include: each setting that changes an engine's output changes it."""

    def engines(**settings: Any) -> tuple[str, str, str]:
        connection = connect(server, **settings)
        translator = OpenAITranslator(connection)
        return (
            OpenAITranscriber(connection, refiner=translator).model_id,
            translator.model_id,
            OpenAISynthesizer(connection, director=translator).model_id,
        )

    default = engines()
    assert engines() == default
    # Which of (transcriber, translator, synthesizer) each setting changes.
    for change, expected in (
        ({"base_url": COMPAT_URL}, (True, True, True)),
        ({"timestamped_transcribe_model": "whisper-large-v3"}, (True, False, False)),
        ({"refine_transcripts": True}, (True, False, False)),
        ({"chat_model": "llama3.2"}, (False, True, True)),  # the voice director's too
        ({"tts_model": "tts-1"}, (False, False, True)),
    ):
        changed = engines(**change)
        assert tuple(a != b for a, b in zip(changed, default, strict=True)) == expected, change
    # tts-1 takes no delivery instructions: the chat model is no part of its speech.
    assert engines(tts_model="tts-1", chat_model="a")[2] == engines(tts_model="tts-1")[2]
