"""Every ported v2 call site of examples/callsites.py (the twins of the guide's table), run
against a real database.

A call site whose TypeScript passes ``tx`` is run inside a transaction beside a business write:
rolled back, neither the row nor the job (or, for a dequeue, the removal) remains; committed,
both do. A call site whose TypeScript passes no ``tx`` writes its job on its own, as the
original: the job survives the rollback of a transaction around it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from examples import callsites as cs
from trigger_compat import AsyncClient
from trigger_compat.core.catalog import effective_settings
from trigger_compat.runtime.zodworker import ZodWorker
from trigger_compat.testing.plugin import TestQueue

Conn = psycopg.AsyncConnection[Any]
Call = Callable[[AsyncClient, Conn], Awaitable[Any]]
AT = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class Rollback(Exception):
    pass


@pytest.fixture()
async def queue(tc_queue: TestQueue) -> AsyncIterator[AsyncClient]:
    async with tc_queue.async_client() as client:
        yield client


@pytest.fixture()
async def conn(tc_queue: TestQueue) -> AsyncIterator[Conn]:
    """The application's connection: autocommit, its tables beside the queue's."""
    async with await psycopg.AsyncConnection.connect(
        tc_queue.database_url, autocommit=True, options=f"-c search_path={tc_queue.schema}"
    ) as c:
        await c.execute("create table business_rows (id text primary key)")
        yield c


async def business_rows(conn: Conn) -> list[str]:
    cur = await conn.execute("select id from business_rows order by id")
    return [r[0] for r in await cur.fetchall()]


async def in_transaction(conn: Conn, queue: AsyncClient, call: Call, *, commit: bool) -> Any:
    """``call`` beside a business write in one transaction, committed or rolled back."""
    result = None
    try:
        async with conn.transaction():
            await conn.execute("insert into business_rows values ('row')")
            result = await call(queue, conn)
            if not commit:
                raise Rollback
    except Rollback:
        pass
    return result


def default_max_attempts(queue: AsyncClient, identifier: str) -> int:
    assert queue.catalog is not None
    value = effective_settings(identifier, queue.catalog.task(identifier))["maxAttempts"]
    return int(value)


# (call, identifier, payload subset, options) for every enqueue that passes tx.
ENQUEUES_IN_TX: dict[str, tuple[Call, str, dict[str, Any], dict[str, Any]]] = {
    "TriggerEndpointIndexHookService": (
        lambda q, c: cs.index_endpoint_from_hook(q, c, "idx_1", "DEVELOPMENT"),
        "performEndpointIndexing",
        {"id": "idx_1"},
        {"maxAttempts": 1},
    ),
    "CreateEndpointService/ValidateCreateEndpointService": (
        lambda q, c: cs.index_new_endpoint(q, c, "idx_2", "DEVELOPMENT"),
        "performEndpointIndexing",
        {"id": "idx_2"},
        {"maxAttempts": 1},
    ),
    "ExpireDispatcherService.enqueue": (
        lambda q, c: cs.enqueue_expire_dispatcher(q, "disp_1", 60, c),
        "expireDispatcher",
        {"id": "disp_1"},
        {"jobKey": "expire:disp_1"},
    ),
    "InvokeEphemeralDispatcherService.enqueue": (
        lambda q, c: cs.enqueue_invoke_ephemeral_dispatcher(q, "disp_1", "rec_1", c),
        "invokeEphemeralDispatcher",
        {"id": "disp_1", "eventRecordId": "rec_1"},
        {"jobKey": "invoke:ephemeral:disp_1"},
    ),
    "IngestSendEventService": (
        lambda q, c: cs.enqueue_deliver_event(q, c, "rec_1", AT),
        "deliverEvent",
        {"id": "rec_1"},
        {"jobKey": "event:rec_1", "runAt": AT},
    ),
    "DeliverEventService": (
        lambda q, c: cs.invoke_dispatchers(q, c, ["d1", "d2"], "rec_1"),
        "events.invokeDispatcher",
        {"eventRecordId": "rec_1"},
        {"count": 2},
    ),
    "IntegrationAuthRepository (connectionCreated)": (
        lambda q, c: cs.connection_created(q, c, "conn_1"),
        "connectionCreated",
        {"id": "conn_1"},
        {},
    ),
    "IntegrationAuthRepository #scheduleRefresh": (
        lambda q, c: cs.schedule_token_refresh(q, c, "org_1", "conn_1", AT, 300),
        "refreshOAuthToken",
        {"organizationId": "org_1", "connectionId": "conn_1"},
        {"runAt": AT - timedelta(minutes=5)},
    ),
    "CreateRunService": (
        lambda q, c: cs.start_run(q, c, "run_1"),
        "startRun",
        {"id": "run_1"},
        {},
    ),
    "PerformRunExecutionV3Service.enqueue": (
        lambda q, c: cs.enqueue_run_execution_v3(
            q, c, "run_1", priority="resume", skip_retrying=True, flags=["rl:org:o1"]
        ),
        "performRunExecutionV3",
        {"id": "run_1", "reason": "EXECUTE_JOB"},
        {"jobKey": "job_run:EXECUTE_JOB:run_1", "priority": -1, "maxAttempts": 1},
    ),
    "PerformRunExecutionV3Service (deliverRunSubscriptions)": (
        lambda q, c: cs.deliver_run_subscriptions(q, c, "run_1"),
        "deliverRunSubscriptions",
        {"id": "run_1"},
        {},
    ),
    "ResumeRunService.enqueue": (
        lambda q, c: cs.enqueue_resume_run(q, c, "run_1", AT),
        "resumeRun",
        {"id": "run_1"},
        {"jobKey": "run_resume:run_1", "runAt": AT},
    ),
    "DeliverScheduledEventService.enqueue": (
        lambda q, c: cs.enqueue_deliver_scheduled(q, c, "src_1", AT, AT - timedelta(hours=1)),
        "events.deliverScheduled",
        {"id": "src_1", "payload": {"ts": AT.isoformat()}},
        {"jobKey": "scheduled:src_1", "runAt": AT},
    ),
    "HandleHttpSourceService": (
        lambda q, c: cs.deliver_http_source_request(q, c, "del_1", "DEVELOPMENT"),
        "deliverHttpSourceRequest",
        {"id": "del_1"},
        {"maxAttempts": 1},
    ),
    "HandleWebhookRequestService": (
        lambda q, c: cs.deliver_webhook_request(q, c, "del_1", "DEVELOPMENT"),
        "deliverWebhookRequest",
        {"id": "del_1"},
        {"maxAttempts": 1},
    ),
    "RunTaskService (performTaskOperation)": (
        lambda q, c: cs.schedule_task_operation(q, c, "task_1", AT),
        "performTaskOperation",
        {"id": "task_1"},
        {"jobKey": "operation:task_1", "runAt": AT},
    ),
    "RunTaskService (processCallbackTimeout)": (
        lambda q, c: cs.arm_callback_timeout(q, c, "task_1", 3600),
        "processCallbackTimeout",
        {"id": "task_1"},
        {"jobKey": "process-callback:task_1"},
    ),
    "PerformTaskOperationService (in tx)": (
        lambda q, c: cs.retry_task_operation_in_tx(q, c, "task_1", AT),
        "performTaskOperation",
        {"id": "task_1"},
        {"jobKey": "operation:task_1", "runAt": AT},
    ),
    "ResumeTaskService.enqueue": (
        lambda q, c: cs.enqueue_resume_task(q, "task_1", AT, c),
        "resumeTask",
        {"id": "task_1"},
        {"jobKey": "resume:task_1", "runAt": AT},
    ),
}


@pytest.mark.parametrize("site", sorted(ENQUEUES_IN_TX))
async def test_an_enqueue_with_tx_commits_and_rolls_back_with_the_business_write(
    site: str, queue: AsyncClient, conn: Conn, tc_queue: TestQueue
) -> None:
    call, identifier, payload, options = ENQUEUES_IN_TX[site]
    options = dict(options)
    await in_transaction(conn, queue, call, commit=False)
    assert await business_rows(conn) == []
    tc_queue.assert_not_enqueued(identifier)

    await in_transaction(conn, queue, call, commit=True)
    assert await business_rows(conn) == ["row"]
    count = options.pop("count", 1)
    tc_queue.assert_enqueued(identifier, payload, count=count, **options)


# (enqueue that puts the job there, dequeue that takes it away with tx, identifier)
DEQUEUES_IN_TX: dict[str, tuple[Call, Call, str]] = {
    "CancelEventService": (
        lambda q, c: cs.enqueue_deliver_event(q, c, "rec_1", AT),
        lambda q, c: cs.cancel_event(q, c, "rec_1"),
        "deliverEvent",
    ),
    "CallbackRunTaskService": (
        lambda q, c: cs.arm_callback_timeout(q, c, "task_1", 60),
        lambda q, c: cs.callback_received(q, c, "task_1"),
        "processCallbackTimeout",
    ),
    "ExpireDispatcherService.dequeue": (
        lambda q, c: cs.enqueue_expire_dispatcher(q, "disp_1", 60, c),
        lambda q, c: cs.dequeue_expire_dispatcher(q, "disp_1", c),
        "expireDispatcher",
    ),
    "InvokeEphemeralDispatcherService.dequeue": (
        lambda q, c: cs.enqueue_invoke_ephemeral_dispatcher(q, "disp_1", "rec_1", c),
        lambda q, c: cs.dequeue_invoke_ephemeral_dispatcher(q, "disp_1", c),
        "invokeEphemeralDispatcher",
    ),
    "PerformRunExecutionV3Service.dequeue": (
        lambda q, c: cs.enqueue_run_execution_v3(q, c, "run_1"),
        lambda q, c: cs.dequeue_run_execution_v3(q, c, "run_1"),
        "performRunExecutionV3",
    ),
    "ResumeRunService.dequeue": (
        lambda q, c: cs.enqueue_resume_run(q, c, "run_1", AT),
        lambda q, c: cs.dequeue_resume_run(q, c, "run_1"),
        "resumeRun",
    ),
    "RequeueV2Message.dequeue": (
        lambda q, c: cs.enqueue_requeue_v2_message(q, "run_1", AT),
        lambda q, c: cs.dequeue_requeue_v2_message(q, "run_1", c),
        "v2.requeueMessage",
    ),
}


@pytest.mark.parametrize("site", sorted(DEQUEUES_IN_TX))
async def test_a_dequeue_with_tx_commits_and_rolls_back_with_the_business_write(
    site: str, queue: AsyncClient, conn: Conn, tc_queue: TestQueue
) -> None:
    enqueue, dequeue, identifier = DEQUEUES_IN_TX[site]
    await enqueue(queue, conn)
    await in_transaction(conn, queue, dequeue, commit=False)
    tc_queue.assert_enqueued(identifier, count=1)  # the removal was rolled back too

    removed = await in_transaction(conn, queue, dequeue, commit=True)
    assert removed not in (None, False)
    tc_queue.assert_not_enqueued(identifier)
    assert await dequeue(queue, conn) in (None, False)  # nothing left to remove


# (call, identifier, payload subset, options) for every call site that passes no tx.
WITHOUT_TX: dict[str, tuple[Call, str, dict[str, Any], dict[str, Any]]] = {
    "RecurringEndpointIndexService": (
        lambda q, c: cs.index_endpoint_recurring(q, "idx_1"),
        "performEndpointIndexing",
        {"id": "idx_1"},
        {},
    ),
    "endpoint refresh route (probeEndpoint)": (
        lambda q, c: cs.probe_endpoint(q, "ep_1"),
        "probeEndpoint",
        {"id": "ep_1"},
        {"jobKey": "probe:ep_1"},
    ),
    "IntegrationConnectionCreatedService": (
        lambda q, c: cs.restart_run(q, "run_1"),
        "startRun",
        {"id": "run_1"},
        {},
    ),
    "StartRunService (missingConnectionCreated)": (
        lambda q, c: cs.missing_connection_created(q, "mc_1"),
        "missingConnectionCreated",
        {"id": "mc_1"},
        {},
    ),
    "DeliverRunSubscriptionsService": (
        lambda q, c: cs.deliver_run_subscription(q, ["sub_1", "sub_2"]),
        "deliverRunSubscription",
        {},
        {"count": 2},
    ),
    "RegisterSourceServiceV1": (
        lambda q, c: cs.activate_source_v1(q, "src_1", ["evt_a"]),
        "activateSource",
        {"version": "1", "id": "src_1", "orphanedEvents": ["evt_a"]},
        {},
    ),
    "RegisterSourceServiceV2": (
        lambda q, c: cs.activate_source_v2(q, "src_1", {"channel": ["a", "b"]}),
        "activateSource",
        {"version": "2", "id": "src_1", "orphanedOptions": {"channel": ["a", "b"]}},
        {},
    ),
    "PerformTaskOperationService #retryTask": (
        lambda q, c: cs.retry_task_operation(q, "task_1", AT),
        "performTaskOperation",
        {"id": "task_1"},
        {"jobKey": "operation:task_1", "runAt": AT},
    ),
    "RequeueV2Message.enqueue": (
        lambda q, c: cs.enqueue_requeue_v2_message(q, "run_1", AT),
        "v2.requeueMessage",
        {"runId": "run_1"},
        {"jobKey": "requeueV2Message:run_1", "runAt": AT},
    ),
    "admin simulate route": (
        lambda q, c: cs.simulate(q, 5),
        "simulate",
        {"seconds": 5},
        {},
    ),
}


@pytest.mark.parametrize("site", sorted(WITHOUT_TX))
async def test_a_call_site_without_tx_commits_on_its_own_as_the_original(
    site: str, queue: AsyncClient, conn: Conn, tc_queue: TestQueue
) -> None:
    call, identifier, payload, options = WITHOUT_TX[site]
    options = dict(options)
    await in_transaction(conn, queue, call, commit=False)
    assert await business_rows(conn) == []
    count = options.pop("count", 1)
    tc_queue.assert_enqueued(identifier, payload, count=count, **options)


async def test_dequeue_of_a_scheduled_tick_ignores_the_callers_transaction(
    queue: AsyncClient, conn: Conn, tc_queue: TestQueue
) -> None:
    await cs.enqueue_deliver_scheduled(queue, conn, "src_1", AT)
    await in_transaction(
        conn, queue, lambda q, c: cs.dequeue_deliver_scheduled(q, "src_1"), commit=False
    )
    tc_queue.assert_not_enqueued("events.deliverScheduled")  # no tx in the original


async def test_keys_debounce_as_the_original(
    queue: AsyncClient, conn: Conn, tc_queue: TestQueue
) -> None:
    # probeEndpoint is keyed by endpoint id: two endpoints never share a probe.
    await cs.probe_endpoint(queue, "ep_1")
    await cs.probe_endpoint(queue, "ep_1")
    await cs.probe_endpoint(queue, "ep_2")
    tc_queue.assert_enqueued("probeEndpoint", count=1, jobKey="probe:ep_1")
    tc_queue.assert_enqueued("probeEndpoint", count=1, jobKey="probe:ep_2")

    # The next scheduled tick replaces the pending one; its id is returned as a string.
    first = await cs.enqueue_deliver_scheduled(queue, conn, "src_1", AT)
    second = await cs.enqueue_deliver_scheduled(queue, conn, "src_1", AT + timedelta(hours=1))
    assert isinstance(first, str) and first == second  # the same row, updated
    tc_queue.assert_enqueued(
        "events.deliverScheduled", count=1, runAt=AT + timedelta(hours=1), jobKey="scheduled:src_1"
    )


async def test_options_left_to_the_catalog(
    queue: AsyncClient, conn: Conn, tc_queue: TestQueue
) -> None:
    # `undefined` options (None in the port) leave the catalog's settings in place.
    await cs.index_new_endpoint(queue, conn, "idx_p", "PRODUCTION")
    tc_queue.assert_enqueued(
        "performEndpointIndexing",
        {"id": "idx_p"},
        maxAttempts=default_max_attempts(queue, "performEndpointIndexing"),
    )
    await cs.enqueue_run_execution_v3(queue, conn, "run_1")
    tc_queue.assert_enqueued(
        "performRunExecutionV3",
        {"id": "run_1"},
        priority=0,
        flags=[],
        maxAttempts=default_max_attempts(queue, "performRunExecutionV3"),
    )
    await cs.schedule_token_refresh(queue, conn, "org_1", "conn_1", None, 300)  # no expiry
    tc_queue.assert_not_enqueued("refreshOAuthToken")


async def test_emails_without_tx(queue: AsyncClient, conn: Conn, tc_queue: TestQueue) -> None:
    call: Call = lambda q, c: cs.schedule_welcome_email(q, "ada@example.com", "Ada")  # noqa: E731
    await in_transaction(conn, queue, call, commit=False)
    tc_queue.assert_enqueued(
        "scheduleEmail", {"email": "welcome", "to": "ada@example.com", "name": "Ada"}
    )
    job = await cs.schedule_welcome_email(queue, "bob@example.com", None, development=True)
    assert "name" not in job.payload  # `user.name ?? undefined` drops the key
    assert job.run_at > datetime.now(UTC) + timedelta(seconds=50)
    await cs.schedule_email(queue, {"email": "welcome", "to": "c@example.com"}, 30)
    tc_queue.assert_enqueued("scheduleEmail", count=3)


async def test_run_execution_priorities(
    queue: AsyncClient, conn: Conn, tc_queue: TestQueue
) -> None:
    await cs.enqueue_run_execution_v3(queue, conn, "run_1")
    await cs.enqueue_run_execution_v3(queue, conn, "run_2", priority="resume")
    order: list[str] = []
    tc_queue.drain({"performRunExecutionV3": lambda p, job: order.append(p["id"])})
    assert order == ["run_2", "run_1"]  # priority -1 first


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


def test_every_function_is_exercised() -> None:
    import inspect

    text = inspect.getsource(inspect.getmodule(test_every_function_is_exercised))  # type: ignore[arg-type]
    ported = [
        name
        for name, fn in vars(cs).items()
        if inspect.iscoroutinefunction(fn) and fn.__module__ == cs.__name__
    ]
    assert len(ported) >= 35
    missing = [name for name in ported if f"cs.{name}(" not in text]
    assert missing == []
