"""Dub projects under load: throughput (audio minutes dubbed per wall minute) with 1 and 3
jobs at once, and ``GET /health`` latency while they run, against a real server process.

Each run starts a fresh server (its own data folder, so nothing is cached between runs). The
concurrent jobs use distinct inputs (a tiny gain change) and distinct Kokoro voices, so no job
reuses another's transcript or speech through the content-keyed artifact store.

    .venv/bin/python bench/jobs.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import BenchInput, Server, build_input, emit_json, machine, print_table
from dubbing_studio import media

VOICES = ("kokoro:jm_kumo", "kokoro:jf_alpha", "kokoro:jf_nezumi", "kokoro:jf_tebukuro")
HEALTH_INTERVAL_S = 0.05
# The API stays responsive while dubs run: /health p99 under this with 3 jobs at once, on an
# otherwise idle machine (measured 15 ms on 2 cores; tests/e2e checks only that it answers).
HEALTH_P99_TARGET_MS = 100.0


def variant(source: BenchInput, index: int, folder: Path) -> Path:
    """The same speech with its gain nudged: a different file digest, the same work."""
    samples, rate = media.decode_audio(source.path, sample_rate=None)
    path = folder / f"input-{index}.wav"
    media.write_audio(path, samples * (1.0 - 0.001 * index), rate, "wav")
    return path


def run_jobs(inputs: list[Path], voices: list[str], duration_s: float) -> dict[str, Any]:
    """Submit all jobs at once, poll /health until they finish; wall time and latencies."""
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as root:
        server = Server(Path(root), {"DUBBING_STUDIO_MAX_CONCURRENT_JOBS": "3"})
        try:
            started = time.perf_counter()
            ids = []
            for path, voice in zip(inputs, voices, strict=True):
                with path.open("rb") as handle:
                    response = server.client.post(
                        "/api/v1/dubs",
                        files={"file": (path.name, handle)},
                        data={"target_language": "es", "options": json.dumps({"voice": voice})},
                    )
                response.raise_for_status()
                ids.append(response.json()["id"])
            latencies: list[float] = []
            pending = set(ids)
            while pending:
                before = time.perf_counter()
                server.client.get("/health").raise_for_status()
                latencies.append(time.perf_counter() - before)
                for dub_id in list(pending):
                    status = server.client.get(f"/api/v1/dubs/{dub_id}").json()["status"]
                    if status in ("failed", "cancelled"):
                        raise RuntimeError(f"dub {dub_id} {status}")
                    if status == "succeeded":
                        pending.discard(dub_id)
                time.sleep(HEALTH_INTERVAL_S)
            wall = time.perf_counter() - started
        finally:
            server.stop()
    audio_min = duration_s * len(inputs) / 60
    return {
        "jobs": len(inputs),
        "wall_s": wall,
        "audio_min_per_wall_min": audio_min / (wall / 60),
        "health_requests": len(latencies),
        "health_p50_ms": statistics.median(latencies) * 1000,
        "health_p99_ms": float(np.percentile(latencies, 99)) * 1000,
        "health_p99_target_ms": HEALTH_P99_TARGET_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 5 s input, for a smoke run")
    args = parser.parse_args()
    source = build_input(quick=args.quick)
    with tempfile.TemporaryDirectory(prefix="bench-inputs-") as folder:
        inputs = [variant(source, i, Path(folder)) for i in range(4)]
        single = run_jobs(inputs[:1], list(VOICES[:1]), source.duration_s)
        triple = run_jobs(inputs[1:], list(VOICES[1:]), source.duration_s)
    rows = [
        [
            f"{r['jobs']} job(s)",
            r["wall_s"],
            r["audio_min_per_wall_min"],
            r["health_requests"],
            r["health_p50_ms"],
            r["health_p99_ms"],
        ]
        for r in (single, triple)
    ]
    print_table(
        f"Dub throughput on a {source.duration_s:.0f} s input (en→es, Kokoro voices)",
        ["run", "wall s", "audio min/wall min", "/health n", "p50 ms", "p99 ms"],
        rows,
    )
    speedup = triple["audio_min_per_wall_min"] / single["audio_min_per_wall_min"]
    print(f"\nthroughput with 3 jobs / with 1 job: {speedup:.2f}x")
    health_ok = triple["health_p99_ms"] <= HEALTH_P99_TARGET_MS
    print(f"/health p99 with 3 jobs <= {HEALTH_P99_TARGET_MS:.0f} ms: {health_ok}")
    emit_json(
        {
            "input": source.describe(),
            "machine": machine(),
            "single": single,
            "concurrent": triple,
            "throughput_ratio_3_vs_1": speedup,
            "health_p99_ok": health_ok,
        }
    )


if __name__ == "__main__":
    main()
