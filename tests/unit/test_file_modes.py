"""Outputs get the permissions the umask allows (a web server or a colleague in the group can
read them), not mkstemp's private 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dubbing_studio import media
from dubbing_studio.media.files import current_umask
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.pipeline.export import write_text_atomic


@pytest.fixture(params=[0o022, 0o002, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_umask_is_read_without_changing_it(umask: int) -> None:
    assert current_umask() == umask
    assert current_umask() == umask


def test_outputs_follow_the_umask(umask: int, tmp_path: Path) -> None:
    expected = 0o666 & ~umask
    audio = media.write_audio(tmp_path / "a.wav", np.zeros(800, np.float32), 8000, "wav")
    text = tmp_path / "subtitles.srt"
    write_text_atomic(text, "1\n00:00:00,000 --> 00:00:01,000\nHi\n")
    artifacts = ArtifactStore(tmp_path / "artifacts")
    stored = artifacts.write_json("transcript-abcdef", {"text": "hi"})
    with media.temp_path(tmp_path) as temp:
        assert mode(temp) == expected
    for path in (audio, text, stored):
        assert mode(path) == expected, path.name
