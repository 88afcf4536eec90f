"""A queued dub whose Redis message was lost (a Redis restart without persistence, a flush)
is sent again by the workers' sweep once it has waited that long, and runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, update

from dubbing_studio.jobs.schema import JobRow
from tests.e2e.test_server_process import finished, submit, wait_for

from .conftest import Worker, running_cluster

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_a_queued_dub_whose_message_was_lost_is_sent_again_and_runs(
    tmp_path_factory: pytest.TempPathFactory, samples_dir: Path
) -> None:
    with running_cluster(tmp_path_factory, ["mt"]) as cluster:  # nobody takes asr yet
        dub_id = submit(cluster.api, samples_dir / "jfk.flac", "es")
        waiting = "dramatiq:asr"
        assert cluster.redis.llen(waiting) == 1
        cluster.redis.delete(waiting, f"{waiting}.msgs")  # the message is lost
        # As if it had waited out the sweep's wait in the queue (tests do not sleep that).
        database = create_engine(cluster.env["DUBBING_STUDIO_DATABASE_URL"])
        with database.begin() as connection:
            connection.execute(
                update(JobRow)
                .where(JobRow.id == dub_id)
                .values(updated_at=datetime.now(UTC) - timedelta(hours=1))
            )
        database.dispose()

        asr = Worker(env=cluster.env, cwd=cluster.workers[0].cwd, queues="asr,tts,mix")
        cluster.workers.append(asr)
        asr.start(cluster.redis)
        dub = wait_for(cluster.api, dub_id, finished)
        assert dub["attempts"] == 1
        assert cluster.store.holder(dub_id) is None
