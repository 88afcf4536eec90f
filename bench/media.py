"""What reading untrusted media in a limited child process costs: probe and decode of the same
file in this process, in a new Python per call (``media.ChildPerCall``) and in a child forked
from a pre-started server (``media.ForkServer``, what the API and the workers use),
interleaved: wall milliseconds, the added milliseconds per call, the CPU seconds the child
(and for the fork server, the server) used per call, and what that comes to per dub.

    .venv/bin/python bench/media.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import (
    build_input,
    emit_json,
    finish,
    machine,
    median_ratio,
    print_table,
    revision,
)
from dubbing_studio import media

# One dub reads its upload through the child this often: probe at upload, probe and decode
# at ingest, decode for the mix.
CHILD_CALLS_PER_DUB = 4
TICKS = os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    """CPU seconds of the reaped children of this process (the per-call children)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _server_cpu_s(server: media.ForkServer) -> float:
    """CPU seconds of the fork server and of the children it reaped (none when stopped)."""
    if server.pid is None:
        return 0.0
    fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(field) for field in fields[11:15]) / TICKS


def measured(fn: Callable[[], object], server: media.ForkServer) -> Callable[[], dict[str, float]]:
    """Runs ``fn`` once: wall seconds and the CPU seconds its children (per call or forked,
    with the server) used."""

    def run() -> dict[str, float]:
        cpu_before = _children_cpu_s() + _server_cpu_s(server)
        start = time.perf_counter()
        fn()
        wall = time.perf_counter() - start
        return {"wall": wall, "cpu": _children_cpu_s() + _server_cpu_s(server) - cpu_before}

    return run


def compare(
    name: str,
    in_process: Callable[[], object],
    in_child: Callable[[media.Sandbox], object],
    server: media.ForkServer,
    reps: int,
) -> dict[str, Any]:
    kinds = {
        "in_process": measured(in_process, server),
        "child": measured(lambda: in_child(media.ChildPerCall()), server),
        "forked": measured(lambda: in_child(server), server),
    }
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    order = list(kinds)
    for rep in range(reps):  # the order rotates, so drifting load hits each alike
        for kind in order[rep % 3 :] + order[: rep % 3]:
            runs[kind].append(kinds[kind]())
    walls = {kind: [r["wall"] for r in runs[kind]] for kind in kinds}

    def added_ms(kind: str) -> float:
        pairs = zip(walls[kind], walls["in_process"], strict=True)
        return statistics.median(c - i for c, i in pairs) * 1000

    return {
        "operation": name,
        "in_process_ms": statistics.median(walls["in_process"]) * 1000,
        "child_ms": statistics.median(walls["child"]) * 1000,
        "forked_ms": statistics.median(walls["forked"]) * 1000,
        "added_ms": added_ms("child"),
        "forked_added_ms": added_ms("forked"),
        "ratio": median_ratio(walls["child"], walls["in_process"]),
        "forked_ratio": median_ratio(walls["forked"], walls["in_process"]),
        # Means, not medians: the fork server's CPU is read in clock ticks (10 ms), about one
        # quick call's worth, so a median of 3 reads 0 now and then.
        "child_cpu_s": statistics.mean(r["cpu"] for r in runs["child"]),
        "forked_cpu_s": statistics.mean(r["cpu"] for r in runs["forked"]),
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
    server = media.ForkServer()
    try:
        media.probe_untrusted(source.path, sandbox=server)  # started before measuring
        with tempfile.TemporaryDirectory(prefix="bench-media-") as work:
            results = [
                compare(
                    "probe",
                    lambda: media.probe(source.path, max_duration_s=cap),
                    lambda sandbox: media.probe_untrusted(
                        source.path, max_duration_s=cap, sandbox=sandbox
                    ),
                    server,
                    reps,
                ),
                compare(
                    "decode 16 kHz mono",
                    lambda: media.decode_audio(source.path, max_duration_s=cap),
                    lambda sandbox: media.decode_untrusted(
                        source.path, max_duration_s=cap, work_dir=work, sandbox=sandbox
                    ),
                    server,
                    reps,
                ),
            ]
            assert not any(Path(work).iterdir()), "the child left files behind"
    finally:
        server.close()
    print_table(
        f"Reading a {source.duration_s:.0f} s WAV in this process, in a new Python per call "
        f"and in a forked child (wall: median of {reps}, CPU: mean; interleaved)",
        [
            "operation",
            "in process ms",
            "per call ms",
            "forked ms",
            "added ms per call / forked",
            "child CPU s per call / forked",
        ],
        [
            [
                r["operation"],
                r["in_process_ms"],
                r["child_ms"],
                r["forked_ms"],
                f"{r['added_ms']:.0f} / {r['forked_added_ms']:.0f}",
                f"{r['child_cpu_s']:.3f} / {r['forked_cpu_s']:.3f}",
            ]
            for r in results
        ],
    )
    per_dub = {
        kind: sum(r[field] for r in results) / 2 * CHILD_CALLS_PER_DUB
        for kind, field in (
            ("added_s", "added_ms"),
            ("forked_added_s", "forked_added_ms"),
            ("cpu_s", "child_cpu_s"),
            ("forked_cpu_s", "forked_cpu_s"),
        )
    }
    added_per_dub_s = per_dub["added_s"] / 1000
    forked_added_per_dub_s = per_dub["forked_added_s"] / 1000
    print(
        f"\nper dub ({CHILD_CALLS_PER_DUB} child calls): a new Python each call adds about "
        f"{added_per_dub_s:.2f} s and {per_dub['cpu_s']:.2f} CPU s; forked children "
        f"{forked_added_per_dub_s:.2f} s and {per_dub['forked_cpu_s']:.2f} CPU s"
    )
    figures.update(
        operations=results,
        added_per_dub_s=added_per_dub_s,
        forked_added_per_dub_s=forked_added_per_dub_s,
        child_cpu_per_dub_s=per_dub["cpu_s"],
        forked_cpu_per_dub_s=per_dub["forked_cpu_s"],
    )
    finish(figures)
    emit_json(figures)


if __name__ == "__main__":
    main()
