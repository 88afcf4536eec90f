"""The command line: real engines, readable errors, proper exit codes."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dubbing_studio import media
from dubbing_studio.cli import app, main
from tests.conftest import require_echo_plugin


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DUBBING_STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_errors_are_one_line_and_exit_2(runner: CliRunner, samples_dir: Path) -> None:
    result = runner.invoke(app, ["dub", str(samples_dir / "jfk.flac"), "--to", "klingon"])
    assert result.exit_code == 2
    assert "Unknown language 'klingon'" in result.output
    assert "Traceback" not in result.output
    bad = runner.invoke(
        app, ["dub", str(samples_dir / "jfk.flac"), "--to", "es", "--speaker-voice", "nonsense"]
    )
    assert bad.exit_code == 2 and "SPEAKER=VOICE" in bad.output


def test_translate_and_engines(runner: CliRunner) -> None:
    result = runner.invoke(app, ["translate", "The house is big.", "--from", "en", "--to", "es"])
    assert result.exit_code == 0, result.output
    assert "casa" in result.stdout.lower()
    listing = runner.invoke(app, ["engines"])
    assert listing.exit_code == 0 and "apertium" in listing.stdout


def test_engines_lists_plugins_and_why_an_engine_cannot_run(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_echo_plugin()
    monkeypatch.setenv("DUBBING_STUDIO_LLAMACPP__MODEL", str(tmp_path / "absent.gguf"))
    monkeypatch.setenv("COLUMNS", "400")  # one table row per engine, cells unwrapped
    listing = runner.invoke(app, ["engines"])
    assert listing.exit_code == 0, listing.output
    cells = [[c.strip() for c in line.split("│")] for line in listing.stdout.splitlines()]
    rows = {row[2].split()[0]: row for row in cells if len(row) > 3 and row[1] == "translate"}
    assert rows["echo"][2:4] == ["echo (plugin echo)", "yes"]
    assert "No GGUF model file" in rows["llamacpp"][3]


@pytest.mark.slow
def test_transcribe_to_srt_and_speak(runner: CliRunner, samples_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["transcribe", str(samples_dir / "jfk.flac"), "-f", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["language"] == "en" and "country" in data["text"]
    out = tmp_path / "nested" / "hello.wav"
    spoken = runner.invoke(app, ["speak", "Hello there, friend.", "-o", str(out)])
    assert spoken.exit_code == 0, spoken.output
    assert media.probe(out).duration > 0.5


@pytest.mark.slow
def test_dub_writes_outputs_and_a_summary(
    runner: CliRunner, samples_dir: Path, tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "dub",
            str(samples_dir / "jfk.flac"),
            "--to",
            "es",
            "--formats",
            "mp3,wav",
            "--max-speed",
            "1.2",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "max speed" in result.stdout
    assert "words trimmed" in result.stdout and "heard back (WER / CER)" in result.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["totals"]["max_speed"] <= 1.2
    assert report["quality"]["back_transcribed"] and report["quality"]["wer"] is not None
    assert (tmp_path / "out" / "jfk.es.wav").exists()


# Libraries a dub needs only once a stage uses them (seconds of imports together): the CLI
# must reach its first stage without them (issue 12).
_LOADED_ON_USE = (
    "alembic",
    "ctranslate2",
    "faster_whisper",
    "httpx",
    "kokoro_onnx",
    "onnxruntime",
    "openai",
    "pedalboard",
    "piper",
    "pyloudnorm",
    "resemblyzer",
    "scipy",
    "sqlalchemy",
    "torch",
)
_FIRST_STAGE = """
import json, sys
from dubbing_studio.pipeline.runner import DubPipeline

async def first_stage(*args, **kwargs):
    print(json.dumps(sorted(sys.modules)))
    raise SystemExit(0)

DubPipeline.run = first_stage
from dubbing_studio.cli import app, main
app(sys.argv[1:], prog_name="dubbing-studio")
"""


def test_dub_reaches_its_first_stage_without_engine_libraries(
    samples_dir: Path, tmp_path: Path
) -> None:
    arguments = ["dub", str(samples_dir / "jfk.flac"), "--to", "es", "--out", str(tmp_path)]
    environment = {**os.environ, "DUBBING_STUDIO_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_STAGE, *arguments],
        capture_output=True, text=True, env=environment, cwd=tmp_path, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = {name.partition(".")[0] for name in json.loads(done.stdout.splitlines()[-1])}
    assert loaded.isdisjoint(_LOADED_ON_USE), sorted(loaded & set(_LOADED_ON_USE))


def test_the_command_leaves_its_objects_to_the_exit_not_the_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gc.unfreeze()
    monkeypatch.setattr(sys, "argv", ["dubbing-studio", "--help"])
    try:
        with pytest.raises(SystemExit) as exited:
            main()
        assert exited.value.code == 0
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
