"""The collection of empty queues' rows (collect_job_queues) under concurrent adds: processes
add jobs, singly and in batches, in transactions that touch several queues, to queue names
used once and to a few names used again and again (their rows are deleted and recreated all
the time), while another process collects empty queue rows in a loop and two more run the
jobs. No committed job is ever without its queue row, and every job is fetched and run."""

from __future__ import annotations

import queue
import random
import time
from typing import Any

import psycopg
import pytest
from psycopg import sql

from trigger_compat import Client, JobSpec
from trigger_compat.core import cron_ops
from trigger_compat.errors import ConfigurationError, TransactionConflictError

from .test_engine_stress import process_context

pytestmark = pytest.mark.stress

PRODUCERS = 4
ROUNDS = 60
RECYCLED = 4  # queue names every producer uses again and again
DEADLINE_S = 120.0

ORPHANS = """
select count(*) from {s}.jobs j
 where j.queue_name is not null
   and not exists (select 1 from {s}.job_queues q where q.queue_name = j.queue_name)
"""


def _producer(url: str, schema: str, n: int, barrier: Any, results: Any) -> None:
    try:
        rnd = random.Random(n)
        added: list[int] = []
        with Client(url, schema=schema, pool_size=1) as c:
            barrier.wait()
            for i in range(ROUNDS):

                def name(k: int, i: int = i) -> str:
                    if rnd.random() < 0.5:
                        return f"recycled:{rnd.randrange(RECYCLED)}"
                    return f"fresh:{n}:{i}:{k}"

                # One transaction, several statements: the first job's queue row is used
                # while the transaction goes on adding to others. Two such transactions that
                # both create the rows of two queues, in opposite orders, deadlock (as with
                # any new queue names): the loser is rolled back and adds again, as an
                # application would.
                for _ in range(20):
                    ids: list[int] = []
                    try:
                        with c.transaction() as tx:
                            ids.append(
                                tx.add_job("deliver", {"n": n, "i": i}, queue_name=name(0)).id
                            )
                            jobs = tx.add_jobs(
                                [
                                    JobSpec(
                                        identifier="deliver", payload={"k": k}, queue_name=name(k)
                                    )
                                    for k in range(1, 4)
                                ]
                            )
                            ids.extend(j.id for j in jobs)
                    except TransactionConflictError:
                        continue
                    added.extend(ids)
                    break
                else:
                    raise AssertionError("20 conflicts in a row")
                if rnd.random() < 0.5:
                    added.append(c.add_job("deliver", {"n": n}, queue_name=name(9)).id)
        results.put(("ok", n, added))
    except BaseException as exc:
        results.put(("error", n, repr(exc)))


def _collector(url: str, schema: str, barrier: Any, results: Any, stop: Any) -> None:
    try:
        deleted = rounds = refused = orphans = 0
        with Client(url, schema=schema, pool_size=1) as c:
            barrier.wait()
            while not stop.is_set():
                n = c.execute(cron_ops.collect_job_queues(20, lock_timeout_ms=20))
                rounds += 1
                if n < 0:
                    refused += 1
                else:
                    deleted += n
                with c.transaction() as tx:
                    row = tx.execute(sql.SQL(ORPHANS).format(s=sql.Identifier(schema))).fetchone()
                    orphans = max(orphans, int(row[0]) if row else 0)
        results.put(("ok", "collector", (deleted, rounds, refused, orphans)))
    except BaseException as exc:
        results.put(("error", "collector", repr(exc)))


def _runner(url: str, schema: str, n: int, barrier: Any, results: Any, stop: Any) -> None:
    try:
        done: list[int] = []
        with Client(url, schema=schema, pool_size=1) as c:
            barrier.wait()
            while not stop.is_set():
                jobs = c.fetch_jobs(f"runner-{n}", 5)
                c.complete_jobs([j.id for j in jobs])
                done.extend(j.id for j in jobs)
        results.put(("ok", f"runner-{n}", done))
    except BaseException as exc:
        results.put(("error", f"runner-{n}", repr(exc)))


def test_no_add_loses_its_queue_row_while_empty_queues_are_collected(
    database_url: str, schema: str, db: Any
) -> None:
    Client(db, schema=schema).migrate()
    ctx = process_context()
    runners = 2
    barrier = ctx.Barrier(PRODUCERS + 1 + runners, timeout=30)
    results = ctx.Queue()
    stop_collector, stop_runners = ctx.Event(), ctx.Event()
    procs = [
        ctx.Process(target=_producer, args=(database_url, schema, n, barrier, results))
        for n in range(PRODUCERS)
    ]
    procs.append(
        ctx.Process(
            target=_collector, args=(database_url, schema, barrier, results, stop_collector)
        )
    )
    procs += [
        ctx.Process(target=_runner, args=(database_url, schema, n, barrier, results, stop_runners))
        for n in range(runners)
    ]
    for p in procs:
        p.start()
    added: list[int] = []
    ran: list[int] = []
    try:
        deadline = time.time() + DEADLINE_S
        for _ in range(PRODUCERS):
            r = results.get(timeout=max(0.1, deadline - time.time()))
            assert r[0] == "ok", r
            added.extend(r[2])
        stop_collector.set()
        r = results.get(timeout=max(0.1, deadline - time.time()))
        assert r[0] == "ok", r
        deleted, rounds, refused, orphans = r[2]
        stop_runners.set()
        for _ in range(runners):
            r = results.get(timeout=max(0.1, deadline - time.time()))
            assert r[0] == "ok", r
            ran.extend(r[2])
    except queue.Empty:
        pytest.fail("a process did not report in time")
    finally:
        stop_collector.set()
        stop_runners.set()
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()

    # At no point of the run was a committed job without its queue row.
    assert orphans == 0, f"{orphans} job(s) without a queue row"
    assert deleted > 0, (deleted, rounds, refused)  # the collection did run against the adds
    ident = sql.Identifier(schema)
    assert db.execute(sql.SQL(ORPHANS).format(s=ident)).fetchone() == (0,)

    # Every job left is fetched and run (a job without its queue row never would be).
    with Client(database_url, schema=schema, pool_size=1) as c:
        deadline = time.time() + DEADLINE_S
        while time.time() < deadline:
            jobs = c.fetch_jobs("drain", 50)
            if not jobs:
                break
            c.complete_jobs([j.id for j in jobs])
            ran.extend(j.id for j in jobs)
        assert sorted(ran) == sorted(added)
        assert db.execute(sql.SQL("select count(*) from {}.jobs").format(ident)).fetchone() == (0,)
        # Nothing holds a queue now: the collection leaves job_queues empty.
        while c.execute(cron_ops.collect_job_queues(1000)) != 0:
            pass
    assert db.execute(sql.SQL("select count(*) from {}.job_queues").format(ident)).fetchone() == (
        0,
    )


def test_collection_keeps_queues_with_jobs_or_settings(client: Client, db: Any) -> None:
    """Only rows that add_job would recreate as they are go: a queue with a waiting,
    running or failed job stays, and so does one with a concurrency of its own."""
    done = client.add_job("t", queue_name="done")
    failed = client.add_job("t", queue_name="failed", max_attempts=1)
    assert {j.id for j in client.fetch_jobs("w", 10)} == {done.id, failed.id}
    client.complete_jobs([done.id])
    client.fail_job(failed.id, "boom")
    running = client.add_job("t", queue_name="running")
    assert [j.id for j in client.fetch_jobs("w", 1)] == [running.id]
    client.add_job("t", queue_name="waiting")
    client.set_queue_concurrency("wide", 3)

    assert client.execute(cron_ops.collect_job_queues(100)) == 1  # "done" only
    left = db.execute(
        sql.SQL("select queue_name from {}.job_queues order by 1").format(
            sql.Identifier(client.schema)
        )
    ).fetchall()
    assert [r[0] for r in left] == ["failed", "running", "waiting", "wide"]
    assert client.execute(cron_ops.collect_job_queues(100)) == 0


def test_collection_refuses_a_snapshot_transaction(database_url: str, client: Client) -> None:
    with psycopg.connect(database_url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with pytest.raises(psycopg.Error, match="READ COMMITTED"):
            conn.execute(
                sql.SQL("select {}.collect_job_queues(10, 100)").format(
                    sql.Identifier(client.schema)
                )
            )


def test_collect_job_queues_checks_its_arguments() -> None:
    with pytest.raises(ConfigurationError, match="max_count"):
        cron_ops.collect_job_queues(0)
    with pytest.raises(ConfigurationError, match="lock_timeout_ms"):
        cron_ops.collect_job_queues(10, lock_timeout_ms=True)
