"""The public surface: Client and AsyncClient match, and the fetch path uses its indexes."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from trigger_compat import AsyncClient, Client, JobSpec

from ._support import T0, FakeClock


def public_methods(cls: type) -> list[str]:
    return sorted(
        name for name in dir(cls) if not name.startswith("_") and callable(getattr(cls, name))
    )


def shape(function: Any) -> list[tuple[str, Any, Any]]:
    """Parameter names, kinds and defaults (annotations differ: sync vs async connections)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_clients_have_the_same_public_methods() -> None:
    assert public_methods(Client) == public_methods(AsyncClient)
    assert {"add_job", "add_jobs", "fetch_jobs", "migrate"} <= set(public_methods(Client))


@pytest.mark.parametrize("name", public_methods(Client))
def test_method_signatures_match(name: str) -> None:
    sync_method = getattr(Client, name)
    async_method = getattr(AsyncClient, name)
    assert shape(sync_method) == shape(async_method)
    assert not inspect.iscoroutinefunction(sync_method)
    if name == "transaction":  # a context manager on both sides
        assert inspect.isgeneratorfunction(inspect.unwrap(sync_method))
        assert inspect.isasyncgenfunction(inspect.unwrap(async_method))
        return
    assert inspect.iscoroutinefunction(async_method)


def test_constructors_match() -> None:
    assert shape(Client.__init__) == shape(AsyncClient.__init__)


async def test_async_client_accepts_an_async_connection(database_url: str, schema: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        client = AsyncClient(conn, schema=schema)
        await client.migrate()
        job = await client.add_job("task")
        assert (await client.get_job(job.id)) == job


def test_client_accepts_a_connection(database_url: str, schema: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        client = Client(conn, schema=schema)
        client.migrate()
        job = client.add_job("task")
        assert client.get_job(job.id) == job
        client.close()
        assert not conn.closed


# -- the fetch path uses its partial indexes ---------------------------------------------

ROWS = 20_000
QUEUES = 100


@pytest.fixture(scope="module")
def big_schema(database_url: str) -> Iterator[str]:
    """A schema whose jobs table holds ~20k jobs: half without a queue, half in 100 queues,
    some of them running or permanently failed; analysed."""
    schema = f"t_big_{uuid.uuid4().hex[:8]}"
    clock = FakeClock()
    with Client(database_url, schema=schema, clock=clock) as client:
        client.migrate()
        specs = [
            JobSpec(
                identifier=f"task{i % 5}",
                payload={"i": i},
                queue_name=f"q{i % QUEUES}" if i % 2 else None,
                priority=i % 7 - 3,
                run_at=T0 - timedelta(seconds=i % 1000),
                max_attempts=1 if i % 10 == 0 else None,
                flags=["slow"] if i % 3 == 0 else None,
            )
            for i in range(ROWS)
        ]
        client.add_jobs(specs)
        running = client.fetch_jobs("worker-big", 500)
        for job in running[: len(running) // 2]:
            client.fail_job(job.id, "boom")
    with psycopg.connect(database_url, autocommit=True) as conn:
        ident = sql.Identifier(schema)
        conn.execute(sql.SQL("analyze {}.jobs").format(ident))
        conn.execute(sql.SQL("analyze {}.job_queues").format(ident))
    yield schema
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))


# The SELECTs of fetch_jobs (sql/functions/fetch_jobs.sql), with the function's
# variables as parameters: the tasks with jobs without a queue (when no task filter is
# given), the best heads among the tasks, the lock of one task's head, the walk of the queued
# jobs in fetch order and the lock of a queue row it visits, the queues with a free place and a
# ready job (found by a skip scan of the queues that have available jobs, when the walk met too
# many jobs it cannot take), a queue's head.
FILTERS = """
    and (%(tasks)s::text[] is null or j.task_identifier = any(%(tasks)s::text[]))
    and (%(flags)s::text[] is null or j.flags is null or not (j.flags ?| %(flags)s::text[]))"""
FLAGS = """
    and (%(flags)s::text[] is null or j.flags is null or not (j.flags ?| %(flags)s::text[]))"""
TASK_LIST = """
    with recursive t(task) as (
        (select j.task_identifier from jobs j
          where j.is_available and j.queue_name is null
          order by j.task_identifier limit 1)
        union all
        select (select j.task_identifier from jobs j
                 where j.is_available and j.queue_name is null and j.task_identifier > t.task
                 order by j.task_identifier limit 1)
          from t where t.task is not null)
    select t.task from t where t.task is not null"""
TASK_HEADS = (
    """select h.task, count(*)::integer as n
         from (select t.task, c.priority, c.run_at, c.id
                 from unnest(coalesce(%(tasks)s::text[], array['task1', 'task2'])) as t(task)
                cross join lateral (
                      select j.priority, j.run_at, j.id from jobs j
                       where j.task_identifier = t.task and j.is_available
                         and j.queue_name is null and j.run_at <= %(now)s"""
    + FLAGS
    + """
                       order by j.priority, j.run_at, j.id
                       limit %(n)s) as c
                order by c.priority, c.run_at, c.id
                limit %(n)s) as h
        group by h.task"""
)
TASK_LOCK = (
    """select j.priority, j.run_at, j.id from jobs j
        where j.task_identifier = 'task3' and j.is_available and j.queue_name is null
          and j.run_at <= %(now)s"""
    + FLAGS
    + """
        order by j.priority, j.run_at, j.id
        limit %(n)s
          for update skip locked"""
)
QUEUE_WALK = """
    select j.queue_name,
           (j.run_at <= %(now)s
            and (%(tasks)s::text[] is null or j.task_identifier = any(%(tasks)s::text[]))
            and (%(flags)s::text[] is null or j.flags is null
                 or not (j.flags ?| %(flags)s::text[]))) as ready
      from jobs j
     where j.is_available and j.queue_name is not null
     order by j.priority, j.run_at, j.id
     limit %(walk)s"""
QUEUE_LOCK = """
    select q.queue_name, q.concurrency
      from job_queues q
     where q.queue_name = %(queue)s
       and (select count(*) from jobs r
             where r.queue_name = q.queue_name and r.locked_at is not null) < q.concurrency
       for update of q skip locked"""
READY_QUEUES = (
    """select q.queue_name, q.concurrency
         from (with recursive heads(queue_name, run_at) as (
                   (select j.queue_name, j.run_at from jobs j
                     where j.is_available and j.queue_name is not null
                     order by j.queue_name, j.run_at
                     limit 1)
                   union all
                   select n.queue_name, n.run_at
                     from heads h
                    cross join lateral (
                          select j.queue_name, j.run_at from jobs j
                           where j.is_available and j.queue_name is not null
                             and j.queue_name > h.queue_name
                           order by j.queue_name, j.run_at
                           limit 1) as n)
               select h.queue_name from heads h where h.run_at <= %(now)s) as due
         join job_queues q on q.queue_name = due.queue_name
                          and not (q.queue_name = any(%(seen)s::text[]))
        cross join lateral (
              select j.priority, j.run_at, j.id from jobs j
               where j.queue_name = q.queue_name and j.is_available and j.run_at <= %(now)s"""
    + FILTERS
    + """
               order by j.priority, j.run_at, j.id
               limit 1) as ready
        where (select count(*) from jobs r
                where r.queue_name = q.queue_name and r.locked_at is not null) < q.concurrency
        order by ready.priority, ready.run_at, ready.id
          for update of q skip locked"""
)
QUEUE_HEAD = (
    """select j.priority, j.run_at, j.id from jobs j
        where j.queue_name = %(queue)s and j.is_available and j.run_at <= %(now)s"""
    + FILTERS
    + """
        order by j.priority, j.run_at, j.id
        limit %(n)s
          for update skip locked"""
)
QUERIES = {
    "task_list": (TASK_LIST, {"jobs_task_fetch_idx"}),
    "task_heads": (TASK_HEADS, {"jobs_task_fetch_idx"}),
    "task_lock": (TASK_LOCK, {"jobs_task_fetch_idx"}),
    "queue_walk": (QUEUE_WALK, {"jobs_queue_order_idx"}),
    "queue_lock": (QUEUE_LOCK, {"jobs_queue_running_idx"}),
    "ready_queues": (
        READY_QUEUES,
        {"jobs_queue_running_idx", "jobs_queue_ready_idx", "jobs_queue_fetch_idx"},
    ),
    "queue_head": (QUEUE_HEAD, {"jobs_queue_fetch_idx"}),
}
ARGUMENTS = {
    "no_filters": {"tasks": None, "flags": None},
    "task_filter": {"tasks": ["task1", "task2"], "flags": None},
    "flag_filter": {"tasks": None, "flags": ["slow"]},
}


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


@pytest.mark.parametrize("plan_cache_mode", ["force_custom_plan", "force_generic_plan"])
@pytest.mark.parametrize("arguments", list(ARGUMENTS))
@pytest.mark.parametrize("query", list(QUERIES))
def test_fetch_queries_use_the_partial_indexes(
    database_url: str, big_schema: str, query: str, arguments: str, plan_cache_mode: str
) -> None:
    text, indexes = QUERIES[query]
    params: dict[str, Any] = {
        "now": T0,
        "n": 10,
        "walk": 200,
        "queue": "q7",
        "seen": ["q1", "q2"],
        **ARGUMENTS[arguments],
    }
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("set search_path to {}").format(sql.Identifier(big_schema)))
        # plpgsql switches to a generic plan after a few calls: check both kinds.
        conn.execute(sql.SQL("set plan_cache_mode = {}").format(sql.SQL(plan_cache_mode)))
        # fetch_jobs runs with these settings (its SET clauses).
        conn.execute("set enable_sort = off")
        conn.execute("set enable_bitmapscan = off")
        row = conn.execute("explain (format json) " + text, params).fetchone()
    assert row is not None
    nodes = list(plan_nodes(row[0][0]["Plan"]))
    scans = [(n["Node Type"], n.get("Relation Name"), n.get("Index Name")) for n in nodes]
    on_jobs = [s for s in scans if s[1] == "jobs"]
    assert on_jobs and all(s[0] in ("Index Scan", "Index Only Scan") for s in on_jobs), scans
    assert {s[2] for s in on_jobs} == indexes, scans
    sorts = [n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")]
    if query == "ready_queues":
        # Only the queues' heads are sorted, never the rows of an index scan.
        assert all(parent_of(nodes, n)["Node Type"] != "Sort" for n in nodes_on_jobs(nodes))
    elif query == "task_heads":
        # Only the merged heads are sorted: each task's scan stops after n rows.
        assert all(parent_of(nodes, n)["Node Type"] == "Limit" for n in nodes_on_jobs(nodes))
    else:
        assert not sorts, scans


def nodes_on_jobs(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [n for n in nodes if n.get("Relation Name") == "jobs"]


def parent_of(nodes: list[dict[str, Any]], child: dict[str, Any]) -> dict[str, Any]:
    return next(n for n in nodes if any(c is child for c in n.get("Plans", [])))


def table_scans(conn: psycopg.Connection[Any], schema: str) -> dict[str, int]:
    """Sequential scans of jobs and index scans per index, as the statistics have them."""
    conn.execute("select pg_stat_clear_snapshot()")
    out: dict[str, int] = {}
    row = conn.execute(
        "select seq_scan from pg_stat_user_tables where schemaname = %s and relname = 'jobs'",
        (schema,),
    ).fetchone()
    assert row is not None
    out["seq_scan"] = row[0]
    for name, scans in conn.execute(
        "select indexrelname, idx_scan from pg_stat_user_indexes"
        " where schemaname = %s and relname = 'jobs'",
        (schema,),
    ).fetchall():
        out[name] = scans
    return out


def test_fetch_jobs_reads_jobs_through_the_indexes_only(database_url: str, big_schema: str) -> None:
    """The function itself (not a copy of its SQL): no sequential scan of jobs, and both
    partial indexes used. The fetch runs on this connection so its statistics can be flushed
    before they are read."""
    clock = FakeClock()
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        Client(database_url, schema=big_schema, clock=clock) as client,
    ):
        conn.execute("select pg_stat_force_next_flush()")
        before = table_scans(conn, big_schema)
        for _ in range(6):  # past plpgsql's switch to generic plans
            fetched = client.fetch_jobs("worker-stats", 5, tx=conn)
            assert len(fetched) == 5
        fetched = client.fetch_jobs("worker-stats", 5, task_identifiers=["task3"], tx=conn)
        assert {j.task_identifier for j in fetched} == {"task3"}
        conn.execute("select pg_stat_force_next_flush()")
        after = table_scans(conn, big_schema)
    assert after["seq_scan"] == before["seq_scan"]
    assert after["jobs_task_fetch_idx"] > before["jobs_task_fetch_idx"]
    assert after["jobs_queue_fetch_idx"] > before["jobs_queue_fetch_idx"]
    assert after["jobs_queue_order_idx"] > before["jobs_queue_order_idx"]


def test_fetch_jobs_does_not_visit_queues_without_available_jobs(
    database_url: str, schema: str, client: Client, db: psycopg.Connection[Any]
) -> None:
    """job_queues keeps one row per queue name ever used. 3,000 queues whose jobs are all
    done must cost a fetch nothing: it finds the queues with available jobs through indexes
    of available jobs only (jobs_queue_order_idx, else jobs_queue_ready_idx), so its index
    scans stay a handful, not one or two per queue."""
    from trigger_compat import JobSpec

    done = client.add_jobs(
        [JobSpec(identifier="t", payload={}, queue_name=f"old-{i:04d}") for i in range(3_000)]
    )
    client.complete_jobs([j.id for j in done])
    client.add_job("t", {"n": 1}, queue_name="live")
    client.add_job("t", {"n": 2}, queue_name="live")
    client.add_job("t", {"n": 3}, queue_name="later", run_at=T0 + timedelta(days=1))
    clock = FakeClock()
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        Client(database_url, schema=schema, clock=clock) as c,
    ):
        conn.execute(sql.SQL("analyze {}.jobs").format(sql.Identifier(schema)))
        conn.execute("select pg_stat_force_next_flush()")
        before = table_scans(conn, schema)
        fetched = c.fetch_jobs("w", 10, tx=conn)
        conn.execute("select pg_stat_force_next_flush()")
        after = table_scans(conn, schema)
    assert [j.payload for j in fetched] == [{"n": 1}]  # "live" is serial; "later" is not due
    scans = {name: after[name] - before[name] for name in after if name != "seq_scan"}
    assert sum(scans.values()) < 30, scans  # the 3,000 old queues would be 3,000 or more


def index_entries_read(conn: psycopg.Connection[Any], schema: str) -> dict[str, int]:
    conn.execute("select pg_stat_force_next_flush()")
    conn.execute("select pg_stat_clear_snapshot()")
    rows = conn.execute(
        "select indexrelname, idx_tup_read from pg_stat_user_indexes"
        " where schemaname = %s and relname = 'jobs'",
        (schema,),
    ).fetchall()
    return {name: int(read) for name, read in rows}


def test_fetch_jobs_cost_does_not_grow_with_the_queues_that_have_jobs_due(
    database_url: str, schema: str, client: Client
) -> None:
    """3,000 named queues, each with jobs due: a fetch walks jobs_queue_order_idx (the queued
    jobs in fetch order) and stops at the first queues with a free place, reading a handful of
    index entries, not one or more per due queue; the jobs still come in priority, run_at, id
    order and one at a time per queue."""
    client.add_jobs(
        [
            JobSpec(identifier="t", payload={"q": i % 3_000}, queue_name=f"d-{i % 3_000:04d}")
            for i in range(6_000)
        ]
    )
    client.add_job("t", {"q": "best"}, queue_name="d-best", priority=-1)
    clock = FakeClock()
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        Client(database_url, schema=schema, clock=clock) as c,
    ):
        conn.execute(sql.SQL("analyze {}.jobs").format(sql.Identifier(schema)))
        before = index_entries_read(conn, schema)
        fetched = c.fetch_jobs("w", 3, tx=conn)
        after = index_entries_read(conn, schema)
    assert [j.payload for j in fetched] == [{"q": "best"}, {"q": 0}, {"q": 1}]
    read = {name: after[name] - before[name] for name in after}
    assert read["jobs_queue_order_idx"] > 0, read
    assert read.get("jobs_queue_ready_idx", 0) == 0, read  # no skip scan of the 3,000 queues
    assert sum(read.values()) < 100, read


def test_a_busy_queue_backlog_ahead_of_everything_bounds_the_walk(
    database_url: str, schema: str, client: Client
) -> None:
    """A queue with a running job and a backlog of 1,500 jobs ahead of every other job (better
    priority): the walk of jobs_queue_order_idx gives up after its bound (1,000 entries at
    most) and the other queues are found by the skip scan of jobs_queue_ready_idx, in head
    order; the busy queue gives nothing, and jobs without a queue still merge in order."""
    client.add_jobs(
        [
            JobSpec(identifier="t", payload={"i": i}, queue_name="busy", priority=-5)
            for i in range(1_500)
        ]
    )
    running = client.fetch_jobs("w0", 1)
    assert [j.queue_name for j in running] == ["busy"]
    client.add_job("t", {"q": "a"}, queue_name="qa", priority=1)
    client.add_job("t", {"q": "b"}, queue_name="qb", priority=0)
    client.add_job("t", {"q": "b2"}, queue_name="qb", priority=0)
    client.add_job("t", {"q": "none"}, priority=2)
    clock = FakeClock()
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        Client(database_url, schema=schema, clock=clock) as c,
    ):
        conn.execute(sql.SQL("analyze {}.jobs").format(sql.Identifier(schema)))
        before = index_entries_read(conn, schema)
        fetched = c.fetch_jobs("w", 5, tx=conn)
        after = index_entries_read(conn, schema)
    assert [j.payload for j in fetched] == [{"q": "b"}, {"q": "a"}, {"q": "none"}]
    read = {name: after[name] - before[name] for name in after}
    assert 0 < read["jobs_queue_order_idx"] <= 1_000, read
    assert read["jobs_queue_ready_idx"] > 0, read


def test_every_public_name_resolves() -> None:
    import trigger_compat

    for name in trigger_compat.__all__:
        assert getattr(trigger_compat, name) is not None, name
    assert sorted(dir(trigger_compat)) == sorted(trigger_compat.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = trigger_compat.Nope  # type: ignore[attr-defined]


def test_a_client_without_a_catalog_does_not_load_the_catalog_machinery() -> None:
    """A producer or a plain worker loads neither YAML nor JSON Schema (memory, start-up)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from trigger_compat import AsyncClient, Client, Worker\n"
        "Client('postgresql://nobody@127.0.0.1:1/none')\n"
        "heavy = sorted(m for m in ('yaml', 'jsonschema', 'trigger_compat.core.catalog')"
        " if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


def test_a_backlog_of_other_tasks_costs_a_fetch_nothing(database_url: str, schema: str) -> None:
    """5,000 ready jobs of a task no worker runs, ahead of everything (better priority):
    fetching the jobs of other tasks reads a handful of index entries, not the backlog —
    with one task in the filter and with several."""
    clock = FakeClock()
    with (
        Client(database_url, schema=schema, clock=clock) as client,
        psycopg.connect(database_url, autocommit=True) as conn,
    ):
        client.migrate()
        client.add_jobs([JobSpec(identifier="nobody", priority=-5) for _ in range(5_000)])
        client.add_jobs([JobSpec(identifier=f"t{i % 3}", payload={"i": i}) for i in range(90)])
        conn.execute(sql.SQL("analyze {}.jobs").format(sql.Identifier(schema)))

        def entries_read(tasks: list[str]) -> tuple[int, int]:
            conn.execute("select pg_stat_force_next_flush()")
            conn.execute("select pg_stat_clear_snapshot()")
            query = (
                "select coalesce(sum(idx_tup_read), 0) from pg_stat_user_indexes"
                " where schemaname = %s and relname = 'jobs'"
            )
            before = conn.execute(query, (schema,)).fetchone()
            fetched = client.fetch_jobs("worker", 5, task_identifiers=tasks, tx=conn)
            conn.execute("select pg_stat_force_next_flush()")
            conn.execute("select pg_stat_clear_snapshot()")
            after = conn.execute(query, (schema,)).fetchone()
            assert before is not None and after is not None
            return len(fetched), int(after[0]) - int(before[0])

        for tasks in (["t0"], ["t0", "t1", "t2"]):
            for _ in range(3):
                got, read = entries_read(tasks)
                assert got == 5
                assert read < 100, (tasks, read)
