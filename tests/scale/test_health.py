"""``/health`` on an API node with worker processes asks the real Redis and PostgreSQL at
most once a second however often it is polled, and a broker that goes down shows as soon
as that second has passed."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from dubbing_studio.jobs import DubStore
from dubbing_studio.scale.broker import HealthProbe, build_broker
from tests.conftest import service_url

pytestmark = pytest.mark.services


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> Iterator[DubStore]:
    found = DubStore(service_url("DUBBING_STUDIO_TEST_POSTGRES_URL", "PostgreSQL"))
    yield found
    found.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[str]:
    """A Redis server of this test's own, which it may stop."""
    service_url("DUBBING_STUDIO_TEST_REDIS_URL", "Redis")  # the servers are there
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = ["--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
    server = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", *options], stdout=subprocess.DEVNULL
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                threading.Event().wait(0.05)
        yield url
    finally:
        server.terminate()
        server.wait()
        client.close()


def test_concurrent_polls_share_one_probe_and_a_down_broker_shows_after_it(
    own_redis: str, store: DubStore
) -> None:
    client = redis.Redis.from_url(own_redis)
    client.config_resetstat()
    clock = FakeClock()
    probe = HealthProbe(build_broker(own_redis), store, max_age_s=1.0, clock=clock)
    assert probe.fresh() is None, "nothing asked yet"

    answers = []
    polls = [threading.Thread(target=lambda: answers.append(probe.probe())) for _ in range(8)]
    for poll in polls:
        poll.start()
    for poll in polls:
        poll.join()
    assert {a.checks["broker"] for a in answers} == {"ok"}
    assert {a.checks["database"] for a in answers} == {"ok"}
    assert len({a.checked_at for a in answers}) == 1, "one probe, shared"
    assert client.info("commandstats")["cmdstat_ping"]["calls"] == 1

    client.shutdown(nosave=True)
    clock.now = 0.9
    assert probe.fresh() is answers[0], "within the second: the last answer"
    clock.now = 1.0
    assert probe.fresh() is None
    down = probe.probe()
    assert down.checks["broker"].startswith("unreachable")
    assert down.checks["database"] == "ok"
    assert down.checked_at > answers[0].checked_at


def test_a_broker_url_nothing_answers_is_reported(store: DubStore) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    found = HealthProbe(build_broker(f"redis://127.0.0.1:{port}/0"), store).probe()
    assert found.checks == {"broker": "unreachable: ConnectionError", "database": "ok"}
