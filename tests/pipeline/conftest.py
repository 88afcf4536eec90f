"""A pipeline over the real engines with one artifact store for the whole session, so each
input is transcribed once however many tests dub it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dubbing_studio.bootstrap import build_studio
from dubbing_studio.config import Settings
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.pipeline.runner import DubPipeline
from dubbing_studio.services.studio import Studio


@pytest.fixture(scope="session")
def pipeline_studio(tmp_path_factory: pytest.TempPathFactory) -> Studio:
    root = tmp_path_factory.mktemp("pipeline-studio")
    return build_studio(
        Settings(data_dir=root, temp_dir=root / "tmp", _env_file=None)  # type: ignore[call-arg]
    )


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> ArtifactStore:
    return ArtifactStore(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(scope="session")
def pipeline(pipeline_studio: Studio, store: ArtifactStore) -> DubPipeline:
    return DubPipeline(pipeline_studio, store)


@pytest.fixture(scope="session")
def jfk(samples_dir: Path) -> Path:
    return samples_dir / "jfk.flac"
