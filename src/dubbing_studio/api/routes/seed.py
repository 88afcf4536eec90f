"""The seed contract: the endpoints the studio's first clients call, wire-compatible.

Field names, JSON keys, defaults and content types are the seed's; fields added here are
additive only.
"""

from __future__ import annotations

from datetime import datetime

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from dubbing_studio import API_VERSION, __version__, media
from dubbing_studio.api.deps import (
    NonBlank,
    SpokenText,
    StudioDep,
    multipart_body,
    receive_media,
    require_api_key,
)
from dubbing_studio.api.limits import RateLimited
from dubbing_studio.domain.languages import language_name

public = APIRouter(tags=["service"])
audio = APIRouter(
    prefix="/api/v1/audio", tags=["audio (seed)"], dependencies=[Depends(require_api_key)]
)


class Health(BaseModel):
    status: str = "healthy"
    openai_api_configured: bool
    broker: str | None = Field(None, description="With worker processes: Redis, 'ok' or why not.")
    database: str | None = Field(
        None, description="With worker processes: PostgreSQL, 'ok' or why not."
    )
    checked_at: datetime | None = Field(
        None,
        description="With worker processes: when the broker and database were asked "
        "(at most a second before; polling more often does not ask them more often).",
    )
    version: str = API_VERSION
    app_version: str = __version__


class Root(BaseModel):
    message: str
    docs: str = "/docs"
    version: str = API_VERSION


@public.get("/health", response_model=Health)
async def health(studio: StudioDep, request: Request) -> Health:
    """Liveness plus whether OpenAI is configured, and with worker processes whether Redis
    and PostgreSQL answer ("degraded" when one does not), as asked at most a second ago:
    cheap enough to poll under load."""
    probe = request.app.state.health_checks
    if probe is None:
        return Health(openai_api_configured=studio.settings.openai_configured)
    found = probe.fresh() or await anyio.to_thread.run_sync(probe.probe)
    return Health(
        status="healthy" if all(v == "ok" for v in found.checks.values()) else "degraded",
        openai_api_configured=studio.settings.openai_configured,
        checked_at=found.checked_at,
        **found.checks,
    )


@public.get("/", response_model=Root)
async def root() -> Root:
    return Root(message="AI Dubbing Studio API")


class TimedLine(BaseModel):
    start: float
    end: float
    text: str


class TranscribeResponse(BaseModel):
    text: str
    language: str = Field(description="English name of the language, e.g. 'English'.")
    language_code: str = Field(description="ISO 639-1 code, e.g. 'en'.")
    language_probability: float
    duration: float
    segments: list[TimedLine]


@audio.post(
    "/transcribe",
    response_model=TranscribeResponse,
    dependencies=[RateLimited],
    openapi_extra=multipart_body(
        "Audio or video (OGG, MP3, WAV, M4A, FLAC, WEBM, MP4, …).",
        language={
            "type": "string",
            "description": "ISO 639-1 code ('he') or English name ('Hebrew'); absent: detect.",
        },
    ),
)
async def transcribe(request: Request, studio: StudioDep) -> TranscribeResponse:
    """Speech to text with timestamps. The upload is streamed to disk under the size cap."""
    async with receive_media(request, studio) as upload:
        result = await studio.transcribe(upload.path, language=upload.field("language") or None)
    return TranscribeResponse(
        text=result.text,
        language=language_name(result.language),
        language_code=result.language,
        language_probability=round(result.language_probability, 4),
        duration=round(result.duration, 3),
        segments=[TimedLine(start=s.start, end=s.end, text=s.text) for s in result.segments],
    )


class TranslateRequest(BaseModel):
    text: SpokenText = Field(examples=["Ask not what your country can do."])
    source_language: NonBlank = Field(examples=["English", "en"])
    target_language: NonBlank = Field(examples=["Spanish", "es"])


class TranslateResponse(BaseModel):
    translated_text: str
    source_language: str
    target_language: str
    source_language_code: str
    target_language_code: str


@audio.post("/translate", response_model=TranslateResponse, dependencies=[RateLimited])
async def translate(body: TranslateRequest, studio: StudioDep) -> TranslateResponse:
    """Text to text. Languages are codes or English names, matched case-insensitively."""
    (translated,), source, target = await studio.translate(
        [body.text], body.source_language, body.target_language
    )
    return TranslateResponse(
        translated_text=translated,
        source_language=body.source_language,
        target_language=body.target_language,
        source_language_code=source.code,
        target_language_code=target.code,
    )


class TTSRequest(BaseModel):
    text: SpokenText = Field(examples=["Hello from the dubbing studio."])
    voice: str = Field(
        "onyx",
        description="An OpenAI voice name (mapped to a local voice offline) or a "
        "local voice id from GET /api/v1/engines.",
    )
    model: str = Field(
        "gpt-4o-mini-tts",
        description="gpt-4o-mini-tts, tts-1 or tts-1-hd (mapped to local engines offline), "
        "or a local engine name: piper, kokoro, espeak-ng.",
    )
    instructions: str | None = Field(None, description="Delivery instructions (OpenAI only).")
    language: str | None = Field(
        None, description="Language of the text; detected from the text when absent."
    )


@audio.post(
    "/tts",
    response_class=Response,
    dependencies=[RateLimited],
    responses={200: {"content": {"audio/mpeg": {}}, "description": "MP3 audio."}},
)
async def tts(body: TTSRequest, studio: StudioDep) -> Response:
    """Text to MP3 speech; without an OpenAI key, spoken by a local voice for the language."""
    request = studio.speech_request(
        body.text,
        voice=body.voice,
        model=body.model,
        language=body.language,
        instructions=body.instructions,
    )
    choice = await anyio.to_thread.run_sync(studio.resolve_voice, request)
    audio_bytes = await studio.speak_encoded(request, choice, "mp3")
    return Response(
        audio_bytes,
        media_type=media.content_type("mp3"),
        headers={
            "Content-Disposition": "attachment; filename=speech.mp3",
            "X-Voice-Engine": choice.engine,
            "X-Voice": choice.voice,
            "X-Language": choice.language,
        },
    )
