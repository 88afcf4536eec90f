"""What cutting a dub into worker steps costs, in one process (no queue, no database).

On workers a dub runs as steps (recognise, translate, synthesize, hear back, mix), each a
call of ``DubPipeline.run_through`` that re-enters the pipeline and finds the earlier steps'
outputs in the artifact store. Per repetition, back to back (order swapped each time), each
with a fresh artifact store and warm models:

- one call: ``run``, the embedded runner's whole dub;
- chain: ``run_through`` for each step in turn, as the workers call it.

Chain / one call is the cost of the cut. Then, with everything stored, each step is called
again: what a step's re-entry (or a redelivered message that got past the claim) costs, as a
share of the one-call dub; the mix step always mixes and writes its outputs again.

    .venv/bin/python bench/steps.py [--quick] [--reps N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    alternate,
    bench_settings,
    build_input,
    emit_json,
    finish,
    machine,
    median_ratio,
    print_table,
    revision,
    timed_studio,
)
from dubbing_studio.domain.dub import DubPlan, MixPolicy
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.pipeline.runner import DubPipeline
from dubbing_studio.pipeline.steps import steps_of
from dubbing_studio.services.studio import Studio

# Hearing back on (it is a step); the background ducked, not separated (separation is the mix
# step's own work, the same either way).
PLAN = DubPlan(target_language="es", mix=MixPolicy(background="duck"))


def one_call(studio: Studio, source: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-steps-") as work:
        pipeline = DubPipeline(studio, ArtifactStore(Path(work) / "artifacts"))
        start = time.perf_counter()
        asyncio.run(pipeline.run(source, PLAN, Path(work) / "out"))
        return time.perf_counter() - start


def chain(studio: Studio, source: Path, reentries: dict[str, list[float]]) -> float:
    """The steps in turn in a fresh store; then each again, everything stored."""
    with tempfile.TemporaryDirectory(prefix="bench-steps-") as work:
        pipeline = DubPipeline(studio, ArtifactStore(Path(work) / "artifacts"))

        def step_s(step: str) -> float:
            start = time.perf_counter()
            asyncio.run(pipeline.run_through(step, source, PLAN, Path(work) / "out"))
            return time.perf_counter() - start

        total = sum(step_s(step) for step in steps_of(PLAN))
        for step in steps_of(PLAN):
            reentries.setdefault(step, []).append(step_s(step))
        return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short input: a smoke run")
    parser.add_argument("--reps", type=int, help="repetitions (default 3, quick 1)")
    args = parser.parse_args()
    reps = args.reps or (1 if args.quick else 3)
    warmup = build_input(quick=True)
    source = warmup if args.quick else build_input()
    figures: dict[str, Any] = {"bench": "steps", "quick": args.quick, "machine": machine()}
    figures["revision"] = revision()
    figures.update(input=source.describe(), reps=reps)
    with tempfile.TemporaryDirectory(prefix="bench-steps-tmp-") as temp:
        studio, _ = timed_studio(bench_settings(temp_dir=Path(temp)))
        one_call(studio, warmup.path)  # loads every model the measured runs use
        reentries: dict[str, list[float]] = {}
        whole, chained = alternate(
            lambda: one_call(studio, source.path),
            lambda: chain(studio, source.path, reentries),
            reps,
        )
        studio.gate.close()
    one_call_s = statistics.median(whole)
    figures["one_call_s"] = one_call_s
    figures["chain_s"] = statistics.median(chained)
    figures["chain_ratio"] = median_ratio(chained, whole)
    figures["reentry_s"] = {step: statistics.median(s) for step, s in reentries.items()}
    figures["reentry_share"] = {
        step: seconds / one_call_s for step, seconds in figures["reentry_s"].items()
    }
    finish(figures)
    print_table(
        f"Dub of {source.duration_s:.0f} s en→es, median of {reps}",
        ["run", "seconds", "vs one call"],
        [
            ["one call (embedded)", one_call_s, 1.0],
            ["chain of steps", figures["chain_s"], figures["chain_ratio"]],
            *[
                [f"{step} again, all stored", seconds, figures["reentry_share"][step]]
                for step, seconds in figures["reentry_s"].items()
            ],
        ],
    )
    emit_json(figures)


if __name__ == "__main__":
    main()
