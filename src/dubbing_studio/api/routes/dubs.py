"""Dub projects over HTTP: create, follow (SSE), edit line by line, render, download."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, ValidationError, field_validator
from sse_starlette.sse import EventSourceResponse

from dubbing_studio.api.deps import (
    NonBlank,
    StudioDep,
    form_body,
    receive_dub_form,
    require_api_key,
)
from dubbing_studio.api.limits import RateLimited, client_id
from dubbing_studio.api.security import MediaLinks
from dubbing_studio.api.uploads import Form
from dubbing_studio.domain.dub import DubPlan, MixPolicy, TimingPolicy
from dubbing_studio.domain.errors import InvalidInput, NotFound, ValidationFailed
from dubbing_studio.domain.jobs import DubJob
from dubbing_studio.domain.languages import resolve_language
from dubbing_studio.domain.speech import Glossary
from dubbing_studio.services.dubs import DubService, SegmentEdit, segment_json
from dubbing_studio.services.studio import Studio
from dubbing_studio.services.subtitle_import import SubtitleImport
from dubbing_studio.services.url_fetch import UrlFetcher

router = APIRouter(prefix="/api/v1/dubs", tags=["dubs"], dependencies=[Depends(require_api_key)])

EVENT_WAIT_S = 15.0
MAX_EVENT_ID_DIGITS = 18  # event numbers fit a signed 64-bit column
MAX_OFFSET = 2**31 - 1  # the databases' integers are bounded: larger is a 422, not a 500


def get_dubs(request: Request) -> DubService:
    service: DubService = request.app.state.dubs
    return service


def get_media_links(request: Request) -> MediaLinks:
    links: MediaLinks = request.app.state.media_links
    return links


DubsDep = Annotated[DubService, Depends(get_dubs)]
LinksDep = Annotated[MediaLinks, Depends(get_media_links)]


# --- request models ---------------------------------------------------------------------
class TimingOptions(BaseModel):
    max_speed: float = Field(1.3, ge=1.0, le=2.0)
    max_overrun_s: float = Field(0.1, ge=0.0, le=0.1)  # the next line starts ≤ 0.1 s late
    min_line_s: float = Field(1.0, ge=0.0, le=10.0)
    max_line_s: float = Field(7.0, ge=2.0, le=60.0)
    fit: Literal["strict", "natural"] = Field(
        "strict",
        description="strict: a line too long at max_speed is cut at a pause (words_trimmed "
        "says how many words); natural: nothing is cut, the speaker's next lines start up "
        "to max_drift_s late.",
    )
    max_drift_s: float = Field(1.0, ge=0.0, le=1.0)


class MixOptions(BaseModel):
    # separate: the original minus its speech at full level (503 without a separator);
    # auto: separate where a separator is installed, else duck
    background: Literal["auto", "duck", "separate", "replace"] = "auto"
    duck_db: float = Field(-18.0, ge=-60.0, le=0.0)
    target_lufs: float = Field(-16.0, ge=-40.0, le=-5.0)


class GlossaryOptions(BaseModel):
    keep: list[str] = Field(default_factory=list, examples=[["Kennedy"]])
    force: list[tuple[str, str]] = Field(default_factory=list, examples=[[["country", "patria"]]])


class DubOptions(BaseModel):
    """The ``options`` form field of ``POST /api/v1/dubs``, as JSON."""

    model_config = {"extra": "forbid"}

    transcriber: str | None = None
    translator: str | None = None
    synthesizer: str | None = None
    voice: str | None = Field(None, examples=["kokoro:jm_kumo"])
    speaker_voices: dict[str, str] = Field(
        default_factory=dict, examples=[{"S1": "piper:en_US-joe-medium"}]
    )
    glossary: GlossaryOptions = Field(default_factory=GlossaryOptions)
    timing: TimingOptions = Field(default_factory=TimingOptions)
    mix: MixOptions = Field(default_factory=MixOptions)
    keep_original_audio: bool = False
    audio_formats: list[Literal["mp3", "wav", "m4a", "flac", "opus"]] = ["mp3"]
    video_format: Literal["mp4", "mkv"] | None = None
    diarize: bool | None = Field(
        None,
        description="Tell speakers on one channel apart by voice: null when the speakers "
        "extra is installed, true requires it, false never.",
    )
    match_voice: bool = Field(
        False, description="Shift each speaker's dub toward their median pitch (±4 semitones)."
    )
    back_transcribe: bool = Field(
        True,
        description="Transcribe the dub back in the target language and report each line's "
        "WER/CER against its text (report.json's quality section).",
    )

    @field_validator("audio_formats")
    @classmethod
    def _some_format(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one audio format")
        return list(dict.fromkeys(value))

    def plan(self, target: str, source: str | None) -> DubPlan:
        return DubPlan(
            target_language=target,
            source_language=source,
            transcriber=self.transcriber,
            translator=self.translator,
            synthesizer=self.synthesizer,
            voice=self.voice,
            speaker_voices=dict(self.speaker_voices),
            glossary=Glossary(keep=tuple(self.glossary.keep), force=tuple(self.glossary.force)),
            timing=TimingPolicy(**self.timing.model_dump()),
            mix=MixPolicy(**self.mix.model_dump()),
            keep_original_audio=self.keep_original_audio,
            audio_formats=tuple(self.audio_formats),
            video_format=self.video_format,
            diarize=self.diarize,
            match_voice=self.match_voice,
            back_transcribe=self.back_transcribe,
        )


def parse_options(raw: str | None) -> DubOptions:
    if not raw or not raw.strip():
        return DubOptions()
    try:
        return DubOptions.model_validate(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"options must be JSON: {exc.msg} at position {exc.pos}.") from None
    except ValidationError as exc:
        errors = [
            {"loc": ["options", *map(str, e["loc"])], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{'.'.join(e['loc'][1:])}: {e['msg']}" for e in errors)
        raise ValidationFailed(f"Invalid options: {summary}", errors=errors) from None


class SegmentPatch(BaseModel):
    model_config = {"extra": "forbid"}

    source_text: NonBlank | None = Field(None, max_length=5000)
    target_text: NonBlank | None = Field(None, max_length=5000)
    speaker: str | None = Field(None, max_length=64)
    voice: str | None = Field(None, max_length=200, description="engine:voice, or '' to reset.")
    start: float | None = Field(None, ge=0)
    end: float | None = Field(None, ge=0)


# --- response models --------------------------------------------------------------------
SIGNED_DESCRIPTION = (
    "The same file behind an expiring signed URL, for players and download links that cannot "
    "send an API key."
)


class OutputOut(BaseModel):
    name: str
    url: str
    signed_url: str = Field(description=SIGNED_DESCRIPTION)
    content_type: str
    size: int


class ErrorOut(BaseModel):
    detail: str
    error_code: str | None


class DubOut(BaseModel):
    id: str
    status: str
    stage: str | None
    progress: float
    eta_s: float | None
    error: ErrorOut | None
    input_name: str
    source_language: str | None
    target_language: str
    duration_s: float | None
    created_at: datetime
    updated_at: datetime
    segments_done: int
    segments_total: int
    stale_segments: int
    attempts: int = Field(description="Runs started since the last render.")
    outputs: list[OutputOut]
    plan: dict[str, Any]
    links: dict[str, str]
    signed_links: dict[str, str] = Field(description=SIGNED_DESCRIPTION)


class DubList(BaseModel):
    items: list[DubOut]
    total: int
    limit: int
    offset: int


class Created(BaseModel):
    id: str
    status: str
    links: dict[str, str]


class SegmentOut(BaseModel):
    id: str
    start: float
    end: float
    speaker: str
    source_text: str
    target_text: str
    voice: str | None
    status: str
    speed: float | None
    overrun_s: float
    outcome: str | None
    synthesized_s: float | None
    fitted_s: float | None
    target_edited: bool
    language: str | None = Field(None, description="The language spoken in this line.")
    flags: list[str] = Field(
        default_factory=list,
        description="Reasons to review the line: repetition, no_speech, outside_speech, "
        "low_confidence.",
    )
    words_trimmed: int = Field(0, description="Words of the dub cut to fit the line's slot.")
    translated_via: str | None = Field(
        None, description="The pivot language, when no direct translation pair exists."
    )
    links: dict[str, str]
    signed_links: dict[str, str] = Field(description=SIGNED_DESCRIPTION)


class SegmentList(BaseModel):
    items: list[SegmentOut]


def _links(job_id: str) -> dict[str, str]:
    base = f"/api/v1/dubs/{job_id}"
    return {
        "self": base,
        "events": f"{base}/events",
        "segments": f"{base}/segments",
        "input": f"{base}/input",
        "render": f"{base}/render",
        "cancel": f"{base}/cancel",
    }


async def _dub_out(
    service: DubService, job: DubJob, links: MediaLinks, stale: int | None = None
) -> DubOut:
    if stale is None:
        stale = sum(1 for s in await service.segments(job.id) if s.status.value == "stale")
    outputs = []
    for name in sorted(job.outputs):
        try:
            path = service.output_path(job, name)
        except NotFound:  # listed but gone (deleted by hand): leave it out
            continue
        url = f"/api/v1/dubs/{job.id}/outputs/{name}"
        outputs.append(
            OutputOut(
                name=name,
                url=url,
                signed_url=links.sign(url),
                content_type=_content_type(path.name),
                size=path.stat().st_size,
            )
        )
    return DubOut(
        id=job.id,
        status=job.status.value,
        stage=job.stage,
        progress=job.progress,
        eta_s=job.eta_s,
        error=ErrorOut(detail=job.error, error_code=job.error_code) if job.error else None,
        input_name=job.input_name,
        source_language=job.source_language,
        target_language=job.plan.target_language,
        duration_s=job.duration_s,
        created_at=job.created_at,
        updated_at=job.updated_at,
        segments_done=job.segments_done,
        segments_total=job.segments_total,
        stale_segments=stale,
        attempts=job.attempts,
        outputs=outputs,
        plan=job.plan.to_dict(),
        links=_links(job.id),
        signed_links={"input": links.sign(f"/api/v1/dubs/{job.id}/input")},
    )


# Only the studio's own file kinds get a specific type; anything else is served as bytes, so
# no file can be rendered as HTML on the studio's origin.
_CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "m4a": "audio/mp4",
    "aiff": "audio/aiff",
    "amr": "audio/amr",
    "caf": "audio/x-caf",
    "w64": "audio/x-w64",
    "mp4": "video/mp4",
    "mkv": "video/x-matroska",
    "matroska": "video/x-matroska",
    "webm": "video/webm",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "ass": "text/x-ssa",
    "json": "application/json",
}
_FILE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}


def _content_type(filename: str) -> str:
    return _CONTENT_TYPES.get(filename.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def _segment_out(job_id: str, segment: Any, links: MediaLinks) -> SegmentOut:
    base = f"/api/v1/dubs/{job_id}/segments/{segment.id}"
    audio = links.sign(f"{base}/audio")
    return SegmentOut(
        **segment_json(segment),
        links={
            "source_audio": f"{base}/audio?track=source",
            "dubbed_audio": f"{base}/audio?track=dub",
            "synthesize": f"{base}/synthesize",
        },
        signed_links={
            "source_audio": f"{audio}&track=source",
            "dubbed_audio": f"{audio}&track=dub",
        },
    )


# --- routes -----------------------------------------------------------------------------
@router.post(
    "",
    status_code=202,
    response_model=Created,
    dependencies=[RateLimited],
    responses={429: {"description": "Queue full, a quota spent or too many requests."}},
    openapi_extra=form_body(
        "Audio or video to dub (or send url).",
        ("target_language",),
        dict(
            url={
                "type": "string",
                "description": "Instead of file: a direct media link or a page yt-dlp knows (one "
                "video, no playlists), fetched by the studio under the upload caps.",
            },
            target_language={"type": "string", "example": "es"},
            source_language={"type": "string", "description": "Absent: detected."},
            options={
                "type": "string",
                "description": "JSON of DubOptions.",
                "example": '{"timing": {"max_speed": 1.25}, "audio_formats": ["mp3", "wav"]}',
            },
            transcript={
                "type": "string",
                "format": "binary",
                "description": "SRT, WebVTT or ASS in the source language: recognition is skipped.",
            },
            translation={
                "type": "string",
                "format": "binary",
                "description": "SRT, WebVTT or ASS in the target language: translation is "
                "skipped and the dub follows its timing.",
            },
        ),
    ),
)
async def create_dub(
    request: Request,
    response: Response,
    studio: StudioDep,
    service: DubsDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Created:
    """Start a dub. The upload streams to disk under the size cap; the job runs in the
    background (follow ``links.events``). The same ``Idempotency-Key`` returns the same dub.
    Over the queue bound or a quota the answer is 429 with ``Retry-After``."""
    client = client_id(request)
    await service.admit(client, idempotency_key)  # before the upload: refusing is cheap
    async with receive_dub_form(request, studio) as form:
        url = (form.field("url") or "").strip()
        if (form.upload is None) == (not url):
            raise InvalidInput("Send the media to dub as a 'file', or its address as a 'url'.")
        target = form.field("target_language")
        if not target:
            raise ValidationFailed("target_language is required (a code such as 'es').")
        source = form.field("source_language") or None
        target_code = resolve_language(target).code
        source_code = resolve_language(source).code if source and source != "auto" else None
        plan = parse_options(form.field("options")).plan(target_code, source_code)
        subtitles = SubtitleImport.parse(
            *(_subtitle_field(form, name) for name in ("transcript", "translation"))
        )
        async with _media(form, url, studio) as (path, name, kind):
            job = await service.create(
                path,
                name,
                plan,
                idempotency_key,
                kind=kind,
                client_id=client,
                subtitles=subtitles,
            )
    response.headers["Location"] = f"/api/v1/dubs/{job.id}"
    return Created(id=job.id, status=job.status.value, links=_links(job.id))


@contextlib.asynccontextmanager
async def _media(form: Form, url: str, studio: Studio) -> AsyncIterator[tuple[Path, str, str]]:
    """The uploaded file, or the URL's media fetched into a temp folder removed after."""
    if form.upload is not None:
        yield form.upload.path, form.upload.filename, form.upload.kind
        return
    fetcher = UrlFetcher(studio.settings, studio.media_sandbox)
    folder = fetcher.new_folder()
    try:
        fetched = await anyio.to_thread.run_sync(fetcher.download, url, folder)
        yield fetched.path, fetched.name, fetched.kind
    finally:
        await anyio.to_thread.run_sync(shutil.rmtree, folder, True)


def _subtitle_field(form: Form, name: str) -> tuple[str, str] | None:
    text = form.field(name)
    return (name, text) if text and text.strip() else None


@router.get("", response_model=DubList)
async def list_dubs(
    service: DubsDep,
    links: LinksDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> DubList:
    """Projects, newest first."""
    jobs, total = await service.page(limit, offset)
    return DubList(
        items=[await _dub_out(service, j, links) for j in jobs],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{dub_id}", response_model=DubOut)
async def get_dub(dub_id: str, service: DubsDep, links: LinksDep) -> DubOut:
    return await _dub_out(service, await service.get(dub_id), links)


@router.get("/{dub_id}/events", response_class=EventSourceResponse)
async def dub_events(
    dub_id: str,
    service: DubsDep,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Server-Sent Events: ``status``, ``progress``, ``segment``, ``error``, ``done``. Each
    has an ``id``; reconnect with ``Last-Event-ID`` to continue where you left off (an id
    that is not a number of at most 18 digits is a 400)."""
    after = _event_cursor(last_event_id)
    await service.get(dub_id)

    async def stream() -> AsyncIterator[dict[str, Any]]:
        async for event in service.follow(dub_id, after):
            yield {"id": str(event.seq), "event": event.type, "data": json.dumps(event.data)}

    return EventSourceResponse(stream(), ping=EVENT_WAIT_S)


def _event_cursor(last_event_id: str | None) -> int:
    """The event number a reconnecting client has seen: ASCII digits only (``'²'.isdigit()``
    is true in Python) and short enough for the store; anything else is a 400, never a
    stream that fails half-way. An empty value starts from the beginning."""
    if not last_event_id:
        return 0
    if not (
        last_event_id.isascii()
        and last_event_id.isdigit()
        and len(last_event_id) <= MAX_EVENT_ID_DIGITS
    ):
        raise InvalidInput(
            "Last-Event-ID must be the id of an event from this stream (a number of at most "
            f"{MAX_EVENT_ID_DIGITS} digits)."
        )
    return int(last_event_id)


@router.post("/{dub_id}/cancel", response_model=DubOut)
async def cancel_dub(dub_id: str, service: DubsDep, links: LinksDep) -> DubOut:
    return await _dub_out(service, await service.cancel(dub_id), links)


@router.delete("/{dub_id}", status_code=204)
async def delete_dub(dub_id: str, service: DubsDep) -> Response:
    """Delete the project, its files, and artifacts no other project shares."""
    await service.delete(dub_id)
    return Response(status_code=204)


@router.get("/{dub_id}/segments", response_model=SegmentList)
async def list_segments(dub_id: str, service: DubsDep, links: LinksDep) -> SegmentList:
    segments = await service.segments(dub_id)
    return SegmentList(items=[_segment_out(dub_id, s, links) for s in segments])


@router.patch("/{dub_id}/segments/{segment_id}", response_model=SegmentOut)
async def edit_segment(
    dub_id: str, segment_id: str, body: SegmentPatch, service: DubsDep, links: LinksDep
) -> SegmentOut:
    """Edit one line; it is marked stale until the next render. 409 while the dub runs."""
    edit = SegmentEdit(**body.model_dump())
    return _segment_out(dub_id, await service.edit_segment(dub_id, segment_id, edit), links)


@router.post(
    "/{dub_id}/segments/{segment_id}/synthesize",
    response_class=Response,
    responses={200: {"content": {"audio/wav": {}}}},
)
async def synthesize_segment(dub_id: str, segment_id: str, service: DubsDep) -> Response:
    """Re-voice one line now and hear it; it joins the mix at the next render."""
    audio = await service.synthesize_segment(dub_id, segment_id)
    return Response(audio, media_type="audio/wav")


@router.get(
    "/{dub_id}/segments/{segment_id}/audio",
    response_class=Response,
    responses={200: {"content": {"audio/wav": {}}}},
)
async def segment_audio(
    dub_id: str,
    segment_id: str,
    service: DubsDep,
    track: Annotated[Literal["source", "dub"], Query()] = "dub",
) -> Response:
    audio = await service.segment_audio(dub_id, segment_id, track)
    return Response(audio, media_type="audio/wav")


@router.post("/{dub_id}/render", status_code=202, response_model=DubOut)
async def render_dub(dub_id: str, service: DubsDep, links: LinksDep) -> DubOut:
    """Rebuild the stale lines, then mix and export again."""
    return await _dub_out(service, await service.render(dub_id), links)


@router.get("/{dub_id}/outputs/{name}", response_class=FileResponse)
async def get_output(dub_id: str, name: str, service: DubsDep) -> FileResponse:
    """An output file, with HTTP Range support for seeking players."""
    job = await service.get(dub_id)
    path = service.output_path(job, name)
    # A render rewrites outputs under the same name: players must revalidate.
    return FileResponse(
        path,
        media_type=_content_type(path.name),
        filename=path.name,
        content_disposition_type="inline",
        headers={"Cache-Control": "no-cache", **_FILE_HEADERS},
    )


@router.get("/{dub_id}/input", response_class=FileResponse)
async def get_input(dub_id: str, service: DubsDep) -> FileResponse:
    """The original upload, for playback and the waveform (Range supported)."""
    job = await service.get(dub_id)
    path = service.input_path(job)
    return FileResponse(
        path,
        media_type=_content_type(path.name),
        filename=job.input_name,
        content_disposition_type="inline",
        headers=_FILE_HEADERS,
    )
