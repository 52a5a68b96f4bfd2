"""`clean --empty-queues`: the rows of queues without jobs go, the others stay."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from trigger_compat import Client

from .conftest import CLI


def queue_rows(db: psycopg.Connection[Any], schema: str) -> list[str]:
    rows = db.execute(
        sql.SQL("select queue_name from {}.job_queues order by 1").format(sql.Identifier(schema))
    ).fetchall()
    return [r[0] for r in rows]


def test_clean_empty_queues(cli: CLI, client: Client, db: psycopg.Connection[Any]) -> None:
    for i in range(5):
        job = client.add_job("deliver", {"i": i}, queue_name=f"delivery:{i}")
        if i < 3:
            client.complete_jobs([job.id])
    client.set_queue_concurrency("pool", 4)
    run = cli("clean", "--empty-queues", "--batch-size", "2", "--yes", "--json")
    assert run.code == 0, run.err
    data = run.json()
    assert data["empty_queue_rows_deleted"] == 3
    assert data["statements"] == 2  # 2, then 1 (fewer than a batch: the last)
    assert queue_rows(db, client.schema) == ["delivery:3", "delivery:4", "pool"]
    again = cli("clean", "--empty-queues", "--yes")
    assert again.code == 0, again.err
    assert "deleted 0 empty queue rows" in again.out
    # A job added to a collected queue makes its row again, and runs.
    job = client.add_job("deliver", {"again": True}, queue_name="delivery:0")
    assert [j.id for j in client.fetch_jobs("w", 5) if j.queue_name == "delivery:0"] == [job.id]


def test_clean_needs_something_to_clean(cli: CLI, client: Client) -> None:
    run = cli("clean", "--yes")
    assert run.code == 2
    assert "--empty-queues" in run.err and "--failed" in run.err
    assert cli("clean", "--failed", "--yes").code == 2  # --failed needs --older-than
