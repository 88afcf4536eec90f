"""Start-up resumes unfinished dubs, but never one that crashed the server twice (a poison
job); a graceful shutdown does not count as a crash."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from dubbing_studio.bootstrap import build_studio
from dubbing_studio.config import Settings
from dubbing_studio.domain.jobs import JobStatus
from dubbing_studio.jobs import DubStore
from dubbing_studio.jobs.runner import InProcessRunner
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.services.dubs import CRASHED_CODE, CRASHED_DETAIL, Conflict, DubService
from dubbing_studio.services.events import EventHub
from tests.jobs.conftest import make_job
from tests.jobs.test_store import run_in_threads


class RecordingRunner:
    """Records what is submitted, and runs nothing (the logic under test is the service's)."""

    stopping = False

    def __init__(self) -> None:
        self.submitted: list[tuple[str, str | None, bool]] = []

    async def start(self) -> None: ...

    async def submit(self, job_id: str, client_id: str | None = None, alone: bool = False) -> None:
        self.submitted.append((job_id, client_id, alone))

    async def cancel(self, job_id: str) -> bool:
        return False

    async def stop(self) -> None: ...


def service_for(store: DubStore, tmp_path: Path) -> DubService:
    settings = Settings(
        data_dir=tmp_path / "data",
        temp_dir=tmp_path / "tmp",
        _env_file=None,  # type: ignore[call-arg]
    )
    artifacts = ArtifactStore(settings.data_dir / "artifacts")
    return DubService(settings, build_studio(settings), store, artifacts, EventHub())


async def test_a_job_that_crashed_twice_is_failed_and_suspects_run_alone_first(
    store: DubStore, tmp_path: Path
) -> None:
    seeded = [
        make_job("fresh", 0, client_id="alice"),
        make_job("poison", 1, client_id="bob", status=JobStatus.RUNNING, attempts=2),
        make_job("suspect", 2, client_id="carol", status=JobStatus.RUNNING, attempts=1),
        make_job("finished", 3, status=JobStatus.SUCCEEDED, attempts=1),
    ]
    for job in seeded:
        store.create_job(job)
    service = service_for(store, tmp_path)
    runner = service.runner = RecordingRunner()

    assert await service.resume() == ["suspect", "fresh"]
    assert runner.submitted == [("suspect", "carol", True), ("fresh", "alice", False)]
    assert store.get_job("suspect").status is JobStatus.QUEUED

    poison = store.get_job("poison")
    assert poison.status is JobStatus.FAILED
    assert (poison.error, poison.error_code) == (CRASHED_DETAIL, CRASHED_CODE)
    assert "twice" in CRASHED_DETAIL
    events = [(e.type, e.data) for e in store.events_after("poison", 0)]
    assert events == [
        ("error", {"detail": CRASHED_DETAIL, "error_code": "job_crashed"}),
        ("done", {"status": "failed"}),
    ]
    with pytest.raises(Conflict, match="cannot run again"):
        await service.render("poison")

    runner.submitted.clear()
    assert await service.resume() == ["suspect", "fresh"], "a second start-up: same, no loop"
    assert ("poison", "bob", True) not in runner.submitted


@pytest.mark.slow
async def test_a_graceful_stop_mid_run_gives_the_attempt_back(
    store: DubStore, tmp_path: Path, samples_dir: Path
) -> None:
    service = service_for(store, tmp_path)
    runner = InProcessRunner(service.execute, max_jobs=1)
    service.runner = runner
    media = tmp_path / "jfk.flac"
    shutil.copy(samples_dir / "jfk.flac", media)
    store.create_job(make_job("talk", input_path=str(media), duration_s=11.0))
    await runner.start()
    await runner.submit("talk")
    for _ in range(500):
        if (job := store.get_job("talk")).status is JobStatus.RUNNING:
            break
        await asyncio.sleep(0.02)
    assert job.attempts == 1, "the attempt is stored before the run does any work"
    await runner.stop()
    stopped = store.get_job("talk")
    assert (stopped.status, stopped.attempts) == (JobStatus.RUNNING, 0)

    restarted = service_for(store, tmp_path)
    recorder = restarted.runner = RecordingRunner()
    assert await restarted.resume() == ["talk"]
    assert recorder.submitted == [("talk", None, False)], "no suspect: it ran beside nothing"


def test_nodes_starting_at_once_resume_each_job_once(store: DubStore, tmp_path: Path) -> None:
    unfinished = [f"job-{i:02}" for i in range(10)]
    for minutes, job_id in enumerate(unfinished):
        status = JobStatus.RUNNING if minutes % 3 else JobStatus.QUEUED
        store.create_job(make_job(job_id, minutes, status=status, attempts=minutes % 2))
    store.create_job(make_job("done", 20, status=JobStatus.SUCCEEDED))
    url = store.url.render_as_string(hide_password=False)
    stores = [DubStore(url) for _ in range(3)]  # three nodes, each its own connections
    services = [service_for(node_store, tmp_path) for node_store in stores]
    runners = [RecordingRunner() for _ in services]
    for service, runner in zip(services, runners, strict=True):
        service.runner = runner
    try:
        resumed = run_in_threads(3, lambda i: asyncio.run(services[i].resume()))
    finally:
        for node_store in stores:
            node_store.close()
    submitted = sorted(job_id for runner in runners for job_id, _, _ in runner.submitted)
    assert submitted == unfinished, resumed
    assert sorted(job_id for ids in resumed for job_id in ids) == unfinished


async def test_a_claim_a_dead_process_of_this_machine_left_is_taken_over_at_once(
    store: DubStore, tmp_path: Path
) -> None:
    host, dead = socket.gethostname(), ended_pid()
    owners = {
        "dead": f"{host}~{dead}~1~cafe",
        "restarted": f"{host}~{os.getpid()}~0~cafe",  # an earlier process with this pid
        "elsewhere": f"another-host~{dead}~1~cafe",  # waits for its claim to lapse
        "alive": service_for(store, tmp_path).node,  # another node that started just now
    }
    for minutes, (job_id, owner) in enumerate(owners.items()):
        store.create_job(make_job(job_id, minutes, status=JobStatus.RUNNING))
        assert store.claim(job_id, owner, 60) is not None
    service = service_for(store, tmp_path)
    service.runner = RecordingRunner()
    assert await service.resume() == ["dead", "restarted"]


def ended_pid() -> int:
    """The pid of a process that has ended."""
    ended = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    return int(ended.stdout)
