"""enqueue / enqueue_many / dequeue on a real PostgreSQL, with trigger.dev's 2023-11 catalog
(catalogs/trigger-dev-2023-11.yaml: it has templated named queues, which the shipped 2024 one
no longer has; tests/catalog/test_true_catalogs.py covers both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from trigger_compat import AsyncClient, Client
from trigger_compat.core.catalog import Catalog
from trigger_compat.core.catalog_loader import load_catalog
from trigger_compat.errors import (
    CatalogRequiredError,
    InvalidJobError,
    PayloadValidationError,
    UnknownTaskError,
)

from .conftest import ROOT


@pytest.fixture(scope="session")
def shipped_catalog() -> Catalog:
    """Overrides the conftest fixture (used by cclient/acclient) for this module."""
    return load_catalog(ROOT / "catalogs" / "trigger-dev-2023-11.yaml")


# A valid payload for every task of the catalog.
VALID: dict[str, Any] = {
    "indexEndpoint": {"id": "ep_1", "source": "MANUAL", "reason": "test"},
    "performEndpointIndexing": {"id": "idx_1"},
    "scheduleEmail": {
        "email": "invite",
        "to": "b@acme.test",
        "orgName": "Acme",
        "inviterEmail": "a@acme.test",
        "inviteLink": "https://acme.test/invite",
    },
    "startRun": {"id": "run_1"},
    "processCallbackTimeout": {"id": "task_1"},
    "deliverHttpSourceRequest": {"id": "req_1"},
    "deliverWebhookRequest": {"id": "wh_1"},
    "refreshOAuthToken": {"organizationId": "org_1", "connectionId": "conn_1"},
    "activateSource": {"id": "src_1"},
    "deliverEvent": {"id": "evt_1"},
    "events.invokeDispatcher": {"id": "d_1", "eventRecordId": "er_1"},
    "events.deliverScheduled": {
        "id": "s_1",
        "payload": {"ts": "2024-01-01T00:00:00Z", "lastTimestamp": "2023-12-31T00:00:00Z"},
    },
    "missingConnectionCreated": {"id": "mc_1"},
    "connectionCreated": {"id": "c_1"},
    "probeEndpoint": {"id": "p_1"},
    "simulate": {"seconds": 1.5},
    "deliverRunSubscriptions": {"id": "r_1"},
    "deliverRunSubscription": {"id": "r_2"},
    "resumeTask": {"id": "t_1"},
    "expireDispatcher": {"id": "d_2"},
    "resumeRun": {"id": "r_3"},
    "performRunExecutionV2": {"id": "r_5", "reason": "EXECUTE_JOB", "isRetry": False},
    "performRunExecutionV3": {"id": "r_6", "reason": "PREPROCESS"},
    "performTaskOperation": {"id": "op_1"},
    "invokeEphemeralDispatcher": {"id": "d_3", "eventRecordId": "er_2"},
}

# An invalid payload for every task: every field of the valid one gets a wrong type.
INVALID: dict[str, Any] = {
    name: {k: ["wrong", "type"] for k in payload} for name, payload in VALID.items()
}


def count(db: psycopg.Connection[Any], schema: str) -> int:
    row = db.execute(
        psycopg.sql.SQL("select count(*) from {}.jobs").format(psycopg.sql.Identifier(schema))
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_valid_covers_the_catalog(shipped_catalog: Catalog) -> None:
    assert set(VALID) == set(shipped_catalog.tasks)


@pytest.mark.parametrize("identifier", sorted(VALID))
def test_every_task_enqueues(cclient: Client, shipped_catalog: Catalog, identifier: str) -> None:
    job = cclient.enqueue(identifier, VALID[identifier])
    task = shipped_catalog.task(identifier)
    assert job.task_identifier == identifier
    assert job.payload == VALID[identifier]
    assert job.max_attempts == task.max_attempts
    assert job.priority == (task.priority or 0)
    if identifier == "deliverHttpSourceRequest":
        assert job.queue_name == "sources:req_1"
    elif identifier == "deliverWebhookRequest":
        assert job.queue_name == "webhooks:wh_1"
    else:
        assert job.queue_name is None


@pytest.mark.parametrize("identifier", sorted(VALID))
def test_every_task_refuses_an_invalid_payload(
    cclient: Client, db: psycopg.Connection[Any], schema: str, identifier: str
) -> None:
    with pytest.raises(PayloadValidationError) as info:
        cclient.enqueue(identifier, INVALID[identifier])
    assert info.value.identifier == identifier
    assert info.value.violations
    assert all(path.startswith("$") for path, _ in info.value.violations)
    with pytest.raises(PayloadValidationError):
        cclient.enqueue(identifier, {"unexpected": True})
    assert count(db, schema) == 0


def test_call_site_options(cclient: Client) -> None:
    at = datetime.now(UTC) + timedelta(hours=1)
    job = cclient.enqueue("deliverEvent", {"id": "e1"}, {"runAt": at, "jobKey": "event:e1"})
    assert job.key == "event:e1" and job.run_at == at
    # the catalog's templated queue wins over a per-call queue
    job = cclient.enqueue("deliverHttpSourceRequest", {"id": "d1"}, {"queueName": "deliver:s"})
    assert job.queue_name == "sources:d1"
    job = cclient.enqueue(
        "performRunExecutionV3",
        {"id": "r", "reason": "EXECUTE_JOB"},
        {"priority": -1, "flags": ["rl:org:1"], "max_attempts": 2},
    )
    assert (job.priority, job.flags, job.max_attempts) == (-1, {"rl:org:1": True}, 2)


def test_dequeue(cclient: Client, db: psycopg.Connection[Any], schema: str) -> None:
    cclient.enqueue("deliverEvent", {"id": "e1"}, {"jobKey": "event:e1"})
    removed = cclient.dequeue("event:e1")
    assert removed is not None and removed.key == "event:e1"
    assert cclient.dequeue("event:e1") is None
    assert count(db, schema) == 0


def test_enqueue_many_one_batch(cclient: Client, db: psycopg.Connection[Any], schema: str) -> None:
    jobs = cclient.enqueue_many(
        [
            ("startRun", {"id": "a"}),
            ("deliverEvent", {"id": "b"}, {"jobKey": "event:b"}),
            ("deliverWebhookRequest", {"id": "c"}, None),
        ]
    )
    assert [j.task_identifier for j in jobs] == [
        "startRun",
        "deliverEvent",
        "deliverWebhookRequest",
    ]
    assert jobs[1].key == "event:b" and jobs[2].queue_name == "webhooks:c"
    assert count(db, schema) == 3


def test_enqueue_many_refuses_the_whole_batch(
    cclient: Client, db: psycopg.Connection[Any], schema: str
) -> None:
    with pytest.raises(PayloadValidationError) as info:
        cclient.enqueue_many([("startRun", {"id": "a"}), ("startRun", {"id": 1})])
    assert info.value.field == "items[1].payload"
    with pytest.raises(UnknownTaskError) as unknown:
        cclient.enqueue_many([("startRun", {"id": "a"}), ("startRn", {"id": "b"})])
    assert unknown.value.field == "items[1].identifier"
    assert "did you mean 'startRun'" in str(unknown.value)
    with pytest.raises(InvalidJobError, match="items\\[0\\]"):
        cclient.enqueue_many([("startRun",)])  # type: ignore[list-item]
    assert count(db, schema) == 0


def test_enqueue_errors_write_nothing(
    cclient: Client, db: psycopg.Connection[Any], schema: str
) -> None:
    with pytest.raises(UnknownTaskError, match="did you mean 'deliverEvent'"):
        cclient.enqueue("deliverEvnt", {"id": "x"})
    with pytest.raises(InvalidJobError, match="must be ≥ 1"):
        cclient.enqueue("startRun", {"id": "x"}, {"maxAttempts": 0})
    with pytest.raises(InvalidJobError, match="timezone-aware"):
        cclient.enqueue("startRun", {"id": "x"}, {"runAt": datetime(2030, 1, 1)})
    with pytest.raises(InvalidJobError, match="unknown option 'delay'"):
        cclient.enqueue("startRun", {"id": "x"}, {"delay": 5})
    with pytest.raises(InvalidJobError, match=r"^options\.queueName: must be at most 128"):
        cclient.enqueue("startRun", {"id": "x"}, {"queueName": "q" * 129})
    with pytest.raises(InvalidJobError, match=r"^options\.jobKey: must be at most 512"):
        cclient.enqueue("startRun", {"id": "x"}, {"jobKey": "k" * 513})
    with pytest.raises(InvalidJobError, match=r"^payload \(through the catalog's queueName"):
        cclient.enqueue("deliverHttpSourceRequest", {"id": "i" * 200})
    assert count(db, schema) == 0


def test_enqueue_in_the_callers_transaction(
    cclient: Client, database_url: str, db: psycopg.Connection[Any], schema: str
) -> None:
    with psycopg.connect(database_url) as conn:
        cclient.enqueue("startRun", {"id": "tx"}, tx=conn)
        assert count(db, schema) == 0
        conn.rollback()
    assert count(db, schema) == 0


def test_without_catalog(client: Client) -> None:
    with pytest.raises(CatalogRequiredError, match="catalog="):
        client.enqueue("startRun", {"id": "x"})


def test_catalog_path_and_schema_default(database_url: str) -> None:
    with Client(database_url, catalog=ROOT / "catalog.yaml") as c:
        assert c.schema == "trigger_compat" and c.catalog is not None
        assert "startRun" in c.catalog.tasks
    with Client(database_url, schema="other", catalog=str(ROOT / "catalog.yaml")) as c:
        assert c.schema == "other"


async def test_async_surface(
    acclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    job = await acclient.enqueue("deliverEvent", {"id": "e"}, {"jobKey": "event:e"})
    assert job.key == "event:e"
    jobs = await acclient.enqueue_many(
        [("startRun", {"id": "a"}), ("deliverHttpSourceRequest", {"id": "b"})]
    )
    assert jobs[1].queue_name == "sources:b"
    with pytest.raises(PayloadValidationError):
        await acclient.enqueue("startRun", {})
    removed = await acclient.dequeue("event:e")
    assert removed is not None and removed.id == job.id
    assert await acclient.dequeue("event:e") is None
    assert count(db, schema) == 2


async def test_async_without_catalog(aclient: AsyncClient) -> None:
    with pytest.raises(CatalogRequiredError):
        await aclient.enqueue("startRun", {"id": "x"})


def test_sync_and_async_surfaces_match() -> None:
    import inspect

    for name in ("enqueue", "enqueue_many", "dequeue", "__init__"):
        s = inspect.signature(getattr(Client, name))
        a = inspect.signature(getattr(AsyncClient, name))
        assert list(s.parameters) == list(a.parameters), name
