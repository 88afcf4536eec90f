"""Whisper's sequential decoding against its batched decoding, in one process, interleaved.

Three inputs, each with a reference transcript:
- the 62 s input (``common.build_input``) recognised as a dub recognises its source (language
  detected per stretch, word timestamps);
- a hear-back: distinct lines spoken by Piper and joined with a second of silence between them,
  recognised in English, as ``pipeline/backcheck.py`` hears a dub back (it hears a repeated
  clip once, so the lines are the Gettysburg Address rather than the repeating 62 s input);
- ``jfk.flac`` on its own.

Every repetition runs each decoding on each input, the order turning round each time, and the
table shows median seconds, the ratio to sequential (median of the per-repetition ratios), the
word error rate and how far word start times moved from the sequential ones.

``--dubs`` also dubs the 62 s input en→en and en→es with the default plan (diarized, heard
back) under each decoding, interleaved: the source transcript's WER, the hear-back WER the dub
report gives, lines, flagged lines, and the seconds of the whole dub and of its recognition.

``--against REV`` also decodes batched with the Whisper engine of git revision REV (its
``whisper.py`` on the rest of this tree) and tables this tree against it: CPU seconds of the
transcribe call, WER, and how far the words that both heard moved.

    PYTHONPATH=src .venv/bin/python bench/recognition.py --reps 3 --batch-sizes 2 4 8 --dubs
    PYTHONPATH=src .venv/bin/python bench/recognition.py --reps 3 --against main
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from common import (
    CACHE_DIR,
    REPO_ROOT,
    SAMPLES_DIR,
    BenchInput,
    bench_settings,
    build_input,
    emit_json,
    finish,
    machine,
    median_ratio,
    print_table,
    revision,
    timed,
    timed_studio,
    word_error_rate,
)
from dubbing_studio import media
from dubbing_studio.bootstrap import build_registry
from dubbing_studio.domain.dub import DubPlan
from dubbing_studio.domain.speech import RECOGNITION_RATE, Transcription
from dubbing_studio.engines.protocols import SynthesisOptions, TranscribeOptions, Transcriber
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.pipeline.runner import DubPipeline
from pipeline import StageClock

GAP_S = 1.0  # as pipeline/backcheck.py joins the dubbed lines
DUBBED_LINES = (  # the Gettysburg Address (1863, public domain), a line per sentence
    "Four score and seven years ago our fathers brought forth on this continent, a new nation, "
    "conceived in Liberty, and dedicated to the proposition that all men are created equal.",
    "Now we are engaged in a great civil war, testing whether that nation, or any nation so "
    "conceived and so dedicated, can long endure.",
    "We are met on a great battle-field of that war.",
    "We have come to dedicate a portion of that field, as a final resting place for those who "
    "here gave their lives that that nation might live.",
    "It is altogether fitting and proper that we should do this.",
    "But, in a larger sense, we can not dedicate, we can not consecrate, we can not hallow, "
    "this ground.",
    "The brave men, living and dead, who struggled here, have consecrated it, far above our "
    "poor power to add or detract.",
    "The world will little note, nor long remember what we say here, but it can never forget "
    "what they did here.",
)


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    path: Path
    reference: str
    options: TranscribeOptions


def hear_back_input(texts: tuple[str, ...]) -> Path:
    """The reference lines in Piper's voice, a second of silence after each."""
    path = CACHE_DIR / f"hear-back-{len(texts)}lines-16k.wav"
    if path.exists():
        return path
    synthesizer = build_registry(bench_settings()).synthesizer("piper")
    gap = np.zeros(int(GAP_S * RECOGNITION_RATE), dtype=np.float32)
    parts: list[np.ndarray] = []
    for text in texts:
        speech = synthesizer.synthesize(text, SynthesisOptions(language="en"))
        parts.extend((media.resample(speech.samples, speech.sample_rate, RECOGNITION_RATE), gap))
    media.write_audio(path, np.concatenate(parts), RECOGNITION_RATE, "wav")
    return path


def transcriber(batch_size: int) -> Transcriber:
    settings = bench_settings()
    settings.whisper.batch_size = batch_size
    return build_registry(settings).transcriber("whisper")


def transcriber_at(rev: str, batch_size: int) -> Transcriber:
    """The Whisper engine of git revision ``rev``: its ``whisper.py`` on the rest of this tree."""
    path = "src/dubbing_studio/engines/local/whisper.py"
    source = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "show", f"{rev}:{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    name = "whisper_at_" + "".join(c if c.isalnum() else "_" for c in rev)
    with tempfile.TemporaryDirectory(prefix="bench-recognition-") as folder:
        module_path = Path(folder) / f"{name}.py"
        module_path.write_text(source)
        spec = importlib.util.spec_from_file_location(name, module_path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    settings = bench_settings()
    settings.whisper.batch_size = batch_size
    engine: Transcriber = module.WhisperTranscriber(
        settings.whisper, settings.model_idle_ttl_s, cache_dir=settings.data_dir / "models"
    )
    return engine


def word_moves(before: Transcription, after: Transcription) -> list[float]:
    """How far the start of each word both heard (matched by its text, in order) moved."""
    first = [word for segment in before.segments for word in segment.words]
    second = [word for segment in after.segments for word in segment.words]
    matcher = difflib.SequenceMatcher(
        a=[word.text.lower() for word in first],
        b=[word.text.lower() for word in second],
        autojunk=False,
    )
    return [
        abs(first[i + k].start - second[j + k].start)
        for i, j, size in matcher.get_matching_blocks()
        for k in range(size)
    ]


def dub_figures(decoding: str, batch_size: int, source: BenchInput, target: str) -> dict[str, Any]:
    """A default dub of ``source`` from a fresh artifact store, recognised with ``batch_size``."""
    settings = bench_settings()
    settings.whisper.batch_size = batch_size
    studio, _ = timed_studio(settings)
    with tempfile.TemporaryDirectory(prefix="bench-recognition-") as work:
        clock = StageClock()
        pipeline = DubPipeline(studio, ArtifactStore(Path(work) / "artifacts"))
        plan = DubPlan(target_language=target)
        result, wall_s = timed(
            lambda: asyncio.run(pipeline.run(source.path, plan, Path(work) / "out", progress=clock))
        )
        stages = clock.durations(time.perf_counter())
    quality = result.report.quality()
    return {
        "dub": f"en-{target} / {decoding}",
        "wall_s": wall_s,
        "transcribe_s": stages.get("transcribe"),
        "source_wer": word_error_rate(
            source.text, " ".join(segment.source_text for segment in result.segments)
        ),
        "heard_wer": quality["wer"],
        "max_line_wer": quality["max_wer"],
        "lines": len(result.segments),
        "flagged": quality["lines_flagged"],
    }


def word_starts(result: Transcription) -> list[float]:
    return [word.start for segment in result.segments for word in segment.words]


def words_in_order(result: Transcription) -> bool:
    """Every word inside the audio, none starting before the one it follows."""
    starts = word_starts(result)
    ends = [word.end for segment in result.segments for word in segment.words]
    inside = all(0.0 <= s <= e <= result.duration + 0.01 for s, e in zip(starts, ends, strict=True))
    return inside and starts == sorted(starts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="jfk.flac and the hear-back, once")
    parser.add_argument("--reps", type=int, default=None, help="default 3, quick 1")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4])
    parser.add_argument("--dubs", action="store_true", help="also dub with each decoding")
    parser.add_argument("--against", metavar="REV", help="also batched with REV's Whisper engine")
    args = parser.parse_args()
    reps = args.reps or (1 if args.quick else 3)

    source = build_input()
    dub_source = TranscribeOptions(word_timestamps=True, language_per_region=True)
    cases = [
        Case("62 s source", source.path, source.text, dub_source),
        Case(
            "hear-back",
            hear_back_input(DUBBED_LINES),
            " ".join(DUBBED_LINES),
            TranscribeOptions(language="en", word_timestamps=True),
        ),
        Case("jfk.flac", SAMPLES_DIR / "jfk.flac", source.texts[0], dub_source),
    ][1 if args.quick else 0 :]
    decoders = {"sequential": transcriber(0)} | {
        f"batch {size}": transcriber(size) for size in args.batch_sizes
    }
    if args.against:
        decoders |= {
            f"batch {size} @{args.against}": transcriber_at(args.against, size)
            for size in args.batch_sizes
        }
    for engine in decoders.values():  # model load and first-call costs stay out of the figures
        engine.transcribe(cases[-1].path, cases[-1].options)

    seconds: dict[tuple[str, str], list[float]] = {}
    cpu_seconds: dict[tuple[str, str], list[float]] = {}
    results: dict[tuple[str, str], Transcription] = {}
    names = list(decoders)
    for rep in range(reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for case in cases:
            for name in order if rep % 2 == 0 else order[::-1]:
                cpu_start = time.process_time()
                result, took = timed(partial(decoders[name].transcribe, case.path, case.options))
                cpu_seconds.setdefault((case.name, name), []).append(
                    time.process_time() - cpu_start
                )
                seconds.setdefault((case.name, name), []).append(took)
                results[case.name, name] = result

    rows: list[list[object]] = []
    figures: dict[str, object] = {
        "bench": "recognition",
        "quick": args.quick,
        "reps": reps,
        "input": {
            "cases": [case.name for case in cases],
            "duration_s": sum(results[case.name, "sequential"].duration for case in cases),
        },
        "machine": machine(),
        "revision": revision(),
        "cases": {},
    }
    for case in cases:
        baseline = seconds[case.name, "sequential"]
        before = word_starts(results[case.name, "sequential"])
        for name in names:
            result = results[case.name, name]
            ratio = median_ratio(seconds[case.name, name], baseline)
            after = word_starts(result)
            moved = (
                statistics.median(abs(a - b) for a, b in zip(after, before, strict=True))
                if len(after) == len(before) and after
                else None
            )
            row = {
                "median_s": statistics.median(seconds[case.name, name]),
                "cpu_s": statistics.median(cpu_seconds[case.name, name]),
                "vs_sequential": ratio,
                "wer": word_error_rate(case.reference, result.text),
                "words": len(after),
                "word_start_moved_s": moved,
                "words_in_order": words_in_order(result),
                "language": result.language,
            }
            figures["cases"][f"{case.name} / {name}"] = row  # type: ignore[index]
            rows.append([case.name, name, *row.values()])
    if args.dubs:
        dubs = [
            dub_figures(name, size, source, target)
            for target in ("en", "es")
            for name, size in [("sequential", 0), *((f"batch {b}", b) for b in args.batch_sizes)]
        ]
        figures["dubs"] = dubs
        print_table(
            "Default dubs of the 62 s input (diarized, heard back), fresh artifact store",
            list(dubs[0]),
            [list(row.values()) for row in dubs],
        )
    print_table(
        f"Whisper base, sequential vs batched decoding ({reps} interleaved reps)",
        [
            *("input", "decoding", "median s", "cpu s", "vs seq", "WER", "words", "moved s"),
            *("ordered", "lang"),
        ],
        rows,
    )
    if args.against:
        figures["against"] = against = against_figures(
            args.against, args.batch_sizes, cases, cpu_seconds, results
        )
        print_table(
            f"This tree's batched Whisper against {args.against}'s ({reps} interleaved reps)",
            ["input", "decoding", *list(next(iter(against.values())))],
            [[*key.split(" / "), *row.values()] for key, row in against.items()],
        )
    finish(figures)
    emit_json(figures)


def against_figures(
    rev: str,
    batch_sizes: list[int],
    cases: list[Case],
    cpu_seconds: dict[tuple[str, str], list[float]],
    results: dict[tuple[str, str], Transcription],
) -> dict[str, dict[str, object]]:
    """Each batched decoding of this tree next to the same decoding of ``rev``."""
    figures: dict[str, dict[str, object]] = {}
    for case in cases:
        for size in batch_sizes:
            here, there = f"batch {size}", f"batch {size} @{rev}"
            moves = word_moves(results[case.name, there], results[case.name, here])
            figures[f"{case.name} / {here}"] = {
                f"cpu_s_{rev}": statistics.median(cpu_seconds[case.name, there]),
                "cpu_s": statistics.median(cpu_seconds[case.name, here]),
                "cpu_ratio": median_ratio(
                    cpu_seconds[case.name, here], cpu_seconds[case.name, there]
                ),
                f"wer_{rev}": word_error_rate(case.reference, results[case.name, there].text),
                "wer": word_error_rate(case.reference, results[case.name, here].text),
                "words_matched": len(moves),
                "moved_median_s": statistics.median(moves) if moves else None,
                "moved_max_s": max(moves, default=None),
            }
    return figures


if __name__ == "__main__":
    main()
