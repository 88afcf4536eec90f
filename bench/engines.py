"""Speed and memory of each local engine, what the HTTP shell adds to a transcription, and
what a remote engine costs: the studio's own ``/v1`` as another studio's engine.

Each engine runs in its own fresh process (its peak memory is its own): one short warm-up call
(which loads the model: ``warmup_s``), then one timed call on the >= 60 s input, or on
its reference transcript for translation and speech. Then ``POST /api/v1/audio/transcribe``
through a real uvicorn server is timed against calling the transcriber directly, on the same
file with the same loaded model, interleaved; the median ratio is the API's overhead.

The remote path: a second studio process (``dubbing-studio serve``) serves transcription and
speech at its ``/v1``; the same dub (Whisper base, Apertium, espeak-ng) runs with those engines
local and through that server, alternately, from fresh artifact stores; then single calls
(a transcription of the short input, one spoken line) are timed both ways, interleaved, and the
median difference is the overhead per call (HTTP, upload, encoding, the server's own checks).

    .venv/bin/python bench/engines.py [--quick] [--reps N]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import (
    BenchInput,
    alternate,
    bench_settings,
    build_input,
    emit_json,
    finish,
    machine,
    median_ratio,
    print_table,
    revision,
    rss_mb,
    run_isolated,
    timed,
    timed_studio,
    word_error_rate,
)
from dubbing_studio.bootstrap import build_registry, build_studio, dub_engines
from dubbing_studio.config import EngineDefaults, OpenAIEndpoint, OpenAISettings
from dubbing_studio.domain.dub import DubPlan
from dubbing_studio.engines.protocols import SynthesisOptions, TranscribeOptions
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.pipeline.diarize import diarize_file
from dubbing_studio.pipeline.runner import DubPipeline

API_OVERHEAD_TARGET = 1.05
ENCODER = "resemblyzer"  # speaker embeddings for diarization: an optional extra
WARMUP_TEXT = {"en": "Hello there.", "es": "Hola a todos."}


# --- measured in fresh processes (module level, so they pickle) ----------------------------


def measure_transcriber(model: str, audio: str, reference: str, warmup: str) -> dict[str, Any]:
    """Whisper ``model`` with the product's options (beam 5, word timestamps, VAD)."""
    registry = build_registry(bench_settings(whisper_model=model))
    baseline_mb = rss_mb()
    transcriber = registry.transcriber()
    options = TranscribeOptions()
    _, warmup_s = timed(lambda: transcriber.transcribe(Path(warmup), options))
    result, seconds = timed(lambda: transcriber.transcribe(Path(audio), options))
    return {
        "seconds": seconds,
        "audio_s": result.duration,
        "rtf": seconds / result.duration,
        "warmup_s": warmup_s,
        "wer": word_error_rate(reference, result.text),
        "baseline_mb": baseline_mb,
        "language": result.language,
    }


def measure_translator(texts: list[str], audio_s: float) -> dict[str, Any]:
    """Apertium en→es: the whole transcript as one batch (one process per call)."""
    registry = build_registry(bench_settings())
    baseline_mb = rss_mb()
    translator = registry.translator("apertium")
    _, startup_s = timed(lambda: translator.translate(["Hello."], "en", "es"))
    translated, seconds = timed(lambda: translator.translate(texts, "en", "es"))
    words = sum(len(text.split()) for text in texts)
    return {
        "seconds": seconds,
        "words": words,
        "words_per_s": words / seconds,
        "startup_s": startup_s,
        "baseline_mb": baseline_mb,
        "rtf": seconds / audio_s,  # per second of the source audio
        "translated": translated,
    }


def measure_synthesizer(engine: str, language: str, text: str) -> dict[str, Any]:
    """``engine``'s default voice for ``language``; RTF per second of speech produced."""
    registry = build_registry(bench_settings())
    baseline_mb = rss_mb()
    synthesizer = registry.synthesizer(engine)
    options = SynthesisOptions(language=language)
    _, warmup_s = timed(lambda: synthesizer.synthesize(WARMUP_TEXT[language], options))
    speech, seconds = timed(lambda: synthesizer.synthesize(text, options))
    return {
        "seconds": seconds,
        "audio_s": speech.duration,
        "rtf": seconds / speech.duration,
        "warmup_s": warmup_s,
        "chars": len(text),
        "baseline_mb": baseline_mb,
    }


def measure_speaker_encoder(audio: str, spans: list[tuple[float, float]]) -> dict[str, Any]:
    """Diarization as the pipeline calls it: one voice embedding per line, then clustering;
    RTF per second of speech embedded. The encoder is an optional extra."""
    encoder = build_studio(bench_settings()).speaker_encoder
    available, reason = encoder.available()
    if not available:
        return {"available": False, "reason": reason}
    baseline_mb = rss_mb()
    _, warmup_s = timed(lambda: diarize_file(Path(audio), spans[:1], encoder))
    labels, seconds = timed(lambda: diarize_file(Path(audio), spans, encoder))
    speech_s = sum(end - start for start, end in spans)
    return {
        "available": True,
        "seconds": seconds,
        "audio_s": speech_s,
        "rtf": seconds / speech_s,
        "warmup_s": warmup_s,
        "baseline_mb": baseline_mb,
        "speakers": len(set(labels)),
    }


def engine_figures(source: BenchInput, warmup: BenchInput) -> dict[str, dict[str, Any]]:
    """Every engine, one after another (never two at once on 2 cores)."""
    figures: dict[str, dict[str, Any]] = {}
    for model in ("base", "tiny.en"):
        run = run_isolated(
            measure_transcriber, model, str(source.path), source.text, str(warmup.path)
        )
        figures[f"whisper-{model}"] = {**run.value, "peak_mb": run.peak_mb}
    apertium = run_isolated(measure_translator, list(source.texts), source.duration_s)
    spanish = " ".join(apertium.value.pop("translated"))
    figures["apertium"] = {**apertium.value, "peak_mb": apertium.peak_mb}
    for name, engine, language, text in (
        ("piper", "piper", "en", source.text),
        ("kokoro-en", "kokoro", "en", source.text),
        ("kokoro-es", "kokoro", "es", spanish),
        ("espeak-ng", "espeak-ng", "en", source.text),
    ):
        run = run_isolated(measure_synthesizer, engine, language, text)
        figures[name] = {**run.value, "peak_mb": run.peak_mb}
    encoder = run_isolated(measure_speaker_encoder, str(source.path), list(source.spans))
    if encoder.value.pop("available"):
        figures[ENCODER] = {**encoder.value, "peak_mb": encoder.peak_mb}
    else:
        print(f"{ENCODER} skipped: {encoder.value['reason']}")
    return figures


# --- API overhead, in this process --------------------------------------------------------


# The HTTP stack is imported only here: every engine's fresh process re-imports this script,
# and FastAPI, uvicorn and httpx (about 40 MB) would otherwise count towards its peak memory.


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """A real uvicorn server on 127.0.0.1 in a background thread; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def api_overhead(source: BenchInput, reps: int) -> dict[str, Any]:
    """Median of (API seconds / direct seconds) over back-to-back pairs, same model, same file.

    The engine's own speed swings by tens of percent on a shared machine, so the pairs ratio is
    noisy; the time the server spent outside the engine call (request minus the engine time
    its gate measured) is the shell's cost without that noise, reported beside it.
    """
    import httpx

    from dubbing_studio.api.app import create_app

    with tempfile.TemporaryDirectory(prefix="bench-api-") as work:
        settings = bench_settings(temp_dir=Path(work))
        studio, gate = timed_studio(settings)
        transcriber = studio.registry.transcriber()
        texts: dict[str, str] = {}
        shell_s: list[float] = []

        def direct() -> float:
            result, seconds = timed(
                lambda: transcriber.transcribe(source.path, TranscribeOptions())
            )
            texts["direct"] = result.text
            return seconds

        with serving(create_app(settings, studio)) as url, httpx.Client(timeout=600) as client:

            def api() -> float:
                def post() -> httpx.Response:
                    with source.path.open("rb") as audio:
                        files = {"file": (source.path.name, audio, "audio/wav")}
                        return client.post(f"{url}/api/v1/audio/transcribe", files=files)

                gate.calls.clear()
                response, seconds = timed(post)
                response.raise_for_status()
                texts["api"] = response.json()["text"]
                shell_s.append(seconds - gate.seconds())
                return seconds

            direct()  # warm both: model loaded, server threads and connection up
            api()
            shell_s.clear()
            api_s, direct_s = alternate(api, direct, reps)
    ratio = median_ratio(api_s, direct_s)
    direct_median = statistics.median(direct_s)
    shell_median = statistics.median(shell_s)
    return {
        "ratio_median": ratio,
        "target": API_OVERHEAD_TARGET,
        "ok": ratio <= API_OVERHEAD_TARGET,
        "api_s": api_s,
        "direct_s": direct_s,
        "api_median_s": statistics.median(api_s),
        "direct_median_s": direct_median,
        "shell_s": shell_s,
        "shell_median_s": shell_median,
        "shell_ratio": (direct_median + shell_median) / direct_median,
        "reps": reps,
        "same_text": texts["api"] == texts["direct"],
    }


# --- the remote path: another studio's /v1 as the engines -------------------------------

REMOTE_PLANS = {
    "local": DubPlan(
        target_language="es",
        source_language="en",
        transcriber="whisper",
        translator="apertium",
        synthesizer="espeak-ng",
        audio_formats=("wav",),
        diarize=False,
    ),
    "remote": DubPlan(
        target_language="es",
        source_language="en",
        transcriber="openai",
        translator="apertium",
        synthesizer="openai",
        audio_formats=("wav",),
        diarize=False,
    ),
}
SPOKEN_LINE = "Y así, mis compatriotas, no preguntéis qué puede hacer vuestro país por vosotros."


def remote_path(source: BenchInput, warmup: BenchInput, reps: int) -> dict[str, Any]:
    """Dub RTF with local engines and with the same engines behind a studio's ``/v1``, and
    the overhead of one remote call over the same call made locally."""
    import asyncio

    from common import Server

    with tempfile.TemporaryDirectory(prefix="bench-remote-") as work:
        root = Path(work)
        (root / "engine").mkdir()
        engine = Server(
            root / "engine",
            env={  # local engines, whatever OpenAI settings the environment has
                "DUBBING_STUDIO_ENGINES__TRANSCRIBER": "whisper",
                "DUBBING_STUDIO_ENGINES__TRANSLATOR": "apertium",
                "DUBBING_STUDIO_ENGINES__SYNTHESIZER": "piper",
                "DUBBING_STUDIO_RATE_LIMIT__REQUESTS_PER_MINUTE": "0",
            },
        )
        try:
            v1 = f"{engine.url}/v1"
            endpoint = OpenAIEndpoint(base_url=v1)
            settings = bench_settings(temp_dir=root / "tmp").model_copy(
                update={
                    "openai": OpenAISettings(
                        transcription=endpoint.model_copy(update={"model": "whisper-1"}),
                        speech=endpoint.model_copy(update={"model": "espeak-ng"}),
                    ),
                    "engines": EngineDefaults(
                        transcriber="whisper", translator="apertium", synthesizer="espeak-ng"
                    ),
                }
            )
            studio, gate = timed_studio(settings)
            engines = dub_engines(studio)
            runs = iter(range(1_000_000))

            def dub(kind: str, audio: BenchInput) -> float:
                out = root / f"{kind}-{next(runs)}"  # fresh store: nothing cached
                pipeline = DubPipeline(engines, ArtifactStore(out / "artifacts"))
                plan = REMOTE_PLANS[kind]
                _, seconds = timed(lambda: asyncio.run(pipeline.run(audio.path, plan, out)))
                return seconds

            dub("local", warmup)  # load Whisper here and in the engine studio
            dub("remote", warmup)
            dub_reps = 1 if source is warmup else 2
            local_s, remote_s = alternate(
                lambda: dub("local", source), lambda: dub("remote", source), dub_reps
            )

            transcribers = {k: studio.registry.transcriber(k) for k in ("whisper", "openai")}
            synths = {k: studio.registry.synthesizer(k) for k in ("espeak-ng", "openai")}
            options = TranscribeOptions(language="en")
            spoken = SynthesisOptions(language="es")

            def transcribe(kind: str) -> float:
                call = transcribers[kind]
                return timed(lambda: call.transcribe(warmup.path, options))[1]

            def speak(kind: str) -> float:
                call = synths[kind]
                return timed(lambda: call.synthesize(SPOKEN_LINE, spoken))[1]

            call_reps = max(3, reps)
            stt_local, stt_remote = alternate(
                lambda: transcribe("whisper"), lambda: transcribe("openai"), call_reps
            )
            tts_local, tts_remote = alternate(
                lambda: speak("espeak-ng"), lambda: speak("openai"), call_reps * 3
            )
            server_mb = engine.rss_mb()
            gate.close()
        finally:
            engine.stop()
    median = statistics.median
    return {
        "input_s": source.duration_s,
        "dub_local_s": local_s,
        "dub_remote_s": remote_s,
        "dub_rtf_local": median(local_s) / source.duration_s,
        "dub_rtf_remote": median(remote_s) / source.duration_s,
        "dub_ratio_remote_local": median_ratio(remote_s, local_s),
        "transcribe_local_median_s": median(stt_local),
        "transcribe_remote_median_s": median(stt_remote),
        "transcribe_overhead_s": median(stt_remote) - median(stt_local),
        "transcribe_audio_s": warmup.duration_s,
        "speak_local_median_s": median(tts_local),
        "speak_remote_median_s": median(tts_remote),
        "speak_overhead_s": median(tts_remote) - median(tts_local),
        "engine_server_mb": server_mb,
        "reps": call_reps,
    }


def report(figures: dict[str, Any]) -> None:
    engines = figures["engines"]
    rows = []
    for name, f in engines.items():
        rate = f"{f['words_per_s']:.0f} words/s" if "words_per_s" in f else None
        if "speakers" in f:
            rate = f"{f['speakers']} speakers"
        first = f.get("warmup_s", f.get("startup_s"))
        memory = (f["baseline_mb"], f["peak_mb"])
        row = (name, f["rtf"], f["seconds"], f.get("audio_s"), first, *memory, f.get("wer"))
        rows.append((*row, rate))
    source = figures["input"]
    print_table(
        f"Engines on {source['duration_s']:.1f} s of speech ({source['words']} words), each in a "
        "fresh process; RTF = processing s per audio s (synthesizers: per s produced); "
        "warm-up = first short call incl. model load (apertium: one-word call); base MB = the "
        "process before the engine (Python + dubbing_studio imports), peak MB = whole run",
        ("engine", "RTF", "seconds", "audio s", "warm-up s", "base MB", "peak MB", "WER", "rate"),
        rows,
    )
    api = figures["api_overhead"]
    print_table(
        f"POST /api/v1/audio/transcribe vs direct transcriber call ({api['reps']} interleaved "
        "pairs after warm-up)",
        ("measure", "value"),
        [
            ("API median s", api["api_median_s"]),
            ("direct median s", api["direct_median_s"]),
            ("median ratio API/direct", api["ratio_median"]),
            (f"median ratio <= {api['target']}", api["ok"]),
            ("server time outside the engine, median s", api["shell_median_s"]),
            ("ratio from that (direct + shell) / direct", api["shell_ratio"]),
            ("same transcript", api["same_text"]),
        ],
    )
    remote = figures["remote_path"]
    print_table(
        f"Remote path: a dub of {remote['input_s']:.1f} s en→es (Whisper base, Apertium, "
        "espeak-ng) with the engines local vs behind another studio's /v1 (transcription and "
        f"speech), alternated; single calls in {remote['reps']} interleaved pairs (speech: "
        f"{remote['reps'] * 3})",
        ("measure", "local", "remote", "remote - local"),
        [
            ("dub RTF", remote["dub_rtf_local"], remote["dub_rtf_remote"], None),
            ("dub median ratio remote/local", None, remote["dub_ratio_remote_local"], None),
            (
                f"transcribe {remote['transcribe_audio_s']:.1f} s, median s",
                remote["transcribe_local_median_s"],
                remote["transcribe_remote_median_s"],
                remote["transcribe_overhead_s"],
            ),
            (
                "speak one line, median s",
                remote["speak_local_median_s"],
                remote["speak_remote_median_s"],
                remote["speak_overhead_s"],
            ),
            ("engine studio RSS MB", None, remote["engine_server_mb"], None),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short input: a smoke run")
    parser.add_argument("--reps", type=int, help="API/direct pairs (default 5, quick 3; >= 3)")
    args = parser.parse_args()
    warmup = build_input(quick=True)
    source = warmup if args.quick else build_input()
    figures: dict[str, Any] = {"bench": "engines", "quick": args.quick, "machine": machine()}
    figures["revision"] = revision()
    figures["input"] = source.describe()
    figures["engines"] = engine_figures(source, warmup)
    reps = args.reps or (3 if args.quick else 5)
    figures["api_overhead"] = api_overhead(source, max(3, reps))
    figures["remote_path"] = remote_path(source, warmup, reps)
    finish(figures)
    report(figures)
    emit_json(figures)


if __name__ == "__main__":
    main()
