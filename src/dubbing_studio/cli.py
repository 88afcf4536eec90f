"""``dubbing-studio``: the command-line shell over the same services the API uses."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import replace
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
from dubbing_studio.bootstrap import build_studio, dub_engines
from dubbing_studio.config import Settings
from dubbing_studio.domain.dub import DubPlan, MixPolicy, TimingPolicy
from dubbing_studio.domain.errors import InvalidInput, StudioError
from dubbing_studio.domain.languages import language_name
from dubbing_studio.domain.speech import Glossary
from dubbing_studio.domain.subtitles import to_srt, to_vtt
from dubbing_studio.logs import logging_config
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.pipeline.batch import BatchItem, BatchOutcome, batch_items, run_batch
from dubbing_studio.pipeline.context import STAGES
from dubbing_studio.pipeline.context import Progress as ProgressEvent
from dubbing_studio.pipeline.export import write_text_atomic
from dubbing_studio.pipeline.runner import DubPipeline, DubResult
from dubbing_studio.pipeline.timing import FIT_POLICIES
from dubbing_studio.services.api_keys import create_key, revoke_key
from dubbing_studio.services.studio import SpeechRequest, Studio
from dubbing_studio.services.subtitle_import import SubtitleImport

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


def main() -> None:
    """The ``dubbing-studio`` command. Once it is done, the process's objects are frozen out of
    the garbage collector: the interpreter's last collections as it exits would only walk
    what the process is about to drop (0.10-0.15 s after a dub, with the models loaded)."""
    try:
        app()
    finally:
        gc.freeze()


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
    if (workers or settings.workers) > 1 and not settings.distributed:
        raise InvalidInput(
            "The embedded job runner lives in one process: run one worker (several would "
            "each resume and run the same dubs), or run dubs on worker processes "
            "(DUBBING_STUDIO_RUNNER=dramatiq)."
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
def mcp() -> None:
    """Serve the MCP server on stdin/stdout, for an MCP client that starts it (one process
    per data folder runs dubs: not beside a running serve)."""
    from dubbing_studio.mcp_server.stdio import serve_stdio

    _run(serve_stdio(Settings()))


@app.command()
@_friendly_errors
def worker(
    queues: Annotated[
        str,
        typer.Option(
            help="Queues to take: asr (recognition, hearing back), mt (translation), tts "
            "(speech, re-voiced lines), mix (mixing and outputs)."
        ),
    ] = "asr,mt,tts,mix",
    processes: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    threads: Annotated[int, typer.Option(min=1, help="Jobs at once per process.")] = 1,
) -> None:
    """Run dubs from Redis (DUBBING_STUDIO_RUNNER=dramatiq), on this machine's cores."""
    import logging.config
    import subprocess

    from dubbing_studio.scale.broker import QUEUES
    from dubbing_studio.scale.worker import WorkerNode

    settings = Settings()
    if not settings.distributed:
        raise InvalidInput("Workers need DUBBING_STUDIO_RUNNER=dramatiq (and its Redis URL).")
    taken = [q.strip() for q in queues.split(",") if q.strip()]
    if unknown := set(taken) - set(QUEUES):
        raise InvalidInput(f"Unknown queue(s) {sorted(unknown)}; there are {list(QUEUES)}.")
    if processes > 1:  # one child per process, each loading its own models
        command = [sys.executable, "-m", "dubbing_studio", "worker", "--queues", queues]
        children = [
            subprocess.Popen([*command, "--threads", str(threads)]) for _ in range(processes)
        ]
        try:
            for child in children:
                child.wait()
        except KeyboardInterrupt:
            for child in children:
                child.terminate()
            for child in children:
                child.wait()
        return
    logging.config.dictConfig(logging_config(settings.log_level, settings.log_format))
    WorkerNode(settings, taken).serve(threads)


@app.command()
@_friendly_errors
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Queues, workers and jobs by state (dubs on worker processes)."""
    from dubbing_studio.jobs.store import DubStore
    from dubbing_studio.scale.broker import build_broker, cluster_status

    settings = Settings()
    if not settings.distributed or settings.redis_url is None:
        raise InvalidInput("No worker processes here: DUBBING_STUDIO_RUNNER is not dramatiq.")
    store = DubStore(settings.database)
    try:
        found = cluster_status(build_broker(settings.redis_url), store)
    finally:
        store.close()
    if as_json:
        print(json.dumps(found, indent=2))
        return
    table = Table("queue", "waiting")
    for queue, waiting in found["queues"].items():
        table.add_row(queue, str(waiting))
    Console().print(table)
    table = Table("worker", "queues", "running")
    for name, seen in found["workers"].items():
        table.add_row(name, ",".join(seen["queues"]), ",".join(seen["running"]) or "-")
    Console().print(table)
    table = Table("jobs", "count")
    for state, count in found["jobs"].items():
        table.add_row(state, str(count))
    Console().print(table)


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
            if info.languages
            else ", ".join(info.models)
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
    inputs: Annotated[
        list[str],
        typer.Argument(help="Audio or video: files (one or many), or one http(s) URL."),
    ],
    to: Annotated[
        str, typer.Option("--to", help="Target language(s), comma-separated (code or name).")
    ],
    source: Annotated[str, typer.Option("--from", help="Source language, or auto.")] = "auto",
    voice: Annotated[str | None, typer.Option(help="Voice for every speaker.")] = None,
    speaker_voice: Annotated[
        list[str] | None, typer.Option("--speaker-voice", help="S1=engine:voice (repeatable).")
    ] = None,
    glossary: Annotated[
        Path | None, typer.Option(help="JSON {keep: [...], force: {term: translation}}.")
    ] = None,
    max_speed: Annotated[float, typer.Option(help="Fastest speed-up of a line.")] = 1.3,
    fit: Annotated[
        str,
        typer.Option(
            help="strict: cut a line at a pause when it cannot fit (words lost are reported); "
            "natural: never cut, let the speaker's next lines start up to 1 s late."
        ),
    ] = "strict",
    background: Annotated[
        str,
        typer.Option(
            help="auto (separate if installed, else duck), duck (original quieter under the "
            "dub), separate (original minus its speech; the separate extra) or replace."
        ),
    ] = "auto",
    keep_original: Annotated[bool, typer.Option(help="Keep original audio in videos.")] = False,
    translator: Annotated[str | None, typer.Option(help="Translator engine.")] = None,
    synthesizer: Annotated[str | None, typer.Option(help="Synthesizer engine.")] = None,
    formats: Annotated[str, typer.Option(help="Audio outputs, comma-separated.")] = "mp3",
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out"),
    back_transcribe: Annotated[
        bool,
        typer.Option(
            "--back-transcribe/--no-back-transcribe",
            help="Hear the dub back with Whisper and report each line's WER/CER.",
        ),
    ] = True,
    diarize: Annotated[
        bool | None,
        typer.Option(
            "--diarize/--no-diarize",
            help="Tell speakers on one channel apart by voice "
            "(default: when the speakers extra is installed).",
        ),
    ] = None,
    transcript: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="SRT, WebVTT or ASS transcript: skip recognition."
        ),
    ] = None,
    translation: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="SRT, WebVTT or ASS translation: skip translation, keep its timing.",
        ),
    ] = None,
    match_voice: Annotated[
        bool,
        typer.Option(
            "--match-voice", help="Shift each speaker's dub toward their pitch (±4 semitones)."
        ),
    ] = False,
) -> None:
    """Dub audio or video into other languages, fitted to the original timing.

    Several files or languages make a batch: each dub goes to OUT/<file>/<language>/ (one
    file: OUT/<language>/; one language: OUT/<file>/), a file that fails does not stop the
    others, and the exit code is 1 when any failed. Each file is transcribed once."""
    targets = [t.strip() for t in to.split(",") if t.strip()]
    if not targets:
        raise InvalidInput("--to names at least one language.")
    plans = [
        replace(
            build_plan(
                target=target,
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
                match_voice=match_voice,
                fit=fit,
            ),
            back_transcribe=back_transcribe,
        )
        for target in targets
    ]
    if len(inputs) == 1 and len(plans) == 1:
        _dub_one(inputs[0], plans[0], out, transcript, translation)
        return
    from dubbing_studio.services.url_fetch import is_url

    if transcript or translation or any(is_url(name) for name in inputs):
        raise InvalidInput(
            "Subtitle files and URLs dub one input into one language; a batch takes files."
        )
    paths = [Path(name) for name in inputs]
    for path in paths:
        if not path.is_file():
            raise InvalidInput(f"{path} is not a file.")
    if not _run_batch(batch_items(paths, plans, out)):
        raise typer.Exit(1)


def _dub_one(
    input: str, plan: DubPlan, out: Path, transcript: Path | None, translation: Path | None
) -> None:
    """One input (a file or a URL) into one language, with optional imported subtitles."""
    subtitles = SubtitleImport.parse(_named_text(transcript), _named_text(translation))
    if Path(input).is_file():
        _run_dub(Path(input), plan, out, subtitles)
        return
    # The URL fetcher (and its HTTP client) is imported only for a URL: a file's dub starts
    # sooner without it (issue 12, start-up).
    from dubbing_studio.services.url_fetch import UrlFetcher, is_url

    if not is_url(input):
        raise InvalidInput(f"{input} is not a file (nor an http(s) URL).")
    with UrlFetcher(Settings()).fetch(input) as fetched:
        console.print(f"fetched {fetched.name} ({fetched.kind})")
        _run_dub(fetched.path, plan, out, subtitles)


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


def _named_text(path: Path | None) -> tuple[str, str] | None:
    if path is None:
        return None
    try:
        return path.name, path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Cannot read {path} as UTF-8 text: {exc}") from None


def _run_dub(
    source: Path, plan: DubPlan, out: Path, subtitles: SubtitleImport | None = None
) -> None:
    settings = Settings()
    studio = build_studio(settings)
    pipeline = DubPipeline(dub_engines(studio), ArtifactStore(settings.data_dir / "artifacts"))
    pipeline.check(plan, translating=subtitles is None or not subtitles.translation)
    transcript = None
    if subtitles is not None:
        info = media.probe_untrusted(source, max_duration_s=settings.max_duration_s)
        transcript = subtitles.to_transcript(studio, plan.source_language, info.duration)
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

        result = _run(pipeline.run(source, plan, out, transcript=transcript, progress=on_progress))
    _summary(result)


def _run_batch(items: list[BatchItem]) -> bool:
    """Every dub under one progress display, then a table of them; True when all succeeded.
    ``batch.json`` in the output folder lists each dub, its outcome and its engine calls."""
    settings = Settings()
    studio = build_studio(settings)
    pipeline = DubPipeline(dub_engines(studio), ArtifactStore(settings.data_dir / "artifacts"))
    for plan in {item.plan.target_language: item.plan for item in items}.values():
        pipeline.check(plan)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        overall = progress.add_task("dubs", total=len(items), note="")
        stage = progress.add_task("", total=None, note="")

        def watch(index: int, item: BatchItem) -> Callable[[ProgressEvent], None]:
            label = f"{item.source.name[:18]} → {item.language}"
            progress.update(overall, note=label)

            def on_progress(event: ProgressEvent) -> None:
                progress.update(
                    stage,
                    description=event.stage,
                    completed=event.done,
                    total=event.total,
                    note=event.message[:50],
                )

            return on_progress

        def finished(index: int, outcome: BatchOutcome) -> None:
            progress.advance(overall)
            if not outcome.ok:
                console.print(
                    f"[bold red]failed:[/] {outcome.item.source} → {outcome.item.language}: "
                    f"{outcome.error}"
                )

        summary = _run(run_batch(pipeline, items, progress=watch, finished=finished))
    report = items[0].out_dir if len(items) == 1 else _common_folder(items)
    write_text_atomic(report / "batch.json", json.dumps(summary.to_dict(), indent=2))
    table = Table("file", "language", "status", "lines", "max speed", "recognitions", "output")
    for outcome in summary.outcomes:
        result = outcome.result
        table.add_row(
            outcome.item.source.name,
            outcome.item.language,
            "[green]done[/]" if result else "[red]failed[/]",
            str(len(result.segments)) if result else "",
            f"{result.report.totals()['max_speed']:.2f}x" if result else "",
            str(_recognitions(result.engine_calls)) if result else "",
            str(outcome.item.out_dir) if result else (outcome.error or "")[:60],
        )
    Console(width=160).print(table)
    recognitions = _recognitions(summary.engine_calls())
    console.print(
        f"{len(items) - summary.failed} of {len(items)} dubs done, "
        f"{recognitions} recognition(s) in total"
    )
    return summary.failed == 0


def _recognitions(calls: Counter[str]) -> int:
    return sum(count for name, count in calls.items() if name.startswith("transcribe:"))


def _common_folder(items: list[BatchItem]) -> Path:
    return Path(os.path.commonpath([item.out_dir for item in items]))


def _summary(result: DubResult) -> None:
    totals = result.report.totals()
    table = Table(title="Dub", show_header=False)
    table.add_row("duration", f"{result.report.duration_s:.1f} s")
    table.add_row("languages", f"{result.report.source_language} → {result.report.target_language}")
    table.add_row("segments", str(totals["segments"]))
    table.add_row("max speed", f"{totals['max_speed']:.2f}x")
    table.add_row("overruns / trimmed", f"{totals['overruns']} / {totals['trimmed']}")
    for speaker, cast in result.report.speakers.items():
        heard = (
            f"{cast['median_f0']:.0f} Hz, {cast['gender']} ({cast['gender_confidence']:.0%})"
            if cast["median_f0"]
            else "pitch unknown"
        )
        shift = cast["pitch_shift_semitones"]
        shifted = f", {shift:+.1f} st" if shift else ""
        table.add_row(speaker, f"{heard} → {cast['voice']}{shifted}")
    table.add_row("words trimmed", str(totals["words_trimmed"]))
    if totals["coverage"] is not None:
        table.add_row("speech covered", f"{totals['coverage']:.1%}")
    quality = result.report.quality()
    if quality["wer"] is not None:
        table.add_row("heard back (WER / CER)", f"{quality['wer']:.1%} / {quality['cer']:.1%}")
    for warning in result.report.warnings():
        table.add_row("review", f"[yellow]{warning}[/yellow]")
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
    match_voice: bool = False,
    fit: str = "strict",
) -> DubPlan:
    """The CLI's options as a plan; malformed values are one clear error each."""
    voices = {}
    for item in speaker_voices:
        speaker, sep, name = item.partition("=")
        if not sep or not speaker or not name:
            raise InvalidInput(f"--speaker-voice takes SPEAKER=VOICE, not {item!r}.")
        voices[speaker] = name
    if background not in ("auto", "duck", "separate", "replace"):
        raise InvalidInput("--background is auto, duck, separate or replace.")
    if not 1.0 <= max_speed <= 2.0:
        raise InvalidInput("--max-speed must be between 1.0 and 2.0.")
    if fit not in FIT_POLICIES:
        raise InvalidInput(f"--fit is one of {', '.join(FIT_POLICIES)}, not {fit!r}.")
    return DubPlan(
        target_language=target,
        source_language=source,
        voice=voice,
        speaker_voices=voices,
        glossary=load_glossary(glossary) if glossary else Glossary(),
        timing=TimingPolicy(max_speed=max_speed, fit=fit),
        mix=MixPolicy(background=background),
        keep_original_audio=keep_original,
        translator=translator,
        synthesizer=synthesizer,
        audio_formats=tuple(f.strip() for f in formats.split(",") if f.strip()),
        diarize=diarize,
        match_voice=match_voice,
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
