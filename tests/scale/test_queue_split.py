"""Workers split by capability, as machines with and without an accelerator would be: one
takes only ``asr,mix``, the other only ``mt,tts``. Each step of a dub runs on the worker of
its queue, and the dub ends with the embedded runner's per-line report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dubbing_studio.pipeline.steps import STEPS
from dubbing_studio.scale.broker import STEP_QUEUES
from tests.e2e.conftest import Server
from tests.e2e.test_server_process import finished, submit, wait_for

from .conftest import Cluster, running_cluster
from .test_workers import events_of, report_of

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory, ["asr,mix", "mt,tts"]) as started:
        yield started


def test_each_step_runs_on_the_worker_of_its_queue_with_the_embedded_report(
    split: Cluster, make_server: type[Server], samples_dir: Path
) -> None:
    jfk = samples_dir / "jfk.flac"
    embedded = make_server("embedded")
    embedded.start()
    reference_id = submit(embedded, jfk, "es")
    wait_for(embedded, reference_id, finished)
    expected = report_of(embedded.url, reference_id)
    expected_events = [kind for _, kind, _ in events_of(embedded, reference_id)]
    embedded.stop()

    dub_id = submit(split.api, jfk, "es")
    dub = wait_for(split.api, dub_id, finished)
    assert report_of(split.url, dub_id) == expected
    assert dub["attempts"] == 1, "no step crashed; each gave its attempt back but the last"

    events = events_of(split, dub_id)
    ran = [(data["step"], data["worker"]) for _, kind, data in events if kind == "step"]
    assert [step for step, _ in ran] == list(STEPS), "each step once, in order"
    taking = {worker.name: worker.queues.split(",") for worker in split.workers}
    for step, worker in ran:
        assert STEP_QUEUES[step] in taking[worker], f"{step} ran on {worker} ({taking[worker]})"
    assert {worker for _, worker in ran} == set(taking), "both machines took part"
    assert [kind for _, kind, _ in events].count("done") == 1
    kinds = [kind for _, kind, _ in events]
    assert kinds.count("segment") == expected_events.count("segment"), "no line sent twice"
    assert split.store.holder(dub_id) is None
