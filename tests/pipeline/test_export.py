"""The dubbed audio files: as many channels as the mix really has."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from dubbing_studio import media
from dubbing_studio.domain.errors import StudioError
from dubbing_studio.engines.gate import EngineGate
from dubbing_studio.pipeline.export import output_writers
from dubbing_studio.pipeline.runner import written_side_by_side

RATE = 16_000


def _export(mixed: np.ndarray, source: Path, out_dir: Path) -> dict[str, Path]:
    writers = output_writers(
        out_dir=out_dir,
        stem="dub",
        source=source,
        has_video=False,
        mixed=mixed,
        rate=RATE,
        lines=[],
        audio_formats=("mp3", "wav"),
        video_format=None,
        keep_original_audio=False,
        source_language="en",
        target_language="es",
    )
    return {name: path for write in writers for name, path in write().items()}


@pytest.fixture(scope="module")
def jfk_stereo(samples_dir: Path) -> np.ndarray:
    """jfk.flac's two channels, which differ slightly."""
    samples, _ = media.decode_audio(samples_dir / "jfk.flac", sample_rate=RATE, channels="stereo")
    assert not np.array_equal(samples[0], samples[1])
    return samples


def test_a_mix_with_alike_channels_is_delivered_in_mono(
    jfk_stereo: np.ndarray, samples_dir: Path, tmp_path: Path
) -> None:
    dual_mono = np.stack([jfk_stereo[0], jfk_stereo[0]])
    outputs = _export(dual_mono, samples_dir / "jfk.flac", tmp_path)
    for name in ("audio.mp3", "audio.wav"):
        info = media.probe(outputs[name]).audio
        assert info is not None and info.channels == 1, name
    heard, _ = media.decode_audio(outputs["audio.wav"], sample_rate=RATE, channels="mono")
    assert np.abs(heard - jfk_stereo[0]).max() < 1e-3, "the same sound"


def test_a_stereo_mix_stays_stereo(
    jfk_stereo: np.ndarray, samples_dir: Path, tmp_path: Path
) -> None:
    outputs = _export(jfk_stereo, samples_dir / "jfk.flac", tmp_path)
    for name in ("audio.mp3", "audio.wav"):
        info = media.probe(outputs[name]).audio
        assert info is not None and info.channels == 2, name


def test_outputs_are_written_side_by_side_and_a_failure_waits_for_the_others(
    tmp_path: Path,
) -> None:
    gate = EngineGate(niceness=0)
    both_running = threading.Barrier(2, timeout=10)
    finished: list[str] = []

    def audio() -> dict[str, Path]:
        both_running.wait()  # times out unless the video is being written at the same time
        time.sleep(0.2)
        finished.append("audio")
        return {"audio.mp3": tmp_path / "dub.mp3"}

    def video() -> dict[str, Path]:
        both_running.wait()
        raise StudioError("Muxing failed.")

    def subtitles() -> dict[str, Path]:
        return {"subtitles.target.srt": tmp_path / "dub.srt"}

    def wav() -> dict[str, Path]:
        return {"audio.wav": tmp_path / "dub.wav"}

    try:
        with pytest.raises(StudioError, match="Muxing failed"):
            asyncio.run(written_side_by_side(gate.compute, [audio, video]))
        assert finished == ["audio"], "the failure is raised once the other output is written"
        outputs = asyncio.run(written_side_by_side(gate.compute, [subtitles, wav]))
        assert list(outputs) == ["subtitles.target.srt", "audio.wav"]
    finally:
        gate.close()
