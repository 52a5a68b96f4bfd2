"""``tx=``: jobs added in the caller's transaction appear (and are announced) on commit only.

Absence of a notification is shown without waiting for a timeout: after the step under test,
a sentinel NOTIFY is sent on the same channel from another connection; notifications arrive
in commit order, so the sentinel must be the next one received.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from trigger_compat import AsyncClient, Client, JobSpec
from trigger_compat.core.sqlfiles import notify_channel

from ._support import jobs_table

WAIT = 10.0  # seconds: an upper bound for a notification that must arrive
SENTINEL = "sentinel"


@pytest.fixture()
def listener(database_url: str, client: Client) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("listen {}").format(sql.Identifier(notify_channel(client.schema))))
        yield conn


@pytest.fixture()
def tx(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as conn:
        yield conn


@pytest.fixture()
async def atx(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        yield conn


def send_sentinel(db: psycopg.Connection[Any], schema: str) -> None:
    db.execute("select pg_notify(%s, %s)", (notify_channel(schema), SENTINEL))


def next_payload(listener: psycopg.Connection[Any]) -> str | None:
    for notify in listener.notifies(timeout=WAIT, stop_after=1):
        return notify.payload
    return None


async def anext_payload(listener: psycopg.AsyncConnection[Any]) -> str | None:
    async for notify in listener.notifies(timeout=WAIT, stop_after=1):
        return notify.payload
    return None


def test_job_added_in_a_transaction_is_invisible_until_commit(
    client: Client,
    db: psycopg.Connection[Any],
    schema: str,
    tx: psycopg.Connection[Any],
    listener: psycopg.Connection[Any],
) -> None:
    job = client.add_job("task", {"a": 1}, tx=tx)
    assert client.get_job(job.id, tx=tx) == job
    assert jobs_table(db, schema) == []
    assert client.get_job(job.id) is None
    assert client.fetch_jobs("worker-a") == []
    send_sentinel(db, schema)
    assert next_payload(listener) == SENTINEL

    tx.commit()
    assert next_payload(listener) == "1"
    assert [r["id"] for r in jobs_table(db, schema)] == [job.id]
    assert [j.id for j in client.fetch_jobs("worker-a")] == [job.id]


def test_job_added_in_a_rolled_back_transaction_is_gone_and_never_announced(
    client: Client,
    db: psycopg.Connection[Any],
    schema: str,
    tx: psycopg.Connection[Any],
    listener: psycopg.Connection[Any],
) -> None:
    job = client.add_job("task", {"a": 1}, tx=tx)
    client.add_jobs([], tx=tx)
    tx.rollback()
    send_sentinel(db, schema)
    assert next_payload(listener) == SENTINEL
    assert jobs_table(db, schema) == []
    assert client.get_job(job.id) is None
    assert client.fetch_jobs("worker-a") == []


def test_batch_in_a_transaction(
    client: Client,
    db: psycopg.Connection[Any],
    schema: str,
    tx: psycopg.Connection[Any],
    listener: psycopg.Connection[Any],
) -> None:
    jobs = client.add_jobs([JobSpec(identifier="a"), JobSpec(identifier="b", job_key="k")], tx=tx)
    assert jobs_table(db, schema) == []
    send_sentinel(db, schema)
    assert next_payload(listener) == SENTINEL
    tx.commit()
    assert next_payload(listener) == "2"
    assert [r["id"] for r in jobs_table(db, schema)] == [j.id for j in jobs]


def test_fetch_and_complete_in_the_callers_transaction(
    client: Client, db: psycopg.Connection[Any], schema: str, tx: psycopg.Connection[Any]
) -> None:
    job = client.add_job("task")
    [fetched] = client.fetch_jobs("worker-a", tx=tx)
    assert fetched.id == job.id
    # Another worker skips the row locked by the open transaction.
    assert client.fetch_jobs("worker-b") == []
    assert client.complete_jobs([job.id], tx=tx) == [job.id]
    tx.rollback()
    [row] = jobs_table(db, schema)
    assert (row["id"], row["attempts"], row["locked_by"]) == (job.id, 0, None)
    assert [j.id for j in client.fetch_jobs("worker-b")] == [job.id]


def test_long_schema_names_use_a_hashed_channel(database_url: str) -> None:
    schema = "s" * 63
    assert len(notify_channel(schema)) == 3 + 32
    with (
        psycopg.connect(database_url, autocommit=True) as db,
        Client(database_url, schema=schema) as client,
    ):
        try:
            client.migrate()
            db.execute(sql.SQL("listen {}").format(sql.Identifier(notify_channel(schema))))
            client.add_job("task")
            assert next_payload(db) == "1"
        finally:
            db.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))


# -- the same with the AsyncClient -------------------------------------------------------


@pytest.fixture()
async def alistener(
    database_url: str, aclient: AsyncClient
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        channel = sql.Identifier(notify_channel(aclient.schema))
        await conn.execute(sql.SQL("listen {}").format(channel))
        yield conn


async def test_async_job_added_in_a_transaction_is_invisible_until_commit(
    aclient: AsyncClient,
    db: psycopg.Connection[Any],
    schema: str,
    atx: psycopg.AsyncConnection[Any],
    alistener: psycopg.AsyncConnection[Any],
) -> None:
    job = await aclient.add_job("task", {"a": 1}, tx=atx)
    assert await aclient.get_job(job.id, tx=atx) == job
    assert jobs_table(db, schema) == []
    assert await aclient.fetch_jobs("worker-a") == []
    send_sentinel(db, schema)
    assert await anext_payload(alistener) == SENTINEL

    await atx.commit()
    assert await anext_payload(alistener) == "1"
    assert [j.id for j in await aclient.fetch_jobs("worker-a")] == [job.id]


async def test_async_job_added_in_a_rolled_back_transaction_is_gone_and_never_announced(
    aclient: AsyncClient,
    db: psycopg.Connection[Any],
    schema: str,
    atx: psycopg.AsyncConnection[Any],
    alistener: psycopg.AsyncConnection[Any],
) -> None:
    job = await aclient.add_job("task", tx=atx)
    await atx.rollback()
    send_sentinel(db, schema)
    assert await anext_payload(alistener) == SENTINEL
    assert jobs_table(db, schema) == []
    assert await aclient.get_job(job.id) is None
