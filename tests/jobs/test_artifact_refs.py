"""Which artifacts each job uses lives in the store, recorded before a run touches them: a
delete on any node removes only what no other job refers to, even one whose run is still
going on another node, and records an earlier version left in project folders are kept."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dubbing_studio.domain.jobs import JobStatus
from dubbing_studio.jobs import DubStore
from dubbing_studio.pipeline.artifacts import ArtifactStore, artifact_key
from dubbing_studio.services.dubs import LEGACY_ARTIFACTS_FILE, DubService
from tests.jobs.conftest import make_job
from tests.jobs.test_resume import service_for

SHARED = artifact_key("transcribe", input="the same upload")


@pytest.fixture
def nodes(store: DubStore, tmp_path: Path) -> Iterator[tuple[DubService, DubService]]:
    """Two services over one database and one data folder, each with its own connections,
    as on two nodes."""
    other = DubStore(store.url.render_as_string(hide_password=False))
    yield service_for(store, tmp_path), service_for(other, tmp_path)
    other.close()


def add_project(service: DubService, job_id: str, minutes: int = 0) -> None:
    service.store.create_job(make_job(job_id, minutes, status=JobStatus.SUCCEEDED))
    (service.projects / job_id / "outputs").mkdir(parents=True)


def run_of(service: DubService, job_id: str) -> ArtifactStore:
    """The artifact store as a run of ``job_id`` on ``service`` sees it."""
    return service.artifacts.tracking(service._recorder(job_id))


async def test_deleting_a_project_keeps_what_another_project_uses(
    nodes: tuple[DubService, DubService],
) -> None:
    one, two = nodes
    add_project(one, "a", 0)
    add_project(two, "b", 1)
    run_a, run_b = run_of(one, "a"), run_of(two, "b")
    shared = run_a.write_json(SHARED, {"text": "hello"})
    only_a = run_a.write_json(artifact_key("translate", text="hello", job="a"), "hola")
    assert run_b.read_json(SHARED) == {"text": "hello"}
    only_b = run_b.write_json(artifact_key("translate", text="hello", job="b"), "salut")

    await one.delete("a")
    assert not only_a.exists()
    assert shared.exists() and only_b.exists()
    assert not (one.projects / "a").exists() and (one.projects / "b").exists()

    await one.delete("b")  # the other node's project, deleted here
    assert not shared.exists() and not only_b.exists()


async def test_a_delete_keeps_what_a_run_on_another_node_has_only_looked_up(
    nodes: tuple[DubService, DubService],
) -> None:
    one, two = nodes
    add_project(one, "a", 0)
    shared = run_of(one, "a").write_json(SHARED, {"text": "hello"})
    two.store.create_job(make_job("b", 1, status=JobStatus.RUNNING))
    # Mid-run on the other node: it has only found the artifact, not read it yet.
    assert run_of(two, "b").has(SHARED, "json")

    await one.delete("a")
    assert shared.exists(), "a run in progress elsewhere refers to it"
    await two.delete("b")
    assert not shared.exists()


async def test_records_an_earlier_version_left_are_imported_then_removed(
    nodes: tuple[DubService, DubService], tmp_path: Path
) -> None:
    one, two = nodes
    add_project(one, "old", 0)
    add_project(one, "new", 1)
    root = one.artifacts.root
    shared = one.artifacts.write_json(SHARED, {"text": "hello"})
    own = one.artifacts.write_json(artifact_key("translate", text="hello"), "hola")
    outside = tmp_path / "not-an-artifact.json"
    outside.write_text("{}")
    record = one.projects / "old" / LEGACY_ARTIFACTS_FILE
    # Relative to the artifact root, or absolute (older still); nothing outside the root.
    record.write_text(json.dumps([str(shared.relative_to(root)), str(own), str(outside)]))
    run_of(one, "new").read_json(SHARED)

    await two.delete("new")
    assert shared.exists(), "the old project's record was imported before the delete"
    assert not record.exists()
    await one.delete("old")
    assert not shared.exists() and not own.exists()
    assert outside.exists()
