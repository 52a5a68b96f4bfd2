from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from examples import recurring
from trigger_compat.testing.clock import FakeClock
from trigger_compat.testing.plugin import TestQueue

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


async def test_the_scheduler_runs_the_hourly_task(database_url: str, schema: str) -> None:
    recurring.purged_before.clear()
    clock = FakeClock(T0 - timedelta(seconds=30))
    worker = recurring.make_worker(database_url, schema=schema, clock=clock)
    await worker.initialize()
    try:
        clock.set(T0)  # 12:00, minute 0: the tick
        for _ in range(300):
            if recurring.purged_before:
                break
            await asyncio.sleep(0.05)
        assert recurring.purged_before == [T0]
    finally:
        await worker.stop()


def test_ticks_with_the_plugin(tc_queue: TestQueue) -> None:
    recurring.purged_before.clear()
    tc_queue.clock.set(T0 - timedelta(minutes=1))
    runs = tc_queue.drain(
        {"purgeOldIndexings": recurring.purge_old_indexings},
        until=timedelta(hours=2),
        recurring=["purgeOldIndexings"],
    )
    assert runs.identifiers == ["purgeOldIndexings"] * 2
    assert recurring.purged_before == [T0, T0 + timedelta(hours=1)]
