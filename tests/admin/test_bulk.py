"""Bulk actions over thousands of jobs run in batches of at most --batch-size ids."""

from __future__ import annotations

from typing import Any

import psycopg

from trigger_compat import Client, JobSpec
from trigger_compat.cli import admin

from .conftest import CLI


def make_failed(client: Client, n: int, task: str = "sendEmail") -> list[int]:
    jobs = client.add_jobs([JobSpec(identifier=task, payload={"n": i}) for i in range(n)])
    ids = [j.id for j in jobs]
    assert len(client.permanently_fail_jobs(ids, "boom")) == n
    return ids


def test_retry_5000_failed_jobs_in_batches(
    cli: CLI, client: Client, db: psycopg.Connection[Any], schema: str, monkeypatch: Any
) -> None:
    ids = make_failed(client, 5000)
    make_failed(client, 3, task="deliverEvent")
    batches: list[dict[str, Any]] = []
    original = admin.ao.retry_failed_batch

    def spy(*args: Any) -> Any:
        op = original(*args)
        batches.append(op.params)
        return op

    monkeypatch.setattr(admin.ao, "retry_failed_batch", spy)
    run = cli("retry", "--failed", "--task", "sendEmail", "--yes", "--json")
    assert run.code == 0, run.err
    assert run.json() == {"retried": 5000, "matched": 5000, "statements": 5}
    # Five statements, each over at most 1,000 ids, walking the ids in order.
    assert [b["batch_size"] for b in batches] == [1000] * 5
    assert [b["after_id"] for b in batches] == [0, *(ids[i * 1000 - 1] for i in range(1, 5))]
    assert "retrying" in run.err  # the progress bar (above 1,000 jobs) is on stderr
    row = db.execute(
        psycopg.sql.SQL(
            "select count(*) filter (where attempts = 0 and run_at <= now()), "
            "count(*) filter (where attempts >= max_attempts) from {}.jobs"
        ).format(psycopg.sql.Identifier(schema))
    ).fetchone()
    assert row == (5000, 3)


def test_retry_and_clean_with_a_small_batch_size(cli: CLI, client: Client) -> None:
    make_failed(client, 25)
    run = cli("retry", "--failed", "--batch-size", "10", "--yes", "--json")
    assert run.json() == {"retried": 25, "matched": 25, "statements": 3}
    assert "retrying" not in run.err  # no progress bar for a few jobs
    make_failed(client, 20, task="deliverEvent")
    run = cli("clean", "--failed", "--older-than", "0s", "--batch-size", "7", "--yes", "--json")
    assert run.json() == {"deleted": 20, "matched": 20, "statements": 3}


def test_retry_many_ids_in_batches(cli: CLI, client: Client) -> None:
    ids = make_failed(client, 2500)
    run = cli("retry", ",".join(map(str, ids)), "--yes", "--json")
    assert run.code == 0, run.err
    assert run.json() == {"retried": 2500, "skipped": [], "statements": 3}
    run = cli("fail", ",".join(map(str, ids)), "--message", "again", "--yes", "--json")
    assert run.json() == {"failed": 2500, "skipped": [], "statements": 3}
    assert "failing" in run.err
