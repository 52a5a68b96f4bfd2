"""Every ported v2 call site of examples/callsites.py (the twins of the guide's snippets)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from examples import callsites as cs
from trigger_compat import AsyncClient, PayloadValidationError
from trigger_compat.runtime.zodworker import ZodWorker
from trigger_compat.testing.plugin import TestQueue


@pytest.fixture()
async def queue(tc_queue: TestQueue) -> AsyncIterator[AsyncClient]:
    async with tc_queue.async_client() as client:
        yield client


async def test_deliver_event_and_cancel(queue: AsyncClient, tc_queue: TestQueue) -> None:
    at = tc_queue.clock.now() + timedelta(hours=1)
    await cs.schedule_event_delivery(queue, "log_1", at)
    await cs.schedule_event_delivery(queue, "log_1", at + timedelta(minutes=1))  # replaces
    tc_queue.assert_enqueued(
        "deliverEvent", count=1, jobKey="event:log_1", runAt=at + timedelta(minutes=1)
    )
    assert await cs.cancel_event(queue, "log_1") is True
    assert await cs.cancel_event(queue, "log_1") is False
    tc_queue.assert_not_enqueued("deliverEvent")


async def test_run_execution_v3(queue: AsyncClient, tc_queue: TestQueue) -> None:
    await cs.enqueue_run_execution_v3(queue, "run_1", flags=["rl:org:o1"])
    tc_queue.assert_enqueued(
        "performRunExecutionV3",
        {"id": "run_1", "reason": "EXECUTE_JOB"},
        jobKey="job_run:EXECUTE_JOB:run_1",
        priority=0,
        maxAttempts=12,
        flags=["rl:org:o1"],
    )
    await cs.enqueue_run_execution_v3(queue, "run_2", resumed=True, skip_retrying=True)
    tc_queue.assert_enqueued("performRunExecutionV3", {"id": "run_2"}, priority=-1, maxAttempts=1)
    order: list[str] = []
    tc_queue.drain({"performRunExecutionV3": lambda p, job: order.append(p["id"])})
    assert order == ["run_2", "run_1"]  # priority -1 first


async def test_emails_ticks_timeouts(queue: AsyncClient, tc_queue: TestQueue) -> None:
    job = await cs.schedule_welcome_email(queue, "Ada")
    assert job.run_at > datetime.now(UTC) + timedelta(minutes=1)
    with pytest.raises(PayloadValidationError):
        await queue.enqueue("scheduleEmail", {"email": "welcome", "to": "x@example.com"})

    nxt = tc_queue.clock.now() + timedelta(minutes=10)
    await cs.schedule_next_tick(queue, "src_1", nxt, None)
    await cs.schedule_next_tick(queue, "src_1", nxt, nxt - timedelta(minutes=10))
    tc_queue.assert_enqueued(
        "events.deliverScheduled", {"id": "src_1"}, count=1, jobKey="scheduled:src_1"
    )

    await cs.arm_callback_timeout(queue, "task_1", 60_000)
    tc_queue.assert_enqueued("processCallbackTimeout", jobKey="process-callback:task_1")
    await cs.callback_received(queue, "task_1")
    tc_queue.assert_not_enqueued("processCallbackTimeout")


async def test_probe_index_deliver_operation_resume(
    queue: AsyncClient, tc_queue: TestQueue
) -> None:
    await cs.probe_endpoint(queue, "ep_1", "api")
    await cs.probe_endpoint(queue, "ep_1", "api")
    tc_queue.assert_enqueued("probeEndpoint", count=1, jobKey="probe:api")

    await cs.index_endpoint(queue, "idx_1", "DEVELOPMENT")
    await cs.index_endpoint(queue, "idx_2", "PRODUCTION")
    tc_queue.assert_enqueued("performEndpointIndexing", {"id": "idx_1"}, maxAttempts=1)
    tc_queue.assert_enqueued("performEndpointIndexing", {"id": "idx_2"}, maxAttempts=7)

    await cs.deliver_http_source_request(queue, "del_1", "src_9", "PRODUCTION")
    tc_queue.assert_enqueued("deliverHttpSourceRequest", queueName="sources:del_1", maxAttempts=14)

    at = tc_queue.clock.now() + timedelta(seconds=30)
    await cs.retry_task_operation(queue, "task_1", at)
    tc_queue.assert_enqueued("performTaskOperation", jobKey="operation:task_1", runAt=at)

    await cs.schedule_resume(queue, "run_1", at)
    tc_queue.assert_enqueued("resumeRun", jobKey="run_resume:run_1")
    await cs.cancel_run(queue, "run_1")
    tc_queue.assert_not_enqueued("resumeRun")


async def test_enqueue_in_a_transaction(tc_queue: TestQueue, queue: AsyncClient) -> None:
    at = tc_queue.clock.now() + timedelta(minutes=1)
    async with await psycopg.AsyncConnection.connect(
        tc_queue.database_url, options=f"-c search_path={tc_queue.schema}"
    ) as conn:
        await conn.execute(
            "create table event_records (id text primary key, deliver_at timestamptz)"
        )
        await conn.commit()
        await cs.create_event_and_delivery(conn, queue, "evt_1", at)
        await conn.commit()
        tc_queue.assert_enqueued("deliverEvent", {"id": "evt_1"}, jobKey="event:evt_1")
        with pytest.raises(psycopg.errors.UniqueViolation):
            await cs.create_event_and_delivery(conn, queue, "evt_1", at + timedelta(hours=1))
        await conn.rollback()
    tc_queue.assert_enqueued("deliverEvent", count=1, runAt=at)


async def test_handlers_and_recurring_task(tc_queue: TestQueue) -> None:
    tc_queue.clock.set(datetime(2030, 1, 1, 11, 58, tzinfo=UTC))
    worker = ZodWorker(
        "workerQueue",
        tc_queue.catalog or "catalog.yaml",
        database_url=tc_queue.database_url,
        schema=tc_queue.schema,
        tasks=["autoIndexProductionEndpoints", "deliverEvent"],
        clock=tc_queue.clock,
    )
    seen: list[Any] = []
    cs.register_handlers(worker, seen)
    tc_queue.enqueue("deliverEvent", {"id": "log_1"})
    tc_queue.advance(minutes=5, recurring=["autoIndexProductionEndpoints"])  # the 12:00 tick
    try:
        assert await worker.run_once() == 2
    finally:
        await worker.stop()
    tick = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert seen == [("deliverEvent", "log_1", False), ("autoIndexProductionEndpoints", tick, False)]
