"""What reading untrusted media in a limited child process costs: probe and decode of the same
file in this process and through ``media.untrusted``, interleaved, with the ratio and the
added milliseconds per call (the child's start-up), and the share of a dub that is.

    .venv/bin/python bench/media.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import (
    alternate,
    build_input,
    emit_json,
    finish,
    machine,
    median_ratio,
    print_table,
    revision,
    timed,
)
from dubbing_studio import media

# One dub reads its upload through the child this often: probe at upload, probe and decode
# at ingest, decode for the mix.
CHILD_CALLS_PER_DUB = 4


def seconds_of(fn: Callable[[], object]) -> Callable[[], float]:
    return lambda: timed(fn)[1]


def compare(
    name: str, in_process: Callable[[], object], in_child: Callable[[], object], reps: int
) -> dict[str, Any]:
    inside, child = alternate(seconds_of(in_process), seconds_of(in_child), reps)
    return {
        "operation": name,
        "in_process_ms": statistics.median(inside) * 1000,
        "child_ms": statistics.median(child) * 1000,
        "added_ms": statistics.median(c - i for c, i in zip(child, inside, strict=True)) * 1000,
        "ratio": median_ratio(child, inside),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 5 s input, 3 repetitions")
    args = parser.parse_args()
    source = build_input(quick=args.quick)
    reps = 3 if args.quick else 9
    figures: dict[str, Any] = {
        "quick": args.quick,
        "machine": machine(),
        "revision": revision(),
        "input": source.describe(),
    }
    cap = 4 * 3600.0
    with tempfile.TemporaryDirectory(prefix="bench-media-") as work:
        results = [
            compare(
                "probe",
                lambda: media.probe(source.path, max_duration_s=cap),
                lambda: media.probe_untrusted(source.path, max_duration_s=cap),
                reps,
            ),
            compare(
                "decode 16 kHz mono",
                lambda: media.decode_audio(source.path, max_duration_s=cap),
                lambda: media.decode_untrusted(source.path, max_duration_s=cap, work_dir=work),
                reps,
            ),
        ]
        assert not any(Path(work).iterdir()), "the child left files behind"
    print_table(
        f"Reading a {source.duration_s:.0f} s WAV in this process and in a limited child "
        f"(median of {reps}, interleaved)",
        ["operation", "in process ms", "child ms", "added ms", "child / in process"],
        [
            [r["operation"], r["in_process_ms"], r["child_ms"], r["added_ms"], r["ratio"]]
            for r in results
        ],
    )
    added_per_dub_s = sum(r["added_ms"] for r in results) / 2 * CHILD_CALLS_PER_DUB / 1000
    print(
        f"\nabout {added_per_dub_s:.2f} s per dub ({CHILD_CALLS_PER_DUB} child calls), "
        f"{added_per_dub_s / source.duration_s:.3f} s per second of input"
    )
    figures.update(operations=results, added_per_dub_s=added_per_dub_s)
    finish(figures)
    emit_json(figures)


if __name__ == "__main__":
    main()
