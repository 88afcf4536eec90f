"""The in-process runner: order, bounded concurrency, cancel, and stopping without hanging."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from dubbing_studio.jobs.runner import InProcessRunner


async def test_jobs_run_at_most_max_jobs_at_once_and_all_finish() -> None:
    running, peak, done = 0, 0, []

    async def execute(job_id: str) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        done.append(job_id)

    runner = InProcessRunner(execute, max_jobs=2)
    await runner.start()
    for i in range(5):
        await runner.submit(f"job-{i}")
    for _ in range(100):
        if len(done) == 5:
            break
        await asyncio.sleep(0.02)
    await runner.stop()
    assert sorted(done) == [f"job-{i}" for i in range(5)] and peak == 2


async def test_cancel_running_and_queued_jobs() -> None:
    started = asyncio.Event()
    outcomes: dict[str, str] = {}

    async def execute(job_id: str) -> None:
        started.set()
        try:
            await asyncio.sleep(10)
            outcomes[job_id] = "finished"
        except asyncio.CancelledError:
            outcomes[job_id] = "cancelled"
            raise

    runner = InProcessRunner(execute, max_jobs=1)
    await runner.start()
    await runner.submit("a")
    await runner.submit("b")
    await started.wait()
    assert await runner.cancel("b") is False  # still queued: skipped when its turn comes
    assert await runner.cancel("a") is True
    await asyncio.sleep(0.05)
    await runner.stop()
    assert outcomes == {"a": "cancelled"}


async def test_stop_interrupts_running_jobs_without_hanging_and_says_it_is_stopping() -> None:
    seen_stopping: list[bool] = []

    async def execute(job_id: str) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen_stopping.append(runner.stopping)
            raise

    runner = InProcessRunner(execute, max_jobs=1)
    await runner.start()
    await runner.submit("a")
    await asyncio.sleep(0.05)
    await asyncio.wait_for(runner.stop(), timeout=3)
    assert seen_stopping == [True], "a job interrupted by shutdown must not count as cancelled"


async def wait_until(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


class Gated:
    """An ``execute`` whose jobs run until the test lets each one finish."""

    def __init__(self) -> None:
        self.running: set[str] = set()
        self.started: list[str] = []
        self.release: dict[str, asyncio.Event] = {}
        self.together: list[frozenset[str]] = []  # who ran at once, at each start

    async def __call__(self, job_id: str) -> None:
        self.running.add(job_id)
        self.started.append(job_id)
        self.together.append(frozenset(self.running))
        try:
            await self.release.setdefault(job_id, asyncio.Event()).wait()
        finally:
            self.running.discard(job_id)

    def finish(self, job_id: str) -> None:
        self.release.setdefault(job_id, asyncio.Event()).set()


async def test_a_client_at_its_limit_waits_while_other_clients_jobs_run() -> None:
    jobs = Gated()
    runner = InProcessRunner(jobs, max_jobs=2, max_per_client=1)
    await runner.start()
    for job_id in ("a1", "a2", "a3"):
        await runner.submit(job_id, "alice")
    await runner.submit("b1", "bob")
    await wait_until(lambda: len(jobs.running) == 2)
    assert jobs.running == {"a1", "b1"}, "alice's second dub must not take bob's slot"
    jobs.finish("b1")
    await wait_until(lambda: "a1" in jobs.running and len(jobs.started) == 2)
    await asyncio.sleep(0.05)
    assert jobs.running == {"a1"}, "a free slot stays free while only alice, at her limit, waits"
    await runner.submit("c1", "carol")
    await wait_until(lambda: jobs.running == {"a1", "c1"})
    jobs.finish("a1")
    await wait_until(lambda: jobs.running == {"a2", "c1"})
    await runner.stop()


async def test_the_client_with_fewest_running_jobs_goes_first() -> None:
    jobs = Gated()
    runner = InProcessRunner(jobs, max_jobs=2, max_per_client=2)
    await runner.start()
    for job_id in ("a1", "a2", "a3"):
        await runner.submit(job_id, "alice")
    await wait_until(lambda: jobs.running == {"a1", "a2"})
    await runner.submit("b1", "bob")
    jobs.finish("a1")  # alice has one running, bob none: bob's newer job goes before a3
    await wait_until(lambda: jobs.running == {"a2", "b1"})
    jobs.finish("b1")  # now alice has one, bob none and nothing queued: a3
    await wait_until(lambda: jobs.running == {"a2", "a3"})
    await runner.stop()


async def test_a_job_that_runs_alone_waits_for_the_others_and_holds_back_the_rest() -> None:
    jobs = Gated()
    runner = InProcessRunner(jobs, max_jobs=3)
    await runner.start()
    await runner.submit("before", "alice")
    await wait_until(lambda: jobs.running == {"before"})
    await runner.submit("suspect", "bob", alone=True)
    await runner.submit("after", "carol")
    await asyncio.sleep(0.05)
    assert jobs.running == {"before"}
    jobs.finish("before")
    await wait_until(lambda: jobs.running == {"suspect"})
    await asyncio.sleep(0.05)
    assert jobs.running == {"suspect"}
    jobs.finish("suspect")
    await wait_until(lambda: jobs.running == {"after"})
    await runner.stop()
    assert frozenset({"suspect"}) in jobs.together


async def test_a_job_is_queued_once_however_often_it_is_submitted() -> None:
    jobs = Gated()
    runner = InProcessRunner(jobs, max_jobs=2)
    await runner.submit("a", "alice")
    await runner.submit("a", "alice")
    await runner.start()
    await wait_until(lambda: jobs.running == {"a"})
    await runner.submit("a", "alice")
    jobs.finish("a")
    await wait_until(lambda: not jobs.running)
    await asyncio.sleep(0.05)
    await runner.stop()
    assert jobs.started == ["a"]
