"""trigger.dev v2 call sites, ported: every ``enqueue`` and ``dequeue`` of the v2 webapp at
commit fc609470 (2024-10-08, the source of the shipped catalog.yaml: the last webapp that
carried ZodWorker itself, on graphile-worker 0.16.6). ``migration-guide.md`` §4.3 maps each
TypeScript call site to its function here; a test runs every one of them against a real
database.

``queue`` is an :class:`AsyncClient` built once per process with the catalog:

    queue = AsyncClient(os.environ["DATABASE_URL"], catalog="catalog.yaml")

Where the TypeScript passes ``tx`` (a Prisma transaction client), the port takes ``conn`` (the
caller's ``psycopg.AsyncConnection``, inside ``async with conn.transaction():``) and passes
``tx=conn``: the job is written in that transaction, so it commits or rolls back with the
business write. Where the TypeScript passes no ``tx``, neither does the port: the job is
written and committed on its own, as in the original.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from trigger_compat import AsyncClient, Job
from trigger_compat.runtime.zodworker import ZodWorker

Conn = psycopg.AsyncConnection[Any]


def _now() -> datetime:
    return datetime.now(UTC)


# -- endpoints ---------------------------------------------------------------------------


# TriggerEndpointIndexHookService: index 5 s from now, inside the endpointIndex transaction.
async def index_endpoint_from_hook(
    queue: AsyncClient, conn: Conn, index_id: str, env_type: str
) -> Job:
    return await queue.enqueue(
        "performEndpointIndexing",
        {"id": index_id},
        {
            "runAt": _now() + timedelta(seconds=5),
            "maxAttempts": 1 if env_type == "DEVELOPMENT" else None,
        },
        tx=conn,
    )


# CreateEndpointService and ValidateCreateEndpointService: index a new endpoint.
async def index_new_endpoint(queue: AsyncClient, conn: Conn, index_id: str, env_type: str) -> Job:
    return await queue.enqueue(
        "performEndpointIndexing",
        {"id": index_id},
        {"maxAttempts": 1 if env_type == "DEVELOPMENT" else None},
        tx=conn,
    )


# RecurringEndpointIndexService: no tx (the endpointIndex row is already committed).
async def index_endpoint_recurring(queue: AsyncClient, index_id: str) -> Job:
    return await queue.enqueue("performEndpointIndexing", {"id": index_id})


# The endpoint "refresh" action: probe in 10 s, debounced per endpoint id (the route's
# endpointParam is the endpoint's id, passed to IndexEndpointService as such).
async def probe_endpoint(queue: AsyncClient, endpoint_id: str) -> Job:
    return await queue.enqueue(
        "probeEndpoint",
        {"id": endpoint_id},
        {"jobKey": f"probe:{endpoint_id}", "runAt": _now() + timedelta(seconds=10)},
    )


# -- ephemeral event dispatchers ---------------------------------------------------------


# ExpireDispatcherService.dequeue(id, tx?)
async def dequeue_expire_dispatcher(
    queue: AsyncClient, dispatcher_id: str, conn: Conn | None = None
) -> Job | None:
    return await queue.dequeue(f"expire:{dispatcher_id}", tx=conn)


# ExpireDispatcherService.enqueue(id, timeoutInSeconds, tx?)
async def enqueue_expire_dispatcher(
    queue: AsyncClient, dispatcher_id: str, timeout_in_seconds: int, conn: Conn | None = None
) -> Job:
    return await queue.enqueue(
        "expireDispatcher",
        {"id": dispatcher_id},
        {
            "runAt": _now() + timedelta(seconds=timeout_in_seconds),
            "jobKey": f"expire:{dispatcher_id}",
        },
        tx=conn,
    )


# InvokeEphemeralDispatcherService.dequeue(id, tx?) (taskOperationWorker)
async def dequeue_invoke_ephemeral_dispatcher(
    queue: AsyncClient, dispatcher_id: str, conn: Conn | None = None
) -> Job | None:
    return await queue.dequeue(f"invoke:ephemeral:{dispatcher_id}", tx=conn)


# InvokeEphemeralDispatcherService.enqueue(id, eventRecordId, tx?) (taskOperationWorker)
async def enqueue_invoke_ephemeral_dispatcher(
    queue: AsyncClient, dispatcher_id: str, event_record_id: str, conn: Conn | None = None
) -> Job:
    return await queue.enqueue(
        "invokeEphemeralDispatcher",
        {"id": dispatcher_id, "eventRecordId": event_record_id},
        {"jobKey": f"invoke:ephemeral:{dispatcher_id}"},
        tx=conn,
    )


# -- email -------------------------------------------------------------------------------


# scheduleWelcomeEmail(user): 1 minute in development, 22 minutes in production; no tx.
async def schedule_welcome_email(
    queue: AsyncClient, email: str, name: str | None, *, development: bool = False
) -> Job:
    delay = timedelta(minutes=1 if development else 22)
    payload: dict[str, Any] = {"email": "welcome", "to": email}
    if name is not None:  # `name: user.name ?? undefined`: no key when there is no name
        payload["name"] = name
    return await queue.enqueue("scheduleEmail", payload, {"runAt": _now() + delay})


# scheduleEmail(data, delay?): any DeliverEmail payload, optionally delayed; no tx.
async def schedule_email(
    queue: AsyncClient, data: dict[str, Any], delay_seconds: int | None = None
) -> Job:
    run_at = _now() + timedelta(seconds=delay_seconds) if delay_seconds is not None else None
    return await queue.enqueue("scheduleEmail", data, {"runAt": run_at})


# -- events ------------------------------------------------------------------------------


# IngestSendEventService: deliver the event at deliverAt, keyed by the event record's id.
async def enqueue_deliver_event(
    queue: AsyncClient, conn: Conn, event_record_id: str, deliver_at: datetime
) -> Job:
    return await queue.enqueue(
        "deliverEvent",
        {"id": event_record_id},
        {"runAt": deliver_at, "jobKey": f"event:{event_record_id}"},
        tx=conn,
    )


# CancelEventService: set cancelledAt, then dequeue the delivery, in one transaction.
async def cancel_event(queue: AsyncClient, conn: Conn, event_record_id: str) -> bool:
    job = await queue.dequeue(f"event:{event_record_id}", tx=conn)
    return job is not None


# DeliverEventService: one events.invokeDispatcher per matching dispatcher (Promise.all on
# one tx); enqueue_many writes them all in one round trip of the same transaction.
async def invoke_dispatchers(
    queue: AsyncClient, conn: Conn, dispatcher_ids: list[str], event_record_id: str
) -> list[Job]:
    return await queue.enqueue_many(
        [
            ("events.invokeDispatcher", {"id": d, "eventRecordId": event_record_id})
            for d in dispatcher_ids
        ],
        tx=conn,
    )


# -- integrations ------------------------------------------------------------------------


# IntegrationAuthRepository (both the OAuth and the API-key paths): connectionCreated.
async def connection_created(queue: AsyncClient, conn: Conn, connection_id: str) -> Job:
    return await queue.enqueue("connectionCreated", {"id": connection_id}, tx=conn)


# IntegrationAuthRepository #scheduleRefresh: refresh `threshold` seconds before expiry
# (no jobKey in the original).
async def schedule_token_refresh(
    queue: AsyncClient,
    conn: Conn | None,
    organization_id: str,
    connection_id: str,
    expires_at: datetime | None,
    threshold_seconds: int,
) -> Job | None:
    if expires_at is None:
        return None
    return await queue.enqueue(
        "refreshOAuthToken",
        {"organizationId": organization_id, "connectionId": connection_id},
        {"runAt": expires_at - timedelta(seconds=threshold_seconds)},
        tx=conn,
    )


# IntegrationConnectionCreatedService: start the run again; no tx.
async def restart_run(queue: AsyncClient, run_id: str) -> Job:
    return await queue.enqueue("startRun", {"id": run_id})


# -- runs --------------------------------------------------------------------------------


# CreateRunService: the run row and its startRun job in one transaction.
async def start_run(queue: AsyncClient, conn: Conn, run_id: str) -> Job:
    return await queue.enqueue("startRun", {"id": run_id}, tx=conn)


# StartRunService: missingConnectionCreated for a connection's first run (the original does
# not even await it); no tx.
async def missing_connection_created(queue: AsyncClient, missing_connection_id: str) -> Job:
    return await queue.enqueue("missingConnectionCreated", {"id": missing_connection_id})


# PerformRunExecutionV3Service.enqueue(run, priority, tx, {runAt, skipRetrying}) on the
# executionWorker: key, rate-limit flags, priority -1 when resuming, fewer attempts.
async def enqueue_run_execution_v3(
    queue: AsyncClient,
    conn: Conn,
    run_id: str,
    *,
    priority: str = "initial",  # RunExecutionPriority: "initial" | "resume"
    run_at: datetime | None = None,
    skip_retrying: bool = False,
    flags: list[str] | None = None,
    dev_env_attempts: int = 1,  # env.DEFAULT_DEV_ENV_EXECUTION_ATTEMPTS
) -> Job:
    return await queue.enqueue(
        "performRunExecutionV3",
        {"id": run_id, "reason": "EXECUTE_JOB"},
        {
            "runAt": run_at,
            "jobKey": f"job_run:EXECUTE_JOB:{run_id}",
            "maxAttempts": dev_env_attempts if skip_retrying else None,
            "flags": flags or [],
            "priority": 0 if priority == "initial" else -1,
        },
        tx=conn,
    )


# PerformRunExecutionV3Service.dequeue(run, tx) (CancelRunService)
async def dequeue_run_execution_v3(queue: AsyncClient, conn: Conn, run_id: str) -> Job | None:
    return await queue.dequeue(f"job_run:EXECUTE_JOB:{run_id}", tx=conn)


# PerformRunExecutionV3Service, on run completion (two places): deliverRunSubscriptions.
async def deliver_run_subscriptions(queue: AsyncClient, conn: Conn, run_id: str) -> Job:
    return await queue.enqueue("deliverRunSubscriptions", {"id": run_id}, tx=conn)


# DeliverRunSubscriptionsService: one deliverRunSubscription per subscription; no tx.
async def deliver_run_subscription(queue: AsyncClient, subscription_ids: list[str]) -> None:
    for subscription_id in subscription_ids:
        await queue.enqueue("deliverRunSubscription", {"id": subscription_id})


# ResumeRunService.enqueue(run, tx, runAt?): runAt defaults to the run's createdAt.
async def enqueue_resume_run(
    queue: AsyncClient,
    conn: Conn,
    run_id: str,
    run_created_at: datetime,
    run_at: datetime | None = None,
) -> Job:
    return await queue.enqueue(
        "resumeRun",
        {"id": run_id},
        {"runAt": run_at or run_created_at, "jobKey": f"run_resume:{run_id}"},
        tx=conn,
    )


# ResumeRunService.dequeue(run, tx) (CancelRunService)
async def dequeue_resume_run(queue: AsyncClient, conn: Conn, run_id: str) -> Job | None:
    return await queue.dequeue(f"run_resume:{run_id}", tx=conn)


# -- schedules ---------------------------------------------------------------------------


# DeliverScheduledEventService.enqueue(id, runAt, payload, tx): the next tick, keyed by its
# schedule source. The job's id goes into scheduleSource.workerJobId, a text column: ZodWorker
# returned the id as a string, trigger-compat's Job.id is an int, hence str().
async def enqueue_deliver_scheduled(
    queue: AsyncClient,
    conn: Conn,
    source_id: str,
    run_at: datetime,
    last_timestamp: datetime | None = None,
) -> str:
    payload: dict[str, Any] = {"ts": run_at.isoformat()}
    if last_timestamp is not None:  # `lastTimestamp ?? undefined`
        payload["lastTimestamp"] = last_timestamp.isoformat()
    job = await queue.enqueue(
        "events.deliverScheduled",
        {"id": source_id, "payload": payload},
        {"runAt": run_at, "jobKey": f"scheduled:{source_id}"},
        tx=conn,
    )
    return str(job.id)


# DeliverScheduledEventService.dequeue(id, tx) and the deferral branch of .enqueue: the
# original passes no tx to this dequeue (it runs on the global client, outside the caller's
# transaction, and stays done if that transaction rolls back).
async def dequeue_deliver_scheduled(queue: AsyncClient, source_id: str) -> Job | None:
    return await queue.dequeue(f"scheduled:{source_id}")


# -- sources -----------------------------------------------------------------------------


# HandleHttpSourceService: the request delivery, one attempt in development.
async def deliver_http_source_request(
    queue: AsyncClient, conn: Conn, delivery_id: str, env_type: str
) -> Job:
    return await queue.enqueue(
        "deliverHttpSourceRequest",
        {"id": delivery_id},
        {"maxAttempts": 1 if env_type == "DEVELOPMENT" else None},
        tx=conn,
    )


# HandleWebhookRequestService: the same for webhooks.
async def deliver_webhook_request(
    queue: AsyncClient, conn: Conn, delivery_id: str, env_type: str
) -> Job:
    return await queue.enqueue(
        "deliverWebhookRequest",
        {"id": delivery_id},
        {"maxAttempts": 1 if env_type == "DEVELOPMENT" else None},
        tx=conn,
    )


# RegisterSourceServiceV1: re-activate the source (no tx: after the registration commits).
async def activate_source_v1(
    queue: AsyncClient, source_id: str, orphaned_events: list[str] | None
) -> Job:
    payload: dict[str, Any] = {"version": "1", "id": source_id}
    if orphaned_events is not None:
        payload["orphanedEvents"] = orphaned_events
    return await queue.enqueue("activateSource", payload)


# RegisterSourceServiceV2: the same with orphaned options; no tx.
async def activate_source_v2(
    queue: AsyncClient, source_id: str, orphaned_options: dict[str, list[str]] | None
) -> Job:
    payload: dict[str, Any] = {"version": "2", "id": source_id}
    if orphaned_options is not None:
        payload["orphanedOptions"] = orphaned_options
    return await queue.enqueue("activateSource", payload)


# -- tasks -------------------------------------------------------------------------------


# RunTaskService: a RUNNING task with an operation is handed to the taskOperationWorker.
async def schedule_task_operation(
    queue: AsyncClient, conn: Conn, task_id: str, delay_until: datetime | None
) -> Job:
    return await queue.enqueue(
        "performTaskOperation",
        {"id": task_id},
        {"runAt": delay_until, "jobKey": f"operation:{task_id}"},
        tx=conn,
    )


# RunTaskService: a WAITING task with a callback arms its timeout.
async def arm_callback_timeout(
    queue: AsyncClient, conn: Conn, task_id: str, timeout_in_seconds: int
) -> Job:
    return await queue.enqueue(
        "processCallbackTimeout",
        {"id": task_id},
        {
            "runAt": _now() + timedelta(seconds=timeout_in_seconds),
            "jobKey": f"process-callback:{task_id}",
        },
        tx=conn,
    )


# CallbackRunTaskService: the callback arrived, disarm the timeout in the task's transaction.
async def callback_received(queue: AsyncClient, conn: Conn, task_id: str) -> Job | None:
    return await queue.dequeue(f"process-callback:{task_id}", tx=conn)


# PerformTaskOperationService: retry a task operation, in the attempt's transaction ...
async def retry_task_operation_in_tx(
    queue: AsyncClient, conn: Conn, task_id: str, retry_at: datetime
) -> Job:
    return await queue.enqueue(
        "performTaskOperation",
        {"id": task_id},
        {"runAt": retry_at, "jobKey": f"operation:{task_id}"},
        tx=conn,
    )


# ... and #retryTask, which passes no tx.
async def retry_task_operation(queue: AsyncClient, task_id: str, retry_at: datetime) -> Job:
    return await queue.enqueue(
        "performTaskOperation",
        {"id": task_id},
        {"runAt": retry_at, "jobKey": f"operation:{task_id}"},
    )


# ResumeTaskService.enqueue(id, runAt?, tx?)
async def enqueue_resume_task(
    queue: AsyncClient, task_id: str, run_at: datetime | None = None, conn: Conn | None = None
) -> Job:
    return await queue.enqueue(
        "resumeTask", {"id": task_id}, {"jobKey": f"resume:{task_id}", "runAt": run_at}, tx=conn
    )


# -- v2 runs on MarQS, admin -------------------------------------------------------------


# RequeueV2Message.enqueue(runId, runAt?, tx?): the original accepts a tx but does not pass
# it to enqueue; the port keeps that.
async def enqueue_requeue_v2_message(
    queue: AsyncClient, run_id: str, run_at: datetime | None = None
) -> Job:
    return await queue.enqueue(
        "v2.requeueMessage",
        {"runId": run_id},
        {"runAt": run_at, "jobKey": f"requeueV2Message:{run_id}"},
    )


# RequeueV2Message.dequeue(runId, tx?)
async def dequeue_requeue_v2_message(
    queue: AsyncClient, run_id: str, conn: Conn | None = None
) -> Job | None:
    return await queue.dequeue(f"requeueV2Message:{run_id}", tx=conn)


# The admin simulate route: no options, no tx.
async def simulate(queue: AsyncClient, seconds: float) -> Job:
    return await queue.enqueue("simulate", {"seconds": seconds})


# -- handlers ----------------------------------------------------------------------------


# A recurring task and a task handler, registered on the worker that runs them.
def register_handlers(worker: ZodWorker, seen: list[Any]) -> None:
    @worker.task("autoIndexProductionEndpoints")
    async def auto_index(payload: dict[str, Any], job: Job) -> None:
        seen.append(("autoIndexProductionEndpoints", payload["ts"], payload["backfilled"]))

    @worker.task("deliverEvent")
    async def deliver_event(payload: dict[str, Any], job: Job) -> None:
        last_attempt = job.attempts >= job.max_attempts
        seen.append(("deliverEvent", payload["id"], last_attempt))
