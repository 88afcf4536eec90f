"""The shared speech samples by name (``samples_dir`` comes from ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def jfk(samples_dir: Path) -> Path:
    """11.0 s, 44.1 kHz stereo FLAC."""
    return samples_dir / "jfk.flac"


@pytest.fixture(scope="session")
def stereo_wav(samples_dir: Path) -> Path:
    """5.0 s, 16 kHz stereo WAV, a different speaker on each channel."""
    return samples_dir / "stereo_diarization.wav"
