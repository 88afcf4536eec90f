"""Batches over HTTP: many files into several languages in one request, followed as a whole.

A batch is a group of ordinary dubs (``/api/v1/dubs/{id}`` serves each); this router makes
them and reports on them together.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse

from dubbing_studio.api.deps import StudioDep, require_api_key
from dubbing_studio.api.limits import RateLimited, client_id
from dubbing_studio.api.routes.dubs import EVENT_WAIT_S, parse_options
from dubbing_studio.api.uploads import FormLimits, receive_form
from dubbing_studio.domain.errors import InvalidInput, ValidationFailed
from dubbing_studio.domain.languages import resolve_language
from dubbing_studio.media import sniff
from dubbing_studio.services.batches import BatchFile, BatchService, BatchView

router = APIRouter(
    prefix="/api/v1/batches", tags=["batches"], dependencies=[Depends(require_api_key)]
)

MAX_BATCH_FILES = 20
MAX_BATCH_LANGUAGES = 10


def get_batches(request: Request) -> BatchService:
    service: BatchService = request.app.state.batches
    return service


BatchesDep = Annotated[BatchService, Depends(get_batches)]


class BatchDubOut(BaseModel):
    id: str
    input_name: str
    target_language: str
    status: str
    stage: str | None
    progress: float
    error: str | None
    links: dict[str, str]


class RejectedOut(BaseModel):
    input_name: str
    target_language: str
    detail: str
    error_code: str


class BatchOut(BaseModel):
    id: str
    status: str
    progress: float
    created_at: datetime
    target_languages: list[str]
    input_names: list[str]
    counts: dict[str, int]
    dubs: list[BatchDubOut]
    rejected: list[RejectedOut]
    links: dict[str, str]


def _links(base: str) -> dict[str, str]:
    return {"self": base, "events": f"{base}/events"}


_FIELDS = {
    "files": {
        "type": "array",
        "items": {"type": "string", "format": "binary"},
        "description": f"Audio or video files (at most {MAX_BATCH_FILES}).",
    },
    "target_languages": {
        "type": "string",
        "example": "es,ca",
        "description": "Comma-separated, or the field repeated.",
    },
    "source_language": {"type": "string", "description": "Absent: detected."},
    "options": {"type": "string", "description": "JSON of DubOptions, for every dub."},
}
_SCHEMA = {"type": "object", "required": ["files", "target_languages"], "properties": _FIELDS}
BATCH_BODY = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _SCHEMA}}}
}


def _batch_out(view: BatchView) -> BatchOut:
    batch = view.batch
    return BatchOut(
        id=batch.id,
        status=view.status,
        progress=view.progress,
        created_at=batch.created_at,
        target_languages=list(batch.target_languages),
        input_names=list(batch.input_names),
        counts=view.counts,
        dubs=[
            BatchDubOut(
                id=job.id,
                input_name=job.input_name,
                target_language=job.plan.target_language,
                status=job.status.value,
                stage=job.stage,
                progress=job.progress,
                error=job.error,
                links=_links(f"/api/v1/dubs/{job.id}"),
            )
            for job in view.jobs
        ],
        rejected=[RejectedOut(**asdict(r)) for r in batch.rejected],
        links=_links(f"/api/v1/batches/{batch.id}"),
    )


@router.post(
    "",
    status_code=202,
    response_model=BatchOut,
    dependencies=[RateLimited],
    responses={429: {"description": "Queue full, a quota spent or too many requests."}},
    openapi_extra=BATCH_BODY,
)
async def create_batch(
    request: Request, response: Response, studio: StudioDep, service: BatchesDep
) -> BatchOut:
    """Dub every file into every target language: a dub per pair, queued file by file. A
    file's dubs share one recognition. A dub that cannot be queued is listed in ``rejected``
    and the others go on; follow the batch at ``links.events``."""
    client = client_id(request)
    await service.dubs.admit(client)  # before the uploads: refusing is cheap
    settings = studio.settings
    form = await receive_form(
        request,
        temp_dir=settings.temp_dir,
        max_bytes=settings.max_upload_bytes,
        sniff=sniff,
        file_field="files",
        form_limits=FormLimits.from_settings(settings.limits),
        max_files=MAX_BATCH_FILES,
    )
    uploads = form.uploads
    try:
        if not uploads:
            raise InvalidInput("No file was sent in the 'files' form field.")
        fields = form.fields
        targets = [
            code.strip()
            for value in fields.get("target_languages", [])
            for code in value.split(",")
            if code.strip()
        ]
        if not targets:
            raise ValidationFailed("target_languages is required (codes such as 'es,ca').")
        codes = list(dict.fromkeys(resolve_language(t).code for t in targets))
        if len(codes) > MAX_BATCH_LANGUAGES:
            raise ValidationFailed(f"At most {MAX_BATCH_LANGUAGES} target languages a batch.")
        source = form.field("source_language") or None
        source_code = resolve_language(source).code if source and source != "auto" else None
        options = parse_options(form.field("options"))
        plans = [options.plan(code, source_code) for code in codes]
        files = [BatchFile(u.path, u.filename, u.kind) for u in uploads]
    except BaseException:
        form.discard()
        raise
    view = await service.create(files, plans, client)
    response.headers["Location"] = f"/api/v1/batches/{view.batch.id}"
    return _batch_out(view)


@router.get("/{batch_id}", response_model=BatchOut)
async def get_batch(batch_id: str, service: BatchesDep) -> BatchOut:
    return _batch_out(await service.get(batch_id))


@router.get("/{batch_id}/events", response_class=EventSourceResponse)
async def batch_events(batch_id: str, service: BatchesDep) -> EventSourceResponse:
    """Server-Sent Events: ``batch`` whenever a dub of the batch moves (the whole batch:
    status, progress, counts and each dub's state), then ``done`` once every dub has ended.
    Each event is complete, so a client that reconnects just reads the next one."""
    await service.get(batch_id)  # a 404 before the stream starts

    async def stream() -> AsyncIterator[dict[str, Any]]:
        seq = 0
        async for view in service.follow(batch_id):
            seq += 1
            kind = "done" if view.finished else "batch"
            yield {"id": str(seq), "event": kind, "data": json.dumps(view.snapshot())}

    return EventSourceResponse(stream(), ping=EVENT_WAIT_S)
