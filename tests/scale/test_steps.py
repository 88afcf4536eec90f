"""A dub's steps on a worker, without servers: the claim at a step is what makes a message
delivered twice harmless (the step runs once and sends the next step's message once)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dubbing_studio.config import Settings
from dubbing_studio.pipeline.steps import RECOGNISE, TRANSLATE
from dubbing_studio.scale.worker import WorkerNode
from tests.jobs.conftest import make_job


@pytest.fixture
def node(tmp_path: Path) -> Iterator[WorkerNode]:
    """A worker over SQLite; its broker is never reached (messages are caught below)."""
    settings = Settings(
        data_dir=tmp_path / "data",
        temp_dir=tmp_path / "tmp",
        redis_url="redis://127.0.0.1:9/0",
    )
    worker = WorkerNode(settings, ["asr"])
    worker.store.migrate()
    yield worker
    worker.store.close()
    worker.studio.gate.close()


def test_a_step_message_delivered_twice_runs_the_step_once(
    node: WorkerNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    node.store.create_job(make_job(step=RECOGNISE))
    ran: list[str] = []
    sent: list[Any] = []

    async def step(job_id: str, step: str | None, worker: str | None = None) -> bool:
        ran.append(f"{step} by {worker}")
        await asyncio.sleep(0.5)  # the second delivery arrives while it runs
        return True

    monkeypatch.setattr(node.service, "execute_step", step)
    monkeypatch.setattr(node.broker, "enqueue", sent.append)

    async def deliver() -> None:
        await asyncio.gather(node.run_step("job-1", RECOGNISE), node.run_step("job-1", RECOGNISE))
        await node.run_step("job-1", RECOGNISE)  # and once more after it was done

    asyncio.run(deliver())
    assert ran == [f"{RECOGNISE} by {node.name}"]
    assert [(m.queue_name, m.args) for m in sent] == [("mt", ("job-1", TRANSLATE))]
    job = node.store.get_job("job-1")
    assert job is not None and job.step == TRANSLATE
    assert node.store.holder("job-1") is None
