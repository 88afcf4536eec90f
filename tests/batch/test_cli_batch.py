"""``dubbing-studio dub`` over several files and languages: one recognition per file, a table
of every dub, and a broken file that fails alone (exit code 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dubbing_studio.cli import app
from tests.batch.conftest import FAST_ENV, TARGETS

pytestmark = pytest.mark.slow


def test_three_files_into_two_languages(
    clips: list[Path], not_media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUBBING_STUDIO_DATA_DIR", str(tmp_path / "data"))
    for name, value in FAST_ENV.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "out"
    inputs = [str(clips[0]), str(not_media), *map(str, clips[1:])]
    result = CliRunner().invoke(
        app,
        ["dub", *inputs, "--to", ",".join(TARGETS), "--synthesizer", "espeak-ng", "-o", str(out)],
    )
    assert result.exit_code == 1, result.output  # the broken file failed, the others did not
    assert "broken.mp4" in result.output and "6 of 8 dubs done" in result.output

    batch = json.loads((out / "batch.json").read_text())
    done = [item for item in batch["items"] if item["status"] == "succeeded"]
    assert len(done) == 6 and batch["failed"] == 2
    recognitions = {k: v for k, v in batch["engine_calls"].items() if k.startswith("transcribe:")}
    assert sum(recognitions.values()) == 3, batch["engine_calls"]
    for clip in clips:
        for language in TARGETS:
            folder = out / clip.stem / language
            report = json.loads((folder / "report.json").read_text())
            assert report["target_language"] == language
            assert (folder / f"{clip.stem}.{language}.mp3").exists()
