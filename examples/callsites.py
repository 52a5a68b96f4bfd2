"""trigger.dev v2 call sites, ported. ``migration-guide.md`` shows each function beside its
TypeScript original; a test runs every one of them against a real database.

``queue`` is an :class:`AsyncClient` built once per process with the catalog:

    queue = AsyncClient(os.environ["DATABASE_URL"], catalog="catalog.yaml")
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from trigger_compat import AsyncClient, Job
from trigger_compat.runtime.zodworker import ZodWorker


# 1. deliverEvent: keyed and delayed (DeliverEventService / IngestSendEvent).
async def schedule_event_delivery(
    queue: AsyncClient, event_log_id: str, deliver_at: datetime
) -> Job:
    return await queue.enqueue(
        "deliverEvent",
        {"id": event_log_id},
        {"runAt": deliver_at, "jobKey": f"event:{event_log_id}"},
    )


# 2. cancelEvent: dequeue the delivery by its key.
async def cancel_event(queue: AsyncClient, event_log_id: str) -> bool:
    job = await queue.dequeue(f"event:{event_log_id}")
    return job is not None


# 3. performRunExecutionV3: key, flags, priority -1 for a resumed run, fewer attempts.
async def enqueue_run_execution_v3(
    queue: AsyncClient,
    run_id: str,
    *,
    run_at: datetime | None = None,
    resumed: bool = False,
    skip_retrying: bool = False,
    flags: list[str] | None = None,
    dev_env_attempts: int = 1,
) -> Job:
    return await queue.enqueue(
        "performRunExecutionV3",
        {"id": run_id, "reason": "EXECUTE_JOB"},
        {
            "runAt": run_at,
            "jobKey": f"job_run:EXECUTE_JOB:{run_id}",
            "flags": flags,
            "priority": -1 if resumed else 0,
            "maxAttempts": dev_env_attempts if skip_retrying else None,
        },
    )


# 4. scheduleEmail: a welcome email a little after sign-up.
async def schedule_welcome_email(queue: AsyncClient, name: str) -> Job:
    return await queue.enqueue(
        "scheduleEmail",
        {"email": "welcome", "name": name},
        {"runAt": datetime.now(UTC) + timedelta(minutes=2)},
    )


# 5. events.deliverScheduled: the next tick of a schedule, keyed by its source.
async def schedule_next_tick(
    queue: AsyncClient, source_id: str, next_at: datetime, last_at: datetime | None
) -> Job:
    payload: dict[str, Any] = {"ts": next_at.isoformat()}
    if last_at is not None:
        payload["lastTimestamp"] = last_at.isoformat()
    return await queue.enqueue(
        "events.deliverScheduled",
        {"id": source_id, "payload": payload},
        {"runAt": next_at, "jobKey": f"scheduled:{source_id}"},
    )


# 6. processCallbackTimeout: arm a timeout, disarm it when the callback arrives.
async def arm_callback_timeout(queue: AsyncClient, task_id: str, timeout_in_ms: int) -> Job:
    return await queue.enqueue(
        "processCallbackTimeout",
        {"id": task_id},
        {
            "jobKey": f"process-callback:{task_id}",
            "runAt": datetime.now(UTC) + timedelta(milliseconds=timeout_in_ms),
        },
    )


async def callback_received(queue: AsyncClient, task_id: str) -> None:
    await queue.dequeue(f"process-callback:{task_id}")


# 7. probeEndpoint: debounced by endpoint.
async def probe_endpoint(queue: AsyncClient, endpoint_id: str, endpoint_slug: str) -> Job:
    return await queue.enqueue(
        "probeEndpoint",
        {"id": endpoint_id},
        {"jobKey": f"probe:{endpoint_slug}", "runAt": datetime.now(UTC) + timedelta(seconds=10)},
    )


# 8. performEndpointIndexing: one attempt in development environments.
async def index_endpoint(queue: AsyncClient, indexing_id: str, env_type: str) -> Job:
    return await queue.enqueue(
        "performEndpointIndexing",
        {"id": indexing_id},
        {"maxAttempts": 1 if env_type == "DEVELOPMENT" else None},
    )


# 9. deliverHttpSourceRequest: the catalog's queueName template decides the queue.
async def deliver_http_source_request(
    queue: AsyncClient, delivery_id: str, trigger_source_id: str, env_type: str
) -> Job:
    return await queue.enqueue(
        "deliverHttpSourceRequest",
        {"id": delivery_id},
        {
            "queueName": f"deliver:{trigger_source_id}",  # ignored: catalog "sources:{id}" wins
            "maxAttempts": 1 if env_type == "DEVELOPMENT" else None,
        },
    )


# 10. performTaskOperation: retry a task operation at a given time.
async def retry_task_operation(queue: AsyncClient, task_id: str, retry_at: datetime) -> Job:
    return await queue.enqueue(
        "performTaskOperation",
        {"id": task_id},
        {"jobKey": f"operation:{task_id}", "runAt": retry_at},
    )


# 11. resumeRun: keyed; cancelling the run dequeues it.
async def schedule_resume(queue: AsyncClient, run_id: str, run_at: datetime) -> Job:
    return await queue.enqueue(
        "resumeRun", {"id": run_id}, {"jobKey": f"run_resume:{run_id}", "runAt": run_at}
    )


async def cancel_run(queue: AsyncClient, run_id: str) -> None:
    await queue.dequeue(f"run_resume:{run_id}")


# 12. An enqueue inside a database transaction (Prisma's `tx` → psycopg's connection).
async def create_event_and_delivery(
    conn: psycopg.AsyncConnection[Any], queue: AsyncClient, event_id: str, deliver_at: datetime
) -> None:
    async with conn.transaction():
        await conn.execute(
            "insert into event_records (id, deliver_at) values (%s, %s)", (event_id, deliver_at)
        )
        await queue.enqueue(
            "deliverEvent",
            {"id": event_id},
            {"runAt": deliver_at, "jobKey": f"event:{event_id}"},
            tx=conn,
        )


# 13. A recurring task and a task handler, registered on the worker that runs them.
def register_handlers(worker: ZodWorker, seen: list[Any]) -> None:
    @worker.task("autoIndexProductionEndpoints")
    async def auto_index(payload: dict[str, Any], job: Job) -> None:
        seen.append(("autoIndexProductionEndpoints", payload["ts"], payload["backfilled"]))

    @worker.task("deliverEvent")
    async def deliver_event(payload: dict[str, Any], job: Job) -> None:
        last_attempt = job.attempts >= job.max_attempts
        seen.append(("deliverEvent", payload["id"], last_attempt))
