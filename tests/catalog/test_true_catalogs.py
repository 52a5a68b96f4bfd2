"""The shipped catalogs against trigger.dev's own webapp, task by task.

Each table below is transcribed from ``apps/webapp/app/services/worker.server.ts`` of the commit
named beside it; every payload from a call site of that commit (``workerQueue.enqueue(...)``
and the like), with its shape kept and ids made up. A payload zod refused is refused here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trigger_compat.core.catalog import Catalog
from trigger_compat.core.catalog_loader import load_catalog
from trigger_compat.core.options import plan_enqueue
from trigger_compat.errors import PayloadValidationError
from trigger_compat.testing.plugin import TestQueue

ROOT = Path(__file__).parents[2]
CATALOG_2024 = ROOT / "catalog.yaml"
CATALOG_2023 = ROOT / "catalogs" / "trigger-dev-2023-11.yaml"

# (priority, maxAttempts, queueName); priority None = not set in the task.
Settings = tuple[int | None, int, str | None]

# triggerdotdev/trigger.dev fc609470c4db9bf4b88ac686ff5cbbc7c645239b (2024-10-08; worker.server.ts
# as of f9ec66c5623f2ee8d9ee660758cf827592fdba68, 2024-08-23)
TASKS_2024: dict[str, dict[str, Settings]] = {
    "workerQueue": {
        "events.invokeDispatcher": (0, 6, None),
        "events.deliverScheduled": (0, 8, None),
        "connectionCreated": (10, 3, None),
        "missingConnectionCreated": (10, 3, None),
        "activateSource": (0, 3, None),
        "deliverHttpSourceRequest": (0, 14, None),
        "deliverWebhookRequest": (0, 14, None),
        "startRun": (0, 4, None),
        "processCallbackTimeout": (0, 3, None),
        "scheduleEmail": (0, 3, None),
        "indexEndpoint": (0, 7, None),
        "performEndpointIndexing": (0, 7, None),
        "deliverEvent": (0, 5, None),
        "refreshOAuthToken": (0, 7, None),
        "probeEndpoint": (0, 1, None),
        "simulate": (None, 5, None),
        "deliverRunSubscriptions": (0, 5, None),
        "deliverRunSubscription": (0, 13, None),
        "resumeTask": (0, 3, None),
        "expireDispatcher": (0, 3, None),
        "resumeRun": (0, 10, None),
        "v3.indexDeployment": (0, 5, None),
        "v3.resumeTaskRunDependencies": (0, 5, None),
        "v3.resumeBatchRun": (0, 5, None),
        "v3.resumeTaskDependency": (0, 5, None),
        "v3.timeoutDeployment": (0, 5, None),
        "v3.executeTasksWaitingForDeploy": (0, 5, None),
        "v3.triggerScheduledTask": (0, 3, None),
        "v3.performTaskRunAlerts": (0, 3, None),
        "v3.performTaskAttemptAlerts": (0, 3, None),
        "v3.deliverAlert": (0, 8, None),
        "v3.performDeploymentAlerts": (0, 3, None),
        "v3.performBulkAction": (0, 3, None),
        "v3.performBulkActionItem": (0, 3, None),
        "v3.requeueTaskRun": (0, 3, None),
        "v3.retryAttempt": (0, 3, None),
        "v2.requeueMessage": (0, 5, None),
        "v3.reportUsage": (0, 8, None),
        "v3.enqueueDelayedRun": (0, 8, None),
        "v3.expireRun": (0, 8, None),
        "v3.cancelTaskAttemptDependencies": (0, 8, None),
        "v3.cancelDevSessionRuns": (0, 5, None),
    },
    "executionWorker": {
        "performRunExecutionV2": (0, 12, None),
        "performRunExecutionV3": (0, 12, None),
    },
    "taskOperationWorker": {
        "performTaskOperation": (0, 3, None),
        "invokeEphemeralDispatcher": (0, 10, None),
    },
}
RECURRING_2024 = {
    "autoIndexProductionEndpoints": "*/30 * * * *",
    "scheduleImminentDeferredEvents": "*/10 * * * *",
    "purgeOldIndexings": "0 * * * *",
    "marqs.v3.queueConcurrencyMonitor": "*/5 * * * *",
    "marqs.v2.queueConcurrencyMonitor": "*/5 * * * *",
}

# triggerdotdev/trigger.dev 6ebd435e811f0911e4b014e7447f82acce016cad (2023-11-28)
TASKS_2023: dict[str, dict[str, Settings]] = {
    "workerQueue": {
        "events.invokeDispatcher": (0, 6, None),
        "events.deliverScheduled": (0, 5, None),
        "connectionCreated": (10, 3, None),
        "missingConnectionCreated": (10, 3, None),
        "activateSource": (10, 3, None),
        "deliverHttpSourceRequest": (1, 14, "sources:{id}"),
        "deliverWebhookRequest": (1, 14, "webhooks:{id}"),
        "startRun": (0, 4, None),
        "processCallbackTimeout": (0, 3, None),
        "scheduleEmail": (100, 3, None),
        "indexEndpoint": (1, 7, None),
        "performEndpointIndexing": (1, 7, None),
        "deliverEvent": (0, 5, None),
        "refreshOAuthToken": (8, 7, None),
        "probeEndpoint": (10, 1, None),
        "simulate": (None, 5, None),
        "deliverRunSubscriptions": (1, 5, None),
        "deliverRunSubscription": (1, 13, None),
        "resumeTask": (0, 3, None),
        "expireDispatcher": (10, 3, None),
        "resumeRun": (0, 10, None),
    },
    "executionWorker": {
        "performRunExecutionV2": (0, 12, None),
        "performRunExecutionV3": (0, 12, None),
    },
    "taskOperationWorker": {
        "performTaskOperation": (0, 3, None),
        "invokeEphemeralDispatcher": (0, 10, None),
    },
}
RECURRING_2023 = {"autoIndexProductionEndpoints": "*/5 * * * *", "purgeOldIndexings": "0 * * * *"}

VERSIONS = {
    "2024": (CATALOG_2024, TASKS_2024, RECURRING_2024),
    "2023-11": (CATALOG_2023, TASKS_2023, RECURRING_2023),
}


@pytest.fixture(scope="module", params=sorted(VERSIONS))
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def catalogs() -> dict[str, Catalog]:
    return {v: load_catalog(path) for v, (path, _, _) in VERSIONS.items()}


def test_workers_tasks_and_settings_match_the_commit(
    version: str, catalogs: dict[str, Catalog]
) -> None:
    _, table, _ = VERSIONS[version]
    catalog = catalogs[version]
    assert list(catalog.workers) == list(table)
    for name, tasks in table.items():
        worker = catalog.workers[name]
        assert list(worker.tasks) == list(tasks), name
        for identifier, expected in tasks.items():
            t = worker.tasks[identifier]
            assert (t.priority, t.max_attempts, t.queue_name) == expected, identifier
            assert t.job_key is None and t.job_key_mode is None and not t.flags, identifier
            assert t.resolved_schema is not None, identifier
        # the env defaults of both versions
        assert (worker.concurrency, worker.poll_interval, worker.shutdown_timeout_in_ms) == (
            10,
            1000,
            60_000,
        )
        # 2024's ZodWorker swallowed the last attempt's error: graphile deleted the job
        assert worker.on_final_failure == ("delete" if version == "2024" else "keep")


def test_recurring_tasks_and_cleanup_match_the_commit(
    version: str, catalogs: dict[str, Catalog]
) -> None:
    _, _, recurring = VERSIONS[version]
    workers = catalogs[version].workers
    got = {i: r.match for w in workers.values() for i, r in w.recurring_tasks.items()}
    assert got == recurring
    assert all(not w.recurring_tasks for n, w in workers.items() if n != "workerQueue")
    cleanup = workers["workerQueue"].cleanup
    if version == "2024":
        assert cleanup is None  # removed 2024-05-15
    else:
        assert cleanup is not None
        assert (cleanup.frequency_expression, cleanup.ttl, cleanup.max_count) == (
            "13,27,43 * * * *",
            7 * 24 * 60 * 60 * 1000,
            1000,
        )
    assert all(w.cleanup is None for n, w in workers.items() if n != "workerQueue")


# One payload per task, in the shape its call site builds (file of the call site, under
# apps/webapp/app/, in the comment; options as the call site passes them). `None` stands for
# a TypeScript `x ?? undefined` that was undefined.
CALL_SITES: dict[str, tuple[Any, dict[str, Any] | None]] = {
    # no enqueue call site in either commit: the fields the handler reads
    "indexEndpoint": ({"id": "ep_1", "source": "INTERNAL", "reason": "Auto-indexing"}, None),
    # services/endpoints/createEndpoint.server.ts
    "performEndpointIndexing": ({"id": "idx_1"}, {"maxAttempts": None}),
    # services/email.server.ts scheduleWelcomeEmail: name: user.name ?? undefined
    "scheduleEmail": ({"email": "welcome", "to": "ada@example.com", "name": None}, {}),
    # services/runs/createRun.server.ts
    "startRun": ({"id": "run_1"}, None),
    # services/tasks/runTask.server.ts
    "processCallbackTimeout": ({"id": "task_1"}, {"jobKey": "process-callback:task_1"}),
    # services/sources/handleHttpSource.server.ts
    "deliverHttpSourceRequest": ({"id": "delivery_1"}, None),
    # services/sources/handleWebhookRequest.server.ts
    "deliverWebhookRequest": ({"id": "delivery_2"}, None),
    # services/externalApis/integrationAuthRepository.server.ts
    "refreshOAuthToken": ({"organizationId": "org_1", "connectionId": "conn_1"}, None),
    # services/sources/registerSourceV1.server.ts (orphanedEvents: string[])
    "activateSource": ({"version": "1", "id": "ts_1", "orphanedEvents": ["issues"]}, None),
    # services/events/ingestSendEvent.server.ts
    "deliverEvent": ({"id": "evt_1"}, {"jobKey": "event:evt_1"}),
    # services/events/deliverEvent.server.ts
    "events.invokeDispatcher": ({"id": "disp_1", "eventRecordId": "er_1"}, None),
    # services/schedules/deliverScheduledEvent.server.ts: payload is a ScheduledPayload whose
    # Dates JSON turns into ISO strings; lastTimestamp ?? undefined
    "events.deliverScheduled": (
        {"id": "ss_1", "payload": {"ts": "2024-08-01T10:00:00.000Z", "lastTimestamp": None}},
        {"jobKey": "scheduled:ss_1"},
    ),
    # services/runs/startRun.server.ts
    "missingConnectionCreated": ({"id": "mc_1"}, None),
    # services/externalApis/integrationAuthRepository.server.ts
    "connectionCreated": ({"id": "conn_1"}, None),
    # routes/resources.environments.$environmentParam.endpoint.$endpointParam.ts
    "probeEndpoint": ({"id": "ep_1"}, {"jobKey": "probe:ep_1"}),
    # routes/admin.api.v1.simulate.ts
    "simulate": ({"seconds": 30}, None),
    # services/runs/performRunExecutionV3.server.ts
    "deliverRunSubscriptions": ({"id": "run_1"}, None),
    # services/runs/deliverRunSubscriptions.server.ts
    "deliverRunSubscription": ({"id": "sub_1"}, None),
    # services/tasks/resumeTask.server.ts
    "resumeTask": ({"id": "task_1"}, {"jobKey": "resume:task_1"}),
    # services/dispatchers/expireDispatcher.server.ts
    "expireDispatcher": ({"id": "disp_1"}, {"jobKey": "expire:disp_1"}),
    # services/runs/resumeRun.server.ts
    "resumeRun": ({"id": "run_1"}, {"jobKey": "run_resume:run_1"}),
    # no enqueue call site in either commit: the fields the handler reads
    "performRunExecutionV2": (
        {"id": "run_1", "reason": "EXECUTE_JOB", "resumeTaskId": None, "isRetry": False},
        None,
    ),
    # services/runs/performRunExecutionV3.server.ts
    "performRunExecutionV3": (
        {"id": "run_1", "reason": "EXECUTE_JOB"},
        {"jobKey": "job_run:EXECUTE_JOB:run_1", "maxAttempts": None, "flags": [], "priority": -1},
    ),
    # services/tasks/performTaskOperation.server.ts
    "performTaskOperation": ({"id": "task_1"}, {"jobKey": "operation:task_1"}),
    # services/dispatchers/invokeEphemeralEventDispatcher.server.ts
    "invokeEphemeralDispatcher": (
        {"id": "disp_1", "eventRecordId": "er_1"},
        {"jobKey": "invoke:ephemeral:disp_1"},
    ),
    # v3/services/indexDeployment.server.ts
    "v3.indexDeployment": ({"id": "deployment_1"}, None),
    # v3/services/resumeTaskRunDependencies.server.ts
    "v3.resumeTaskRunDependencies": ({"attemptId": "attempt_1"}, None),
    # v3/services/resumeBatchRun.server.ts
    "v3.resumeBatchRun": ({"batchRunId": "batch_1"}, None),
    # v3/services/resumeTaskDependency.server.ts
    "v3.resumeTaskDependency": (
        {"dependencyId": "dep_1", "sourceTaskAttemptId": "attempt_1"},
        None,
    ),
    # v3/services/timeoutDeployment.server.ts
    "v3.timeoutDeployment": (
        {"deploymentId": "deployment_1", "fromStatus": "BUILDING", "errorMessage": "timed out"},
        None,
    ),
    # v3/services/executeTasksWaitingForDeploy.ts
    "v3.executeTasksWaitingForDeploy": ({"backgroundWorkerId": "worker_1"}, None),
    # v3/services/triggerScheduledTask.server.ts
    "v3.triggerScheduledTask": (
        {"instanceId": "inst_1"},
        {"jobKey": "scheduled-task-instance:inst_1"},
    ),
    # v3/services/alerts/performTaskRunAlerts.server.ts
    "v3.performTaskRunAlerts": ({"runId": "run_1"}, None),
    # v3/services/alerts/performTaskAttemptAlerts.server.ts
    "v3.performTaskAttemptAlerts": ({"attemptId": "attempt_1"}, None),
    # v3/services/alerts/deliverAlert.server.ts
    "v3.deliverAlert": ({"alertId": "alert_1"}, None),
    # v3/services/alerts/performDeploymentAlerts.server.ts
    "v3.performDeploymentAlerts": ({"deploymentId": "deployment_1"}, None),
    # v3/services/bulk/performBulkAction.server.ts
    "v3.performBulkAction": ({"bulkActionGroupId": "bulk_1"}, None),
    "v3.performBulkActionItem": (
        {"bulkActionItemId": "item_1"},
        {"jobKey": "performBulkActionItem:item_1"},
    ),
    # v3/requeueTaskRun.server.ts
    "v3.requeueTaskRun": ({"runId": "run_1"}, {"jobKey": "requeueTaskRun:run_1"}),
    # v3/services/retryAttempt.server.ts
    "v3.retryAttempt": ({"runId": "run_1"}, None),
    # v3/marqs/requeueV2Message.server.ts
    "v2.requeueMessage": ({"runId": "run_1"}, {"jobKey": "requeueV2Message:run_1"}),
    # no enqueue call site in the commit: the fields the handler reads
    "v3.reportUsage": (
        {"orgId": "org_1", "data": {"costInCents": "12"}, "additionalData": {"runId": "r"}},
        None,
    ),
    # v3/services/triggerTask.server.ts
    "v3.enqueueDelayedRun": ({"runId": "run_1"}, {"jobKey": "v3.enqueueDelayedRun.run_1"}),
    # v3/services/expireEnqueuedRun.server.ts
    "v3.expireRun": ({"runId": "run_1"}, {"jobKey": "v3.expireRun:run_1"}),
    # v3/services/cancelTaskAttemptDependencies.server.ts
    "v3.cancelTaskAttemptDependencies": ({"attemptId": "attempt_1"}, None),
    # v3/marqs/devQueueConsumer.server.ts: cancelledAt: new Date(), cancelledSessionId:
    # session?.id
    "v3.cancelDevSessionRuns": (
        {
            "runIds": ["run_1", "run_2"],
            "cancelledAt": "2024-08-01T10:00:00.000Z",
            "reason": "Dev session ended",
            "cancelledSessionId": None,
        },
        None,
    ),
}

# More call sites of the same tasks, with another shape.
MORE_CALL_SITES: list[tuple[str, Any]] = [
    # routes/_app.orgs.$organizationSlug.invite/route.tsx, routes/invite-resend.tsx
    (
        "scheduleEmail",
        {
            "email": "invite",
            "to": "grace@example.com",
            "orgName": "Acme",
            "inviterName": None,
            "inviterEmail": "ada@example.com",
            "inviteLink": "https://cloud.trigger.dev/invite-accept?token=tok_1",
        },
    ),
    ("scheduleEmail", {"email": "welcome", "to": "ada@example.com", "name": "Ada"}),
    # services/sources/registerSourceV2.server.ts (orphanedOptions: Record<string, string[]>)
    ("activateSource", {"version": "2", "id": "ts_1", "orphanedOptions": {"event": ["push"]}}),
    (
        "events.deliverScheduled",
        {
            "id": "ss_1",
            "payload": {
                "ts": "2024-08-01T10:00:00.000Z",
                "lastTimestamp": "2024-08-01T09:00:00.000Z",
            },
        },
    ),
    (
        "performRunExecutionV2",
        {"id": "run_1", "reason": "PREPROCESS", "resumeTaskId": "task_1", "isRetry": True},
    ),
    (
        "v3.cancelDevSessionRuns",
        {"runIds": [], "cancelledAt": 1722506400000, "reason": "r", "cancelledSessionId": "s"},
    ),
]

# Payloads zod refused (at the handler): each is refused at enqueue.
REJECTED: list[tuple[str, Any, str]] = [
    ("scheduleEmail", {"email": "welcome", "name": "Ada"}, "$.to"),
    ("scheduleEmail", {"email": "magic_link", "to": "a@x.test", "magicLink": "x"}, "$.magicLink"),
    ("scheduleEmail", {"email": "bounce", "to": "a@x.test"}, "$.email"),
    (
        "activateSource",
        {"version": "2", "id": "ts_1", "orphanedOptions": ["x"]},
        "$.orphanedOptions",
    ),
    ("events.deliverScheduled", {"id": "ss_1", "payload": {"ts": "soon"}}, "$.payload.ts"),
    ("events.invokeDispatcher", {"id": "disp_1"}, "$.eventRecordId"),
    ("indexEndpoint", {"id": "ep_1", "source": "CRON"}, "$.source"),
    ("performRunExecutionV2", {"id": "run_1", "reason": "EXECUTE_JOB"}, "$.isRetry"),
    ("simulate", {"seconds": "30"}, "$.seconds"),
    ("v3.reportUsage", {"orgId": "org_1", "data": {"costInCents": 12}}, "$.data.costInCents"),
    (
        "v3.cancelDevSessionRuns",
        {"runIds": "run_1", "cancelledAt": "now", "reason": "r"},
        "$.cancelledAt",
    ),
]


def _tasks(version: str) -> list[str]:
    return [i for w in VERSIONS[version][1].values() for i in w]


def test_call_sites_cover_every_task() -> None:
    assert set(CALL_SITES) == set(_tasks("2024")) | set(_tasks("2023-11"))


@pytest.mark.parametrize(
    ("version", "identifier"), [(v, i) for v in sorted(VERSIONS) for i in _tasks(v)]
)
def test_a_call_site_payload_passes(
    catalogs: dict[str, Catalog], version: str, identifier: str
) -> None:
    payload, options = CALL_SITES[identifier]
    spec = plan_enqueue(catalogs[version], identifier, payload, options)
    assert spec.identifier == identifier
    assert None not in _values(spec.payload)  # `?? undefined` keys are not stored


def _values(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in (v, *_values(v))]
    return []


@pytest.mark.parametrize(("identifier", "payload"), MORE_CALL_SITES)
def test_more_call_site_shapes_pass(
    catalogs: dict[str, Catalog], identifier: str, payload: Any
) -> None:
    for version in VERSIONS:
        if identifier in _tasks(version):
            plan_enqueue(catalogs[version], identifier, payload)


@pytest.mark.parametrize(("identifier", "payload", "path"), REJECTED)
def test_a_payload_zod_refused_is_refused(
    catalogs: dict[str, Catalog], identifier: str, payload: Any, path: str
) -> None:
    with pytest.raises(PayloadValidationError) as info:
        plan_enqueue(catalogs["2024"], identifier, payload)
    assert path in [p for p, _ in info.value.violations]


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_an_empty_payload_is_refused_by_every_task(
    catalogs: dict[str, Catalog], version: str
) -> None:
    for identifier in _tasks(version):
        with pytest.raises(PayloadValidationError):
            plan_enqueue(catalogs[version], identifier, {})


def test_the_2023_email_kinds_are_not_those_of_2024(catalogs: dict[str, Catalog]) -> None:
    old = {"email": "workflow_failed", "to": "a@x.test", "workflowId": "wf_1"}
    plan_enqueue(catalogs["2023-11"], "scheduleEmail", old)
    with pytest.raises(PayloadValidationError):
        plan_enqueue(catalogs["2024"], "scheduleEmail", old)
    alert = {
        "email": "alert-deployment-success",
        "to": "a@x.test",
        "version": "20240801.1",
        "environment": "prod",
        "shortCode": "abc123",
        "deployedAt": "2024-08-01T10:00:00.000Z",
        "taskCount": 3,
        "deploymentLink": "https://cloud.trigger.dev/deployments/abc123",
    }
    plan_enqueue(catalogs["2024"], "scheduleEmail", alert)
    with pytest.raises(PayloadValidationError):
        plan_enqueue(catalogs["2023-11"], "scheduleEmail", alert)


@pytest.fixture()
def tc_catalog() -> Path:
    return CATALOG_2024


def test_stored_and_received_payloads(tc_queue: TestQueue) -> None:
    """None keys are not stored; the handler gets the schema's defaults, the row keeps none."""
    client = tc_queue.client
    client.enqueue("scheduleEmail", *CALL_SITES["scheduleEmail"])
    client.enqueue("activateSource", {"id": "ts_1"})
    stored = {j.task_identifier: j.payload for j in tc_queue.jobs()}
    assert stored == {
        "scheduleEmail": {"email": "welcome", "to": "ada@example.com"},
        "activateSource": {"id": "ts_1"},
    }
    received: dict[str, Any] = {}

    def record(payload: Any, job: Any) -> None:
        received[job.task_identifier] = payload
        assert job.payload == stored[job.task_identifier]  # the row is as enqueued

    tc_queue.drain({"scheduleEmail": record, "activateSource": record})
    assert received == {
        "scheduleEmail": {"email": "welcome", "to": "ada@example.com"},
        "activateSource": {"id": "ts_1", "version": "1"},
    }


def test_catalog_show_knows_the_cleanup_task() -> None:
    from click.testing import CliRunner

    from trigger_compat.cli import main

    args = ["catalog", "show", str(CATALOG_2023), "--task", "__cleanupOldJobs"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:2] == [
        "__cleanupOldJobs  (worker workerQueue, recurring)",
        "  match        13,27,43 * * * *",
    ]
    assert "  ttl          604800000" in result.output
