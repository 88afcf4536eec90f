"""OpenAI-compatible endpoints backed by the studio's engines.

The official ``openai`` SDK (and tools built on it) can point ``base_url`` at the studio and
use the local engines: same paths, field names, response formats and error shape.
"""

from __future__ import annotations

import time
from typing import Any, Literal, get_args

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from dubbing_studio import media
from dubbing_studio.api.deps import (
    SpokenText,
    StudioDep,
    multipart_body,
    receive_media,
    require_api_key,
)
from dubbing_studio.api.limits import RateLimited
from dubbing_studio.api.uploads import Upload
from dubbing_studio.domain.errors import ValidationFailed
from dubbing_studio.domain.languages import language_name
from dubbing_studio.domain.speech import Transcription, Voice
from dubbing_studio.domain.subtitles import to_srt, to_vtt
from dubbing_studio.engines.openai_compat.synthesizer import VOICE_GENDERS
from dubbing_studio.engines.protocols import Capability
from dubbing_studio.engines.voices import OPENAI_TTS_MODELS, usable_voices

router = APIRouter(
    prefix="/v1", tags=["OpenAI-compatible"], dependencies=[Depends(require_api_key)]
)

ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
_FORM_FIELDS: dict[str, dict[str, object]] = {
    "model": {"type": "string", "default": "whisper-1"},
    "prompt": {"type": "string"},
    "response_format": {"type": "string", "enum": list(_FORMATS), "default": "json"},
    "temperature": {"type": "number"},
}


def _response_format(upload: Upload) -> str:
    fmt = upload.field("response_format") or "json"
    if fmt not in _FORMATS:
        raise ValidationFailed(
            f"response_format must be one of {', '.join(_FORMATS)}, not {fmt!r}."
        )
    return fmt


def _granularities(upload: Upload) -> set[str]:
    values = upload.fields.get("timestamp_granularities[]", []) + upload.fields.get(
        "timestamp_granularities", []
    )
    return set(values) or {"segment"}


def _render(result: Transcription, fmt: str, task: str, granularities: set[str]) -> Response:
    if fmt == "text":
        return PlainTextResponse(result.text + "\n")
    if fmt == "srt":
        return PlainTextResponse(to_srt(result.segments), media_type="application/x-subrip")
    if fmt == "vtt":
        return PlainTextResponse(to_vtt(result.segments), media_type="text/vtt")
    if fmt == "json":
        return JSONResponse({"text": result.text})
    body: dict[str, Any] = {
        "task": task,
        "language": language_name(result.language).lower(),
        "duration": round(result.duration, 3),
        "text": result.text,
    }
    if "segment" in granularities:
        body["segments"] = [
            {
                "id": i,
                "seek": 0,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": 0.0,
                "compression_ratio": 0.0,
                "no_speech_prob": 0.0,
            }
            for i, s in enumerate(result.segments)
        ]
    if "word" in granularities:
        body["words"] = [
            {"word": w.text, "start": w.start, "end": w.end}
            for s in result.segments
            for w in s.words
        ]
    return JSONResponse(body)


async def _recognise(request: Request, studio: StudioDep, task: str) -> Response:
    async with receive_media(request, studio) as upload:
        fmt = _response_format(upload)
        granularities = _granularities(upload)
        result = await studio.transcribe(
            upload.path,
            language=upload.field("language") or None if task == "transcribe" else None,
            task=task,
            word_timestamps="word" in granularities or fmt != "json",
            prompt=upload.field("prompt") or None,
        )
    return _render(result, fmt, task, granularities)


@router.post(
    "/audio/transcriptions",
    dependencies=[RateLimited],
    openapi_extra=multipart_body(
        "Audio or video to transcribe.",
        language={"type": "string"},
        **{"timestamp_granularities[]": {"type": "array", "items": {"enum": ["word", "segment"]}}},
        **_FORM_FIELDS,
    ),
)
async def transcriptions(request: Request, studio: StudioDep) -> Response:
    """Like OpenAI's: json, text, srt, vtt or verbose_json (segments and words)."""
    return await _recognise(request, studio, "transcribe")


@router.post(
    "/audio/translations",
    dependencies=[RateLimited],
    openapi_extra=multipart_body("Audio or video to translate into English.", **_FORM_FIELDS),
)
async def translations(request: Request, studio: StudioDep) -> Response:
    """Speech in any language to English text (Whisper's translate task)."""
    return await _recognise(request, studio, "translate")


SpeechFormat = Literal["mp3", "wav", "opus", "aac", "flac", "pcm"]


class SpeechBody(BaseModel):
    model: str = Field("gpt-4o-mini-tts", examples=["tts-1", "piper", "kokoro"])
    input: SpokenText
    voice: str = Field("alloy", examples=["onyx", "en_US-joe-medium", "jf_alpha"])
    instructions: str | None = None
    response_format: SpeechFormat = "mp3"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    language: str | None = Field(None, description="Studio extension: the text's language.")


@router.post(
    "/audio/speech",
    dependencies=[RateLimited],
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {media.content_type(fmt): {} for fmt in get_args(SpeechFormat)},
            "description": "Audio in the requested response_format, streamed.",
        }
    },
)
async def speech(body: SpeechBody, studio: StudioDep) -> StreamingResponse:
    """Text to speech, streamed as each sentence group is synthesized."""
    request = studio.speech_request(
        body.input,
        voice=body.voice,
        model=body.model,
        language=body.language,
        instructions=body.instructions,
        speed=body.speed,
    )
    choice = await anyio.to_thread.run_sync(studio.resolve_voice, request)
    stream = studio.speak_stream(request, choice, body.response_format)
    first = await anext(stream)  # errors surface as JSON before the 200 is sent

    async def body_stream() -> Any:
        yield first
        async for chunk in stream:
            yield chunk

    return StreamingResponse(
        body_stream(),
        media_type=media.content_type(body.response_format),
        headers={"X-Voice-Engine": choice.engine, "X-Voice": choice.voice},
    )


@router.get("/audio/voices")
async def voices(studio: StudioDep) -> dict[str, Any]:
    """Voices ``/v1/audio/speech`` takes (as Kokoro-FastAPI and speaches list theirs): OpenAI's
    names, which the studio maps to a local voice of the text's language and of their gender,
    then every local voice id with the languages it speaks."""
    local = await anyio.to_thread.run_sync(lambda: usable_voices(studio.registry, local_only=True))
    spoken = sorted({code for offered in local.values() for v in offered for code in _codes(v)})
    listed: list[dict[str, Any]] = [
        {"id": name, "name": name.title(), "gender": gender, "languages": spoken}
        for name, gender in VOICE_GENDERS.items()
    ]
    listed += [
        {
            "id": v.id,
            "name": v.name or v.id,
            "gender": v.gender,
            "language": v.language,
            "languages": list(_codes(v)),
            "engine": engine,
        }
        for engine, offered in local.items()
        for v in offered
    ]
    return {"object": "list", "voices": listed}


def _codes(voice: Voice) -> tuple[str, ...]:
    return tuple(dict.fromkeys((voice.language, *voice.languages)))


@router.get("/models")
async def models(studio: StudioDep) -> dict[str, Any]:
    """Model ids the studio answers to: OpenAI's names (mapped) and local engines."""
    created = int(time.time())
    ids: list[str] = ["whisper-1", *OPENAI_TTS_MODELS]
    for info in await anyio.to_thread.run_sync(studio.registry.describe):
        if info.available and info.name != "openai":
            ids.append(info.name)
            if info.capability == Capability.TRANSCRIBE:
                ids.extend(info.models)
    unique = list(dict.fromkeys(ids))
    return {
        "object": "list",
        "data": [
            {"id": i, "object": "model", "created": created, "owned_by": "dubbing-studio"}
            for i in unique
        ],
    }
