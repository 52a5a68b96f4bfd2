"""``client.transaction()``: the caller's SQL and the jobs commit or roll back together, and
workers hear of the jobs only at the commit; pydantic models as ``enqueue`` payloads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from pydantic import BaseModel, Field

from trigger_compat import AsyncClient, Client
from trigger_compat.core.sqlfiles import notify_channel

from ._support import jobs_table
from .test_transactions import SENTINEL, anext_payload, next_payload, send_sentinel

CATALOG = """
databaseSchema: {schema}
workers:
  w:
    tasks:
      sendReceipt:
        schema:
          type: object
          properties:
            order: {{type: integer}}
            note: {{type: string}}
            copyTo: {{type: string}}
          required: [order]
          additionalProperties: false
"""


class Receipt(BaseModel):
    order: int
    note: str = "thanks"
    copy_to: str | None = Field(None, alias="copyTo")


@pytest.fixture()
def listener(database_url: str, schema: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("listen {}").format(sql.Identifier(notify_channel(schema))))
        yield conn


@pytest.fixture()
def cat_client(database_url: str, schema: str, tmp_path: Path, client: Client) -> Iterator[Client]:
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG.format(schema=schema), encoding="utf-8")
    with Client(database_url, catalog=path) as c:
        yield c


def _orders(db: psycopg.Connection[Any], schema: str) -> list[int]:
    cur = db.execute(sql.SQL("select id from {}.orders order by id").format(sql.Identifier(schema)))
    return [r[0] for r in cur.fetchall()]


@pytest.fixture()
def orders(db: psycopg.Connection[Any], schema: str) -> str:
    db.execute(
        sql.SQL("create table {}.orders (id int primary key)").format(sql.Identifier(schema))
    )
    return (
        sql.SQL("insert into {}.orders (id) values (%s)")
        .format(sql.Identifier(schema))
        .as_string(None)
    )


def test_commit_writes_both_and_notifies_at_commit(
    cat_client: Client, db: psycopg.Connection[Any], schema: str, orders: str,
    listener: psycopg.Connection[Any],
) -> None:  # fmt: skip
    with cat_client.transaction() as tx:
        tx.execute(orders, [1])
        job = tx.enqueue("sendReceipt", {"order": 1})
        tx.add_job("audit", {"order": 1})
        assert tx.get_job(job.id) is not None
        assert jobs_table(db, schema) == [] and _orders(db, schema) == []
        send_sentinel(db, schema)
        assert next_payload(listener) == SENTINEL  # nothing announced before the commit
    assert next_payload(listener) == "1"
    assert _orders(db, schema) == [1]
    assert sorted(r["task_identifier"] for r in jobs_table(db, schema)) == ["audit", "sendReceipt"]


def test_exception_rolls_back_both_and_announces_nothing(
    cat_client: Client, db: psycopg.Connection[Any], schema: str, orders: str,
    listener: psycopg.Connection[Any],
) -> None:  # fmt: skip
    with pytest.raises(RuntimeError), cat_client.transaction() as tx:
        tx.execute(orders, [2])
        tx.enqueue("sendReceipt", {"order": 2})
        raise RuntimeError("business rule failed")
    send_sentinel(db, schema)
    assert next_payload(listener) == SENTINEL
    assert _orders(db, schema) == [] and jobs_table(db, schema) == []


def test_dequeue_and_remove_in_a_transaction(
    client: Client, db: psycopg.Connection[Any], schema: str
) -> None:
    client.add_job("t", job_key="k1")
    client.add_job("t", job_key="k2")
    with client.transaction() as tx:
        assert tx.dequeue("k1") is not None
        assert tx.remove_job("k2") is not None
        assert len(jobs_table(db, schema)) == 2
    assert jobs_table(db, schema) == []


async def test_async_transaction(
    database_url: str, schema: str, client: Client, db: psycopg.Connection[Any], orders: str
) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as listen:
        await listen.execute(sql.SQL("listen {}").format(sql.Identifier(notify_channel(schema))))
        async with AsyncClient(database_url, schema=schema) as aclient:
            async with aclient.transaction() as tx:
                await tx.execute(orders, [3])
                await tx.add_jobs([])
                await tx.add_job("t", {"order": 3})
            assert await anext_payload(listen) == "1"
            with pytest.raises(KeyError):
                async with aclient.transaction() as tx:
                    await tx.add_job("t", {"order": 4})
                    raise KeyError("no")
    assert _orders(db, schema) == [3]
    assert [r["payload"] for r in jobs_table(db, schema)] == [{"order": 3}]


def test_pydantic_payload_is_dumped_with_aliases_and_only_fields_set(
    cat_client: Client, db: psycopg.Connection[Any], schema: str
) -> None:
    job = cat_client.enqueue("sendReceipt", Receipt(order=5))
    assert job.payload == {"order": 5}  # defaults left out (exclude_unset)
    cat_client.enqueue_many([("sendReceipt", Receipt(order=6, copyTo="a@b.c"))])
    payloads = [r["payload"] for r in jobs_table(db, schema)]
    assert payloads == [{"order": 5}, {"order": 6, "copyTo": "a@b.c"}]
    added = cat_client.add_job("free", Receipt(order=7, note="x"))
    assert added.payload == {"order": 7, "note": "x"}


def test_fake_queue_cancel_transaction_and_pydantic(
    database_url: str, schema: str, tmp_path: Path
) -> None:
    from trigger_compat.testing.plugin import TestQueue

    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG.format(schema=schema), encoding="utf-8")
    queue = TestQueue(database_url, schema, catalog=str(path))
    try:
        with queue.transaction() as tx:
            tx.enqueue("sendReceipt", Receipt(order=8))
        queue.assert_enqueued("sendReceipt", Receipt(order=8))
        (job,) = queue.jobs("sendReceipt")
        cancelled = queue.cancel_job(job.id, reason="refunded")
        assert cancelled is not None and cancelled.last_error is not None
        assert cancelled.last_error.endswith(": refunded")
        assert queue.drain() == []  # a cancelled job never runs
    finally:
        queue.close()
