"""Where a dub's CPU goes: one dub of the >= 60 s input with the studio's defaults (diarization,
a voice per speaker, separation where installed, hearing back), every engine call and every
piece of CPU work run one at a time on one worker thread, each charged the process CPU time
(user + system, its native threads included) it took.

Whole-process wall times on a shared 2-core machine swing by 50 % with the other programs'
load; CPU seconds per call barely move, and say what to make cheaper first (issue 12: this
found separation to be 40 % of the default en→en dub).

    .venv/bin/python bench/cpu_budget.py [--quick] [--to en]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from common import (
    bench_settings,
    build_input,
    emit_json,
    finish,
    machine,
    print_table,
    revision,
)
from dubbing_studio.bootstrap import build_studio
from dubbing_studio.domain.dub import DubPlan
from dubbing_studio.engines.gate import EngineGate
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.pipeline.runner import DubPipeline

T = TypeVar("T")


def process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class ChargingGate(EngineGate):
    """The studio's gate on one worker thread, charging each call's process CPU time to what
    it ran: ``engine:FUNCTION`` for engine calls, the function's name for other work."""

    def __init__(self) -> None:
        super().__init__(per_engine=1, workers=1, niceness=0)
        self.cpu_s: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    async def run(self, key: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self._charged(f"{key}:{_name(fn)}", fn, *args, **kwargs)

    async def compute(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self._charged(_name(fn), fn, *args, **kwargs)

    async def _charged(self, label: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def call() -> T:
            start = process_cpu_s()
            try:
                return fn(*args, **kwargs)
            finally:
                self.cpu_s[label] += process_cpu_s() - start
                self.calls[label] += 1

        return await super().compute(call)


def _name(fn: Callable[..., Any]) -> str:
    while isinstance(fn, partial):
        fn = fn.func
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", repr(fn)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short input: a smoke run")
    parser.add_argument("--to", default="en", help="target language (default en)")
    args = parser.parse_args()
    source = build_input(quick=args.quick)
    figures: dict[str, Any] = {"bench": "cpu_budget", "quick": args.quick, "machine": machine()}
    figures.update(revision=revision(), input=source.describe(), target=args.to)
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as work:
        studio = build_studio(bench_settings(temp_dir=Path(work) / "tmp"))
        studio.gate.close()
        gate = ChargingGate()
        studio.gate = gate
        pipeline = DubPipeline(studio, ArtifactStore(Path(work) / "artifacts"))
        started_cpu, started = process_cpu_s(), time.perf_counter()
        result = asyncio.run(
            pipeline.run(source.path, DubPlan(target_language=args.to), Path(work) / "out")
        )
        wall_s, cpu_s = time.perf_counter() - started, process_cpu_s() - started_cpu
    rows = [[label, seconds, gate.calls[label]] for label, seconds in gate.cpu_s.most_common()]
    print_table(f"CPU s per call kind, one dub → {args.to}", ["work", "cpu s", "calls"], rows)
    charged = sum(gate.cpu_s.values())
    print(f"total CPU {cpu_s:.2f} s ({charged:.2f} s charged above), wall {wall_s:.2f} s")
    quality = result.report.to_dict().get("quality") or {}
    figures.update(
        cpu_s=cpu_s,
        wall_s=wall_s,
        cpu_s_by_work=dict(gate.cpu_s),
        calls=dict(gate.calls),
        engine_calls=dict(result.engine_calls),
        voices={speaker: cast["voice"] for speaker, cast in result.report.speakers.items()},
        hear_back_wer=quality.get("wer"),
    )
    finish(figures)
    emit_json(figures)


if __name__ == "__main__":
    main()
