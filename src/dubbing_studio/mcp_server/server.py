"""The studio as an MCP server: tools over the same services the API and the CLI use.

Tools: ``transcribe``, ``translate``, ``speak``, ``list_engines``, ``dub``, ``dub_status``,
``list_dubs``, ``list_lines``, ``edit_line``, ``render``. A dub's files are resources,
``dub://{id}/outputs/{name}`` (audio, video, subtitles, ``report.json``). ``dub``, ``render``
and ``dub_status`` with ``wait`` follow the run's stored events and pass its progress on as
MCP progress notifications, so a client sees a dub advance as the studio's page does.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import mimetypes
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

import anyio.to_thread
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import AudioContent, InputRequiredResult
from pydantic import AnyUrl, Field
from starlette.requests import Request

from dubbing_studio import __version__
from dubbing_studio.api.limits import client_id
from dubbing_studio.api.routes.dubs import DubOptions
from dubbing_studio.config import Settings
from dubbing_studio.domain.errors import NotFound, StudioError
from dubbing_studio.domain.jobs import DubJob
from dubbing_studio.domain.languages import resolve_language
from dubbing_studio.engines.protocols import Capability
from dubbing_studio.mcp_server.inputs import FilePolicy, received_media
from dubbing_studio.services.dubs import DubService, SegmentEdit, segment_json
from dubbing_studio.services.quotas import RateLimiter
from dubbing_studio.services.studio import SpeechRequest, Studio

OUTPUT_URI = "dub://{dub_id}/outputs/{name}"
MAX_TEXT_CHARS = 50_000
MAX_LINE_CHARS = 5000
# Text outputs are read as text (the rest as bytes); the types ``mimetypes`` lacks or names
# differently on different systems.
TEXT_TYPES = {
    ".srt": "application/x-subrip",
    ".vtt": "text/vtt",
    ".ass": "text/x-ssa",
    ".json": "application/json",
}
MEDIA_TYPES = {".mp3": "audio/mpeg", ".wav": "audio/wav", ".opus": "audio/ogg"}
INSTRUCTIONS = (
    "Dub audio or video into another language. Start a dub with `dub` (media as a path or "
    "base64), follow it with `dub_status` (wait=true streams progress), read its files as "
    "the resources it lists, correct a line with `list_lines` and `edit_line`, then `render`."
)

P = ParamSpec("P")
T = TypeVar("T")


def mime_type(name: str) -> str:
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    known = TEXT_TYPES.get(suffix) or MEDIA_TYPES.get(suffix) or mimetypes.guess_type(name)[0]
    return known or "application/octet-stream"


class StudioMcp(MCPServer[Any]):
    """An ``MCPServer`` whose resources carry each output's own MIME type (a resource
    template has one type for every file it names)."""

    async def read_resource(
        self, uri: AnyUrl | str, context: Context[Any, Any] | None = None
    ) -> Iterable[ReadResourceContents] | InputRequiredResult:
        contents = await super().read_resource(uri, context)
        if isinstance(contents, InputRequiredResult):
            return contents
        return [replace(item, mime_type=mime_type(str(uri))) for item in contents]


def _tool_errors(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """The studio's expected failures reach the client as their message (the SDK hides
    any other exception's text)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except StudioError as exc:
            raise ToolError(exc.detail) from exc

    return wrapper


class StudioTools:
    """The tools, bound to one studio. ``local`` is the stdio transport: the client is the
    user of this machine, may name any file and is shown output paths; over HTTP files are
    named only inside the operator's shared folder, and requests count against the
    client's rate limit."""

    def __init__(
        self,
        settings: Settings,
        studio: Studio,
        dubs: Callable[[], DubService],
        *,
        local: bool,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.studio = studio
        self.dubs = dubs
        self.local = local
        self.files = FilePolicy(anywhere=True) if local else FilePolicy(settings.mcp.files_dir)
        self.rate_limiter = rate_limiter

    # --- single steps -------------------------------------------------------------------
    async def transcribe(
        self,
        ctx: Context[Any, Any],
        path: str | None = None,
        content_base64: str | None = None,
        filename: str | None = None,
        language: str | None = None,
        engine: str | None = None,
    ) -> dict[str, Any]:
        """Speech to text with timestamps. Give the audio or video as ``path`` (a file the
        server may read) or ``content_base64``; ``language`` is a code or name (absent:
        detected)."""
        self._admit(ctx)
        async with received_media(
            self.settings,
            self.files,
            path=path,
            content_base64=content_base64,
            filename=filename,
        ) as received:
            result = await self.studio.transcribe(received.path, language=language, engine=engine)
        return {
            "text": result.text,
            "language": result.language,
            "duration": result.duration,
            "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in result.segments],
        }

    async def translate(
        self,
        ctx: Context[Any, Any],
        texts: Annotated[
            list[Annotated[str, Field(max_length=MAX_LINE_CHARS)]],
            Field(min_length=1, max_length=1000),
        ],
        target_language: str,
        source_language: str = "en",
        engine: str | None = None,
    ) -> dict[str, Any]:
        """Translate lines of text (one engine call for all of them)."""
        self._admit(ctx)
        translated, source, target = await self.studio.translate(
            texts, source_language, target_language, engine=engine
        )
        return {"texts": translated, "source_language": source.code, "target_language": target.code}

    async def speak(
        self,
        ctx: Context[Any, Any],
        text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)],
        voice: str | None = None,
        language: str | None = None,
        engine: str | None = None,
        format: Literal["mp3", "wav", "flac", "opus"] = "mp3",
    ) -> list[AudioContent | str]:
        """Text to speech. ``voice`` is a voice id from ``list_engines`` or an OpenAI voice
        name; the language is detected when not given."""
        self._admit(ctx)
        request = SpeechRequest(text=text, voice=voice, language=language, engine=engine)
        choice = self.studio.resolve_voice(request)
        audio = await self.studio.speak_encoded(request, choice, format)
        encoded = base64.b64encode(audio).decode()
        return [
            AudioContent(type="audio", data=encoded, mime_type=mime_type(f"speech.{format}")),
            f"{choice.engine}:{choice.voice}",
        ]

    async def list_engines(self) -> dict[str, Any]:
        """Every engine, what it offers (languages, pairs, voices), whether it can run here
        and why not, and the default for each capability."""
        infos = await anyio.to_thread.run_sync(self.studio.registry.describe)
        return {
            "defaults": {c.value: self.studio.registry.default_name(c) for c in Capability},
            "engines": [
                {
                    "name": info.name,
                    "capability": info.capability.value,
                    "available": info.available,
                    "reason": info.reason,
                    "languages": list(info.languages),
                    "pairs": [f"{a}-{b}" for a, b in info.pairs],
                    "voices": [voice.id for voice in info.voices],
                }
                for info in infos
            ],
        }

    # --- dubs ---------------------------------------------------------------------------
    async def dub(
        self,
        ctx: Context[Any, Any],
        target_language: str,
        path: str | None = None,
        content_base64: str | None = None,
        filename: str | None = None,
        source_language: str | None = None,
        options: DubOptions | None = None,
        wait: bool = False,
    ) -> dict[str, Any]:
        """Start dubbing audio or video into ``target_language``; returns the dub (its
        ``id``). The media is ``path`` or ``content_base64``. With ``wait``, returns when the
        dub ends, sending progress notifications meanwhile; otherwise follow it with
        ``dub_status``."""
        client = self._admit(ctx)
        service = self.dubs()
        await service.admit(client)  # before receiving the media: refusing is cheap
        target = resolve_language(target_language).code
        source = (
            resolve_language(source_language).code
            if source_language and source_language != "auto"
            else None
        )
        plan = (options or DubOptions()).plan(target, source)
        async with received_media(
            self.settings,
            self.files,
            path=path,
            content_base64=content_base64,
            filename=filename,
        ) as received:
            job = await service.create(
                received.path, received.name, plan, kind=received.kind, client_id=client
            )
        if wait:
            job = await self._follow(ctx, job.id, after=0)
        return self._summary(job)

    async def dub_status(
        self, ctx: Context[Any, Any], dub_id: str, wait: bool = False
    ) -> dict[str, Any]:
        """A dub's status, stage, progress, error and outputs (as resource URIs). With
        ``wait``, returns when it ends, sending progress notifications meanwhile."""
        job = await self.dubs().get(dub_id)
        if wait and not job.status.finished:
            job = await self._follow(ctx, dub_id, after=await self._last_event(dub_id))
        return self._summary(job)

    async def list_dubs(
        self,
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
        offset: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0,
    ) -> dict[str, Any]:
        """Dubs, newest first."""
        jobs, total = await self.dubs().page(limit, offset)
        return {"items": [self._summary(job) for job in jobs], "total": total}

    async def list_lines(self, dub_id: str) -> dict[str, Any]:
        """A dub's lines (id, timing, speaker, source and translated text, voice, status)."""
        return {"lines": [segment_json(s) for s in await self.dubs().segments(dub_id)]}

    async def edit_line(
        self,
        dub_id: str,
        line_id: str,
        target_text: Annotated[str | None, Field(min_length=1, max_length=MAX_LINE_CHARS)] = None,
        source_text: Annotated[str | None, Field(min_length=1, max_length=MAX_LINE_CHARS)] = None,
        speaker: Annotated[str | None, Field(max_length=64)] = None,
        voice: Annotated[str | None, Field(max_length=200)] = None,
        start: Annotated[float | None, Field(ge=0)] = None,
        end: Annotated[float | None, Field(ge=0)] = None,
    ) -> dict[str, Any]:
        """Change one line (its translation, text, speaker, voice ``engine:voice`` or
        timing). It is marked stale until the next ``render``."""
        edit = SegmentEdit(
            source_text=source_text,
            target_text=target_text,
            speaker=speaker,
            voice=voice,
            start=start,
            end=end,
        )
        return segment_json(await self.dubs().edit_segment(dub_id, line_id, edit))

    async def render(
        self, ctx: Context[Any, Any], dub_id: str, wait: bool = False
    ) -> dict[str, Any]:
        """Re-voice the stale lines, then mix and export again. With ``wait``, returns when
        it ends, sending progress notifications meanwhile."""
        after = await self._last_event(dub_id)
        job = await self.dubs().render(dub_id)
        if wait:
            job = await self._follow(ctx, dub_id, after=after)
        return self._summary(job)

    # --- resources ----------------------------------------------------------------------
    async def read_output(self, dub_id: str, name: str) -> str | bytes:
        """A dub's output file: audio, video, subtitles or ``report.json``."""
        service = self.dubs()
        try:
            path = service.output_path(await service.get(dub_id), name)
        except NotFound as exc:
            raise ResourceNotFoundError(exc.detail) from None
        cap = self.settings.mcp.max_resource_mb * 1024 * 1024
        if path.stat().st_size > cap:
            where = str(path) if self.local else f"/api/v1/dubs/{dub_id}/outputs/{name}"
            raise ResourceError(
                f"{name} is larger than the {cap // (1024 * 1024)} MB an MCP resource "
                f"carries; get it from {where}."
            )
        data = await anyio.to_thread.run_sync(path.read_bytes)
        return data.decode("utf-8") if mime_type(name) in TEXT_TYPES.values() else data

    # --- helpers ------------------------------------------------------------------------
    def _admit(self, ctx: Context[Any, Any]) -> str | None:
        """The client a request counts against (None over stdio: the machine's user), after
        its rate limit."""
        request = ctx.request_context.request
        if not isinstance(request, Request):
            return None
        client = client_id(request)
        if self.rate_limiter is not None:
            self.rate_limiter.check(client)
        return client

    async def _last_event(self, dub_id: str) -> int:
        events = await self.dubs().events_after(dub_id, 0)
        return events[-1].seq if events else 0

    async def _follow(self, ctx: Context[Any, Any], dub_id: str, after: int) -> DubJob:
        """Wait for the run after event ``after`` to end, passing its progress on (only
        forward: MCP progress must increase)."""
        service = self.dubs()
        reported = -1.0
        async with contextlib.aclosing(service.follow(dub_id, after)) as events:
            async for event in events:
                if event.type == "done":
                    break
                fraction = event.data.get("progress")
                if event.type == "progress" and fraction is not None and fraction > reported:
                    reported = fraction
                    await ctx.report_progress(fraction, 1.0, _progress_message(event.data))
        return await service.get(dub_id)

    def _summary(self, job: DubJob) -> dict[str, Any]:
        service = self.dubs()
        outputs = []
        for name in sorted(job.outputs):
            try:
                path = service.output_path(job, name)
            except NotFound:  # listed but gone: leave it out
                continue
            output = {
                "name": name,
                "uri": OUTPUT_URI.format(dub_id=job.id, name=name),
                "mime_type": mime_type(name),
                "size": path.stat().st_size,
            }
            if self.local:
                output["path"] = str(path)
            outputs.append(output)
        return {
            "id": job.id,
            "status": job.status.value,
            "stage": job.stage,
            "progress": job.progress,
            "eta_s": job.eta_s,
            "error": job.error,
            "error_code": job.error_code,
            "input_name": job.input_name,
            "source_language": job.source_language,
            "target_language": job.plan.target_language,
            "duration_s": job.duration_s,
            "segments_done": job.segments_done,
            "segments_total": job.segments_total,
            "outputs": outputs,
        }


def _progress_message(data: dict[str, Any]) -> str:
    message = str(data.get("stage") or "")
    if data.get("total"):
        message += f" {data.get('done', 0)}/{data['total']}"
    if data.get("message"):
        message += f": {data['message']}"
    return message


def build_mcp_server(
    settings: Settings,
    studio: Studio,
    dubs: Callable[[], DubService],
    *,
    local: bool,
    rate_limiter: RateLimiter | None = None,
) -> StudioMcp:
    """The MCP server over ``studio`` and the dub service ``dubs`` returns (the app's is
    made at start-up, after this)."""
    tools = StudioTools(settings, studio, dubs, local=local, rate_limiter=rate_limiter)
    server = StudioMcp(
        "dubbing-studio",
        title="AI Dubbing Studio",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
    )
    for tool in (
        tools.transcribe,
        tools.translate,
        tools.list_engines,
        tools.dub,
        tools.dub_status,
        tools.list_dubs,
        tools.list_lines,
        tools.edit_line,
        tools.render,
    ):
        server.add_tool(_tool_errors(tool))
    server.add_tool(_tool_errors(tools.speak), structured_output=False)
    server.resource(OUTPUT_URI, name="dub_output", description=tools.read_output.__doc__)(
        tools.read_output
    )
    return server
