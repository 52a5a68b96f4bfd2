"""Unique jobs (River's UniqueOpts) on real PostgreSQL: a matching add returns the existing job
and inserts nothing, within byPeriod even after the job completed, in batches too."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from trigger_compat import Client, InvalidJobError, JobSpec

from ._support import FakeClock


def test_by_args_returns_the_existing_job(cclient: Client) -> None:
    u = {"byArgs": True}
    a = cclient.add_job("t", {"id": 1, "x": [1, 2]}, unique=u)
    b = cclient.add_job("t", {"x": [1, 2], "id": 1}, unique=u)  # key order does not matter
    c = cclient.add_job("t", {"id": 2}, unique=u)
    assert not a.deduplicated and b.deduplicated and not c.deduplicated
    assert b.id == a.id and b.payload == a.payload and c.id != a.id
    # A new job is returned as stored; a matched one too (whole, from its row).
    assert cclient.get_job(a.id) == a and cclient.get_job(c.id) == c
    assert b == a.model_copy(update={"deduplicated": True})


def test_by_args_fields_and_queue(cclient: Client) -> None:
    u = {"byArgs": ["id"], "byQueue": True}
    a = cclient.add_job("t", {"id": 1, "n": 1}, queue_name="q1", unique=u)
    b = cclient.add_job("t", {"id": 1, "n": 2}, queue_name="q1", unique=u)
    c = cclient.add_job("t", {"id": 1, "n": 3}, queue_name="q2", unique=u)
    assert b.deduplicated and b.id == a.id and b.payload == {"id": 1, "n": 1}
    assert not c.deduplicated


def test_by_period_holds_after_completion(cclient: Client, clock: FakeClock) -> None:
    clock.set(clock.now.replace(minute=0, second=0))
    u = {"byPeriod": "15m"}
    a = cclient.add_job("t", unique=u)
    [fetched] = cclient.fetch_jobs("w", task_identifiers=["t"])
    assert cclient.complete_jobs([fetched.id]) == [a.id]
    assert cclient.get_job(a.id) is None
    clock.advance(14 * 60)
    again = cclient.add_job("t", unique=u)
    assert again.deduplicated and again.id == a.id
    clock.advance(60)  # the next period
    fresh = cclient.add_job("t", unique=u)
    assert not fresh.deduplicated and fresh.id != a.id


def test_by_state_lets_a_new_job_in(cclient: Client) -> None:
    u = {"byState": ["waiting", "scheduled"]}
    a = cclient.add_job("t", unique=u)
    assert cclient.add_job("t", unique=u).deduplicated
    cclient.fetch_jobs("w", task_identifiers=["t"])  # a is running now: it no longer blocks
    b = cclient.add_job("t", unique=u)
    assert not b.deduplicated and b.id != a.id
    # Without byPeriod, a completed job does not block.
    cclient.complete_jobs([a.id])
    assert cclient.add_job("t", unique={}).id == b.id


def test_failed_jobs_do_not_block_by_default(cclient: Client) -> None:
    a = cclient.add_job("t", max_attempts=1, unique={})
    cclient.fetch_jobs("w", task_identifiers=["t"])
    cclient.fail_job(a.id, "boom")
    b = cclient.add_job("t", unique={})
    assert not b.deduplicated and b.id != a.id


def test_batch_dedupes_within_and_against_the_table(cclient: Client) -> None:
    u = {"byArgs": True}
    first = cclient.add_job("t", {"n": 0}, unique=u)
    specs = [JobSpec(identifier="t", payload={"n": i % 500}, unique=u) for i in range(1000)]
    specs.append(JobSpec(identifier="plain", payload={"n": 1}))
    jobs = cclient.add_jobs(specs)
    assert len(jobs) == 1001
    assert jobs[0].id == first.id and jobs[0].deduplicated
    new = [j for j in jobs[:1000] if not j.deduplicated]
    assert len(new) == 499 and len({j.id for j in new}) == 499
    assert [j.id for j in new] == sorted(j.id for j in new)  # ids in spec order
    for i, j in enumerate(jobs[:1000]):
        assert j.payload == {"n": i % 500}
        if i >= 500:
            assert j.deduplicated and j.id == jobs[i - 500].id
    assert not jobs[1000].deduplicated
    again = cclient.add_jobs(specs[:500])
    assert all(j.deduplicated for j in again)
    assert [j.id for j in again] == [j.id for j in jobs[:500]]


def test_unique_and_job_key_are_refused(cclient: Client) -> None:
    with pytest.raises(InvalidJobError, match="both a job key and unique"):
        cclient.add_job("t", job_key="k", unique={})
    with pytest.raises(InvalidJobError, match=r"unique\.byState"):
        cclient.add_job("t", unique={"byState": ["done"]})
    with pytest.raises(InvalidJobError, match=r"unique\.byPeriod"):
        cclient.add_job("t", unique={"byPeriod": "soon"})
    with pytest.raises(InvalidJobError, match="keyed jobs"):
        cclient.add_jobs([JobSpec(identifier="t", unique={}), JobSpec(identifier="t", job_key="k")])


def test_cleanup_prunes_lapsed_unique_keys(
    client: Client, db: psycopg.Connection[Any], schema: str
) -> None:
    from datetime import UTC, datetime, timedelta

    from trigger_compat.core import cron_ops

    old = datetime.now(UTC) - timedelta(hours=2)
    with Client(client.conninfo or "", schema=schema, clock=lambda: old) as past:
        past.add_job("t", {"n": 1}, unique={"byPeriod": "15m", "byArgs": True})
    gone = client.add_job("t", {"n": 2}, unique={"byArgs": True})
    client.complete_jobs([gone.id])
    kept = client.add_job("t", {"n": 3}, unique={"byArgs": True})
    client.execute(cron_ops.cleanup_old_jobs(datetime.now(UTC), 100), None)
    left = db.execute(
        sql.SQL("select job_id from {}.unique_keys").format(sql.Identifier(schema))
    ).fetchall()
    assert [r[0] for r in left] == [kept.id]
