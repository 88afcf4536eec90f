"""``dubbing-studio``: the command-line shell over the same services the API uses."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from dubbing_studio import media
from dubbing_studio.bootstrap import build_studio
from dubbing_studio.config import Settings
from dubbing_studio.domain.dub import DubPlan, MixPolicy, TimingPolicy
from dubbing_studio.domain.errors import InvalidInput, StudioError
from dubbing_studio.domain.languages import language_name
from dubbing_studio.domain.speech import Glossary
from dubbing_studio.domain.subtitles import to_srt, to_vtt
from dubbing_studio.logs import logging_config
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.pipeline.context import STAGES
from dubbing_studio.pipeline.context import Progress as ProgressEvent
from dubbing_studio.pipeline.runner import DubPipeline, DubResult
from dubbing_studio.services.api_keys import create_key, revoke_key
from dubbing_studio.services.studio import SpeechRequest, Studio

if TYPE_CHECKING:
    from dubbing_studio.jobs.store import ApiKeyStore

app = typer.Typer(
    name="dubbing-studio",
    help="AI Dubbing Studio: transcribe, translate and re-voice speech, offline by default.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
T = TypeVar("T")

# The README runs the demo from the repository root, with ../shared beside it.
DEFAULT_SAMPLE = Path("../shared/samples/jfk.flac")


def _friendly_errors(command: Callable[..., T]) -> Callable[..., T]:
    """Expected failures become one readable line and exit code 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return command(*args, **kwargs)
        except StudioError as exc:
            console.print(f"[bold red]error:[/] {exc.detail}")
            raise typer.Exit(2) from None
        except ValidationError as exc:  # settings from the environment or .env
            for error in exc.errors():
                where = ".".join(map(str, error["loc"]))
                message = error["msg"].removeprefix("Value error, ")
                console.print(f"[bold red]error:[/] invalid setting {where}: {message}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _studio() -> Studio:
    return build_studio(Settings())


def _step(label: str, coro: Coroutine[Any, Any, T]) -> T:
    """Run one stage with a spinner and elapsed time."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(label, total=None)
        result = _run(coro)
        progress.update(task, description=f"[green]✓[/] {label}")
    return result


@app.command()
@_friendly_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
) -> None:
    """Start the HTTP API (Swagger UI at /docs)."""
    import uvicorn

    settings = Settings()
    if (workers or settings.workers) > 1:
        raise InvalidInput(
            "The embedded job runner lives in one process: run one worker (several would "
            "each resume and run the same dubs)."
        )
    if host:  # the app factory reads its settings again: it must answer this host name
        os.environ["DUBBING_STUDIO_HOST"] = host
    uvicorn.run(
        "dubbing_studio.api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level=settings.log_level,
        log_config=logging_config(settings.log_level, settings.log_format),
    )


@app.command()
@_friendly_errors
def transcribe(
    input: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Audio or video.")],
    language: Annotated[str | None, typer.Option("--language", "-l", help="Code or name.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, json, srt or vtt.")] = "text",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here.")] = None,
    engine: Annotated[str | None, typer.Option(help="Transcriber engine.")] = None,
) -> None:
    """Speech to text with timestamps."""
    studio = _studio()
    result = _step(
        f"Transcribing {input.name}", studio.transcribe(input, language=language, engine=engine)
    )
    if fmt == "srt":
        text = to_srt(result.segments)
    elif fmt == "vtt":
        text = to_vtt(result.segments)
    elif fmt == "json":
        text = json.dumps(
            {
                "text": result.text,
                "language": result.language,
                "duration": result.duration,
                "segments": [
                    {
                        "start": s.start,
                        "end": s.end,
                        "text": s.text,
                        "words": [
                            {"start": w.start, "end": w.end, "word": w.text} for w in s.words
                        ],
                    }
                    for s in result.segments
                ],
            },
            ensure_ascii=False,
            indent=2,
        )
    else:
        text = result.text
    _emit(text, out)
    console.print(f"language: {language_name(result.language)}, {result.duration:.1f} s")


@app.command()
@_friendly_errors
def translate(
    text: Annotated[str | None, typer.Argument(help="Text; '-' or absent reads stdin.")] = None,
    source: Annotated[str, typer.Option("--from", help="Source language.")] = "en",
    target: Annotated[str, typer.Option("--to", help="Target language.")] = "es",
    file: Annotated[Path | None, typer.Option(help="Read the text from a file.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o")] = None,
    engine: Annotated[str | None, typer.Option(help="Translator engine.")] = None,
) -> None:
    """Text to text, one line per input line (one engine call for all of them)."""
    raw = file.read_text(encoding="utf-8") if file else text
    if raw is None or raw == "-":
        raw = sys.stdin.read()
    lines = raw.splitlines() or [raw]
    studio = _studio()
    translated, _, _ = _step(
        f"Translating {len(lines)} line(s)",
        studio.translate(lines, source, target, engine=engine),
    )
    _emit("\n".join(translated), out)


@app.command()
@_friendly_errors
def speak(
    text: Annotated[str, typer.Argument(help="Text to speak.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Audio file (.mp3, .wav, …).")] = Path(
        "speech.mp3"
    ),
    voice: Annotated[str | None, typer.Option(help="Voice id or OpenAI voice name.")] = None,
    language: Annotated[str | None, typer.Option("--language", "-l")] = None,
    engine: Annotated[str | None, typer.Option(help="Synthesizer engine.")] = None,
    rate: Annotated[float, typer.Option(help="Speaking rate, 1.0 natural.")] = 1.0,
) -> None:
    """Text to speech, written to an audio file."""
    studio = _studio()
    request = SpeechRequest(text=text, voice=voice, language=language, engine=engine, speed=rate)
    choice = studio.resolve_voice(request)
    speech = _step(
        f"Speaking with {choice.engine}/{choice.voice}", studio.synthesize(request, choice)
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    media.write_audio(out, speech.samples, speech.sample_rate, out.suffix.lstrip(".") or "mp3")
    console.print(f"wrote {out} ({speech.duration:.1f} s)")


@app.command()
@_friendly_errors
def engines() -> None:
    """Every engine, whether it can run here, and why not."""
    studio = _studio()
    table = Table("capability", "engine", "usable", "languages / pairs / voices")
    for info in studio.registry.describe():
        offer = (
            f"{len(info.pairs)} pairs"
            if info.pairs
            else f"{len(info.voices)} voices"
            if info.voices
            else f"{len(info.languages)} languages"
        )
        usable = "[green]yes[/]" if info.available else f"[red]no[/] {info.reason}"
        plugin = studio.registry.plugin_of(info.capability, info.name)
        name = f"{info.name} (plugin {plugin})" if plugin else info.name
        table.add_row(info.capability.value, name, usable, offer)
    Console().print(table)
    for status in studio.registry.plugins:
        if status.error:
            console.print(
                f"[red]plugin {status.name} ({status.target}) left out:[/] {status.error}"
            )


@app.command()
@_friendly_errors
def dub(
    input: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Audio or video.")],
    to: Annotated[str, typer.Option("--to", help="Target language (code or name).")],
    source: Annotated[str, typer.Option("--from", help="Source language, or auto.")] = "auto",
    voice: Annotated[str | None, typer.Option(help="Voice for every speaker.")] = None,
    speaker_voice: Annotated[
        list[str] | None, typer.Option("--speaker-voice", help="S1=engine:voice (repeatable).")
    ] = None,
    glossary: Annotated[
        Path | None, typer.Option(help="JSON {keep: [...], force: {term: translation}}.")
    ] = None,
    max_speed: Annotated[float, typer.Option(help="Fastest speed-up of a line.")] = 1.3,
    background: Annotated[str, typer.Option(help="duck or replace.")] = "duck",
    keep_original: Annotated[bool, typer.Option(help="Keep original audio in videos.")] = False,
    translator: Annotated[str | None, typer.Option(help="Translator engine.")] = None,
    synthesizer: Annotated[str | None, typer.Option(help="Synthesizer engine.")] = None,
    formats: Annotated[str, typer.Option(help="Audio outputs, comma-separated.")] = "mp3",
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out"),
    diarize: Annotated[
        bool | None,
        typer.Option(
            "--diarize/--no-diarize",
            help="Tell speakers on one channel apart by voice "
            "(default: when the speakers extra is installed).",
        ),
    ] = None,
) -> None:
    """Dub audio or video into another language, fitted to the original timing."""
    plan = build_plan(
        target=to,
        source=None if source == "auto" else source,
        voice=voice,
        speaker_voices=speaker_voice or [],
        glossary=glossary,
        max_speed=max_speed,
        background=background,
        keep_original=keep_original,
        translator=translator,
        synthesizer=synthesizer,
        formats=formats,
        diarize=diarize,
    )
    _run_dub(input, plan, out)


@app.command()
@_friendly_errors
def demo(
    speech: Annotated[Path, typer.Argument(help="Speech recording to dub.")] = DEFAULT_SAMPLE,
    to: Annotated[str, typer.Option("--to")] = "es",
    out: Annotated[Path, typer.Option("--out", "-o")] = Path("out/demo"),
) -> None:
    """Dub a generated test-pattern video carrying the sample speech, end to end."""
    if not speech.exists():
        raise StudioError(f"Sample {speech} not found; pass a speech recording.")
    out.mkdir(parents=True, exist_ok=True)
    video = media.speech_video(out / f"{speech.stem}.mp4", speech)
    _run_dub(video, DubPlan(target_language=to, audio_formats=("mp3",)), out)


keys = typer.Typer(
    help="API keys kept (hashed) in the studio's database; with any key, the API needs one.",
    no_args_is_help=True,
)
app.add_typer(keys, name="keys")


@contextlib.contextmanager
def _key_store() -> Iterator[ApiKeyStore]:
    # SQLAlchemy and Alembic take 0.7 s to import: only the key commands need the database.
    from dubbing_studio.jobs.store import ApiKeyStore, DubStore

    store = DubStore(Settings().database)
    try:
        store.migrate()
        yield ApiKeyStore(store)
    finally:
        store.close()


@keys.command("add")
@_friendly_errors
def keys_add(name: Annotated[str, typer.Argument(help="Who or what uses the key.")]) -> None:
    """Make a key and print it once (only its hash is kept)."""
    with _key_store() as store:
        made = create_key(store, name)
    sys.stdout.write(made.secret + "\n")
    console.print(
        f"key {made.key.id} ({made.key.name}) made; it is shown only now. Send it as "
        "'Authorization: Bearer <key>'."
    )


@keys.command("list")
@_friendly_errors
def keys_list() -> None:
    """Every key: id, name, prefix, when made and last used, and whether revoked."""
    with _key_store() as store:
        stored = store.list()
    table = Table("id", "name", "prefix", "created", "last used", "revoked")
    for key in stored:
        table.add_row(
            key.id,
            key.name,
            f"{key.prefix}…",
            _when(key.created_at),
            _when(key.last_used_at),
            _when(key.revoked_at) if key.revoked_at else "",
        )
    Console(width=200).print(table)


@keys.command("revoke")
@_friendly_errors
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (keys list).")]) -> None:
    """Revoke a key; a running server refuses it within seconds."""
    with _key_store() as store:
        revoked = revoke_key(store, key_id)
    console.print(f"key {revoked.id} ({revoked.name}) revoked")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def _run_dub(source: Path, plan: DubPlan, out: Path) -> None:
    settings = Settings()
    studio = build_studio(settings)
    pipeline = DubPipeline(studio, ArtifactStore(settings.data_dir / "artifacts"))
    pipeline.check(plan)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        tasks = {stage: progress.add_task(stage, total=None, note="") for stage in STAGES}

        def on_progress(event: ProgressEvent) -> None:
            progress.update(
                tasks[event.stage], completed=event.done, total=event.total, note=event.message[:50]
            )

        result = _run(pipeline.run(source, plan, out, progress=on_progress))
    _summary(result)


def _summary(result: DubResult) -> None:
    totals = result.report.totals()
    table = Table(title="Dub", show_header=False)
    table.add_row("duration", f"{result.report.duration_s:.1f} s")
    table.add_row("languages", f"{result.report.source_language} → {result.report.target_language}")
    table.add_row("segments", str(totals["segments"]))
    table.add_row("max speed", f"{totals['max_speed']:.2f}x")
    table.add_row("overruns / trimmed", f"{totals['overruns']} / {totals['trimmed']}")
    for name, path in result.outputs.items():
        table.add_row(name, str(path))
    Console().print(table)


def build_plan(
    *,
    target: str,
    source: str | None,
    voice: str | None,
    speaker_voices: list[str],
    glossary: Path | None,
    max_speed: float,
    background: str,
    keep_original: bool,
    translator: str | None,
    synthesizer: str | None,
    formats: str,
    diarize: bool | None = None,
) -> DubPlan:
    """The CLI's options as a plan; malformed values are one clear error each."""
    voices = {}
    for item in speaker_voices:
        speaker, sep, name = item.partition("=")
        if not sep or not speaker or not name:
            raise InvalidInput(f"--speaker-voice takes SPEAKER=VOICE, not {item!r}.")
        voices[speaker] = name
    if background not in ("duck", "replace"):
        raise InvalidInput("--background is duck or replace.")
    if not 1.0 <= max_speed <= 2.0:
        raise InvalidInput("--max-speed must be between 1.0 and 2.0.")
    return DubPlan(
        target_language=target,
        source_language=source,
        voice=voice,
        speaker_voices=voices,
        glossary=load_glossary(glossary) if glossary else Glossary(),
        timing=TimingPolicy(max_speed=max_speed),
        mix=MixPolicy(background=background),
        keep_original_audio=keep_original,
        translator=translator,
        synthesizer=synthesizer,
        audio_formats=tuple(f.strip() for f in formats.split(",") if f.strip()),
        diarize=diarize,
    )


def load_glossary(path: Path) -> Glossary:
    """``{"keep": ["Kennedy"], "force": {"country": "patria"}}``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Glossary(
            keep=tuple(data.get("keep", [])),
            force=tuple((str(k), str(v)) for k, v in data.get("force", {}).items()),
        )
    except (OSError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"Glossary {path} is not valid JSON of that shape: {exc}") from None


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")
