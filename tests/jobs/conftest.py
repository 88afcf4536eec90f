"""A migrated job store on SQLite and (when configured) PostgreSQL, for every test here.

Set ``DUBBING_STUDIO_TEST_POSTGRES_URL`` (e.g. ``postgresql+psycopg://user:pw@host/db``) to
run every store test on PostgreSQL too; its tables are dropped before and after each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from dubbing_studio.domain.dub import DubPlan
from dubbing_studio.domain.jobs import DubJob, JobStatus
from dubbing_studio.jobs import DubStore
from dubbing_studio.jobs.schema import Base
from tests.conftest import service_url

POSTGRES_URL_ENV = "DUBBING_STUDIO_TEST_POSTGRES_URL"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _drop_all(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        Base.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DubStore]:
    """A migrated store; the SQLite file sits in a folder that does not exist yet."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'data' / 'studio.db'}"
    else:
        url = service_url(POSTGRES_URL_ENV, "PostgreSQL")
        _drop_all(url)
    dub_store = DubStore(url)
    dub_store.migrate()
    yield dub_store
    dub_store.close()
    if request.param == "postgresql":
        _drop_all(url)


def make_job(job_id: str = "job-1", minutes: int = 0, **changes: Any) -> DubJob:
    at = T0 + timedelta(minutes=minutes)
    job = DubJob(
        id=job_id,
        created_at=at,
        updated_at=at,
        status=JobStatus.QUEUED,
        input_name="talk.mp4",
        input_path=f"projects/{job_id}/input.mp4",
        input_digest="ab" * 32,
        plan=DubPlan(target_language="es"),
    )
    return replace(job, **changes)
