"""Fixtures every test folder may use."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """Real speech with reference transcripts, in ``../shared/samples`` beside the repository."""
    return REPO_ROOT.parent / "shared" / "samples"
