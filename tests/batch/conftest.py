"""Three short clips of real speech (jfk.flac cut in three) and one file that is not media."""

from __future__ import annotations

from pathlib import Path

import pytest

from dubbing_studio import media

CLIP_SPANS = ((0.0, 3.8), (3.5, 7.5), (7.0, 11.0))
# Fast engines: tiny.en hears English, espeak-ng speaks both targets, apertium translates.
FAST_ENV = {"DUBBING_STUDIO_WHISPER__MODEL": "tiny.en"}
TARGETS = ("es", "ca")


@pytest.fixture(scope="session")
def clips(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("clips")
    samples, rate = media.decode_audio(samples_dir / "jfk.flac", sample_rate=16_000)
    paths = []
    for index, (start, end) in enumerate(CLIP_SPANS):
        path = folder / f"jfk{index + 1}.flac"
        media.write_audio(path, samples[int(start * rate) : int(end * rate)], rate, "flac")
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def not_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bad") / "broken.mp4"
    path.write_bytes(b"this is not a video, only text in a file named like one\n" * 50)
    return path
