"""The in-process runner: order, bounded concurrency, cancel, and stopping without hanging."""

from __future__ import annotations

import asyncio

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
