"""Dubs on worker processes, as an operator runs them: one API node (``dubbing-studio
serve``) and worker processes (``dubbing-studio worker``), each a real process, over the
real Redis and PostgreSQL that ``scripts/with-services.sh`` starts, sharing one data folder."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from dubbing_studio.jobs import DubStore
from dubbing_studio.jobs.schema import Base
from dubbing_studio.scale.broker import QUEUES, WORKERS_KEY
from tests.conftest import service_url
from tests.e2e.conftest import (  # noqa: F401 (fixtures)
    ChildProcess,
    Server,
    make_server,
    minute_of_speech,
)

WORKER_START_S = 120.0
ALL_QUEUES = ",".join(QUEUES)


@dataclass
class Worker(ChildProcess):
    """``python -m dubbing_studio worker`` in a child process that tests may kill."""

    stop_grace_s = 40.0  # a worker finishes the line it is speaking first

    env: dict[str, str]
    cwd: Path
    queues: str = ALL_QUEUES
    process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        assert self.process is not None
        return f"{os.uname().nodename}:{self.process.pid}"

    def start(self, client: redis.Redis) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dubbing_studio", "worker", "--queues", self.queues],
            env={**os.environ, **self.env},
            cwd=self.cwd,
        )
        deadline = time.monotonic() + WORKER_START_S
        while time.monotonic() < deadline:  # it announces itself once it takes messages
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}")
            if client.hexists(WORKERS_KEY, self.name):
                return
            time.sleep(0.2)
        raise RuntimeError("worker did not start")


@dataclass
class Cluster:
    api: Server
    workers: list[Worker]
    store: DubStore
    redis: redis.Redis
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.api.url

    def worker_named(self, name: str) -> Worker:
        return next(w for w in self.workers if w.name == name)

    def replace(self, worker: Worker) -> Worker:
        """A fresh worker in place of a dead one."""
        fresh = Worker(env=worker.env, cwd=worker.cwd, queues=worker.queues)
        fresh.start(self.redis)
        self.workers[self.workers.index(worker)] = fresh
        return fresh


def _drop_all(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        Base.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """1 API node + 2 workers taking every queue."""
    with running_cluster(tmp_path_factory, [ALL_QUEUES, ALL_QUEUES]) as started:
        yield started


@contextlib.contextmanager
def running_cluster(
    tmp_path_factory: pytest.TempPathFactory, queues: list[str]
) -> Iterator[Cluster]:
    """1 API node + one worker per entry of ``queues`` (the queues it takes), on a fresh
    database, an empty Redis and one data folder."""
    postgres = service_url("DUBBING_STUDIO_TEST_POSTGRES_URL", "PostgreSQL")
    redis_url = service_url("DUBBING_STUDIO_TEST_REDIS_URL", "Redis")
    _drop_all(postgres)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    root = tmp_path_factory.mktemp("cluster")
    env = {
        "DUBBING_STUDIO_RUNNER": "dramatiq",
        "DUBBING_STUDIO_REDIS_URL": redis_url,
        "DUBBING_STUDIO_DATABASE_URL": postgres,
        "DUBBING_STUDIO_DATA_DIR": str(root / "data"),
        "DUBBING_STUDIO_TEMP_DIR": str(root / "tmp"),
        "DUBBING_STUDIO_LEASE_S": "6",
        "DUBBING_STUDIO_LOG_LEVEL": "warning",
    }
    api = Server(data_dir=root / "data", temp_dir=root / "tmp", env=env)
    api.start()
    workers = [Worker(env=env, cwd=root, queues=taken) for taken in queues]
    store = DubStore(postgres)
    try:
        for worker in workers:
            worker.start(client)
        yield Cluster(api=api, workers=workers, store=store, redis=client, env=env)
    finally:
        for worker in workers:
            worker.stop()
        api.stop()
        store.close()
        _drop_all(postgres)
