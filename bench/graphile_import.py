"""How long ``graphile import`` takes to move N pending jobs out of a real graphile-worker
schema, beside the raw-SQL floor of the same move measured in the same run.

    python bench/graphile_import.py [--database-url URL] [--jobs 1000000]
                                    [--versions 0.13,0.16] [--queued 0.0] [--keyed 0.0]

For each graphile-worker version: graphile-worker's own migrations build its schema (through
tests/graphile/transfer_helper.js, so ``npm ci --prefix tests/graphile/node`` first), one
plain INSERT fills its job tables with N jobs spread over 20 tasks (a share of them in named
queues and with keys when asked), then

* ``import``: :func:`trigger_compat.cutover.transfer.import_jobs` into a fresh
  trigger-compat schema (one transaction: stage, check, insert, delete, crontabs, counts);
* ``raw SQL``: the least a move can be, on a second copy of the same data: one
  ``INSERT INTO jobs SELECT ... FROM graphile's jobs`` and one ``DELETE``, in one transaction.

Prints a markdown table (seconds, jobs per second). Uses ``--database-url``, else
``DATABASE_URL``. The schemas are dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from trigger_compat import Client
from trigger_compat.cutover.transfer import import_jobs

HELPER = Path(__file__).resolve().parent.parent / "tests" / "graphile" / "transfer_helper.js"

FILL_013 = """
insert into {jobs} (task_identifier, queue_name, payload, priority, run_at, max_attempts, key)
select 'task_' || (i %% 20),
       case when i %% 1000 < %(queued)s then 'queue_' || (i %% 50) end,
       json_build_object('id', i, 'name', 'job ' || i),
       0, now() - interval '1 minute', 25,
       case when i %% 1000 < %(keyed)s then 'key_' || i end
  from generate_series(1, %(n)s) as i
"""

TRIGGER_013 = "alter table {jobs} {action} trigger _500_increase_job_queue_count"
QUEUES_013 = """
insert into {queues} (queue_name, job_count)
select queue_name, count(*) from {jobs} where queue_name is not null group by queue_name
"""

FILL_016_TASKS = (
    "insert into {tasks} (identifier) select 'task_' || i from generate_series(0, 19) i"
)
FILL_016_QUEUES = (
    "insert into {queues} (queue_name) select 'queue_' || i from generate_series(0, 49) i"
)
FILL_016 = """
insert into {jobs} (task_id, job_queue_id, payload, priority, run_at, max_attempts, key)
select t.id, q.id,
       json_build_object('id', i, 'name', 'job ' || i),
       0, now() - interval '1 minute', 25,
       case when i %% 1000 < %(keyed)s then 'key_' || i end
  from generate_series(1, %(n)s) as i
  join {tasks} t on t.identifier = 'task_' || (i %% 20)
  left join {queues} q on i %% 1000 < %(queued)s and q.queue_name = 'queue_' || (i %% 50)
"""

RAW_013 = """
insert into {target} (task_identifier, queue_name, payload, priority, run_at, attempts,
                      max_attempts, last_error, key, revision, flags, created_at, updated_at)
select task_identifier, queue_name, payload, priority, run_at, attempts, max_attempts,
       last_error, key, revision, flags, created_at, updated_at
  from {jobs} order by id
"""
RAW_016 = """
insert into {target} (task_identifier, queue_name, payload, priority, run_at, attempts,
                      max_attempts, last_error, key, revision, flags, created_at, updated_at)
select t.identifier, q.queue_name, j.payload, j.priority, j.run_at, j.attempts, j.max_attempts,
       j.last_error, j.key, j.revision, j.flags, j.created_at, j.updated_at
  from {jobs} j join {tasks} t on t.id = j.task_id left join {queues} q on q.id = j.job_queue_id
 order by j.id
"""


def graphile_migrate(url: str, version: str, schema: str) -> None:
    steps = [{"op": "migrate", "version": version, "schema": schema}]
    subprocess.run(
        ["node", str(HELPER)],
        input=json.dumps(steps),
        text=True,
        check=True,
        capture_output=True,
        env={**os.environ, "DATABASE_URL": url},
    )


def fill(
    conn: psycopg.Connection[Any], version: str, schema: str, n: int, queued: int, keyed: int
) -> None:
    params = {"n": n, "queued": queued, "keyed": keyed}
    if version == "0.13":
        # graphile-worker 0.13's row trigger counts each queue's jobs one row at a time, which
        # slows with every job of a queue in one statement: off for the fill, counted after.
        jobs = sql.Identifier(schema, "jobs")
        with conn.transaction():
            conn.execute(sql.SQL(TRIGGER_013).format(jobs=jobs, action=sql.SQL("disable")))
            conn.execute(sql.SQL(FILL_013).format(jobs=jobs), params)
            conn.execute(sql.SQL(TRIGGER_013).format(jobs=jobs, action=sql.SQL("enable")))
            conn.execute(
                sql.SQL(QUEUES_013).format(jobs=jobs, queues=sql.Identifier(schema, "job_queues"))
            )
    else:
        names = {
            "jobs": sql.Identifier(schema, "_private_jobs"),
            "tasks": sql.Identifier(schema, "_private_tasks"),
            "queues": sql.Identifier(schema, "_private_job_queues"),
        }
        conn.execute(sql.SQL(FILL_016_TASKS).format(**names))
        conn.execute(sql.SQL(FILL_016_QUEUES).format(**names))
        conn.execute(sql.SQL(FILL_016).format(**names), params)
    conn.execute(
        sql.SQL("vacuum analyze {}").format(
            sql.Identifier(schema, "jobs" if version == "0.13" else "_private_jobs")
        )
    )


def raw_move(conn: psycopg.Connection[Any], version: str, graphile: str, target: str) -> float:
    names = {
        "target": sql.Identifier(target, "jobs"),
        "jobs": sql.Identifier(graphile, "jobs" if version == "0.13" else "_private_jobs"),
        "tasks": sql.Identifier(graphile, "_private_tasks"),
        "queues": sql.Identifier(graphile, "_private_job_queues"),
    }
    started = time.perf_counter()
    with conn.transaction():
        conn.execute("set local work_mem = '256MB'")  # as the import sets for itself
        conn.execute(sql.SQL(RAW_013 if version == "0.13" else RAW_016).format(**names))
        conn.execute(sql.SQL("delete from {jobs}").format(**names))
    return time.perf_counter() - started


def _progress(started: float) -> Callable[[str], None]:
    def say(line: str) -> None:
        print(f"  {time.perf_counter() - started:6.1f} s  {line}", file=sys.stderr)

    return say


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--versions", default="0.13,0.16")
    parser.add_argument("--queued", type=float, default=0.0, help="share of jobs in named queues")
    parser.add_argument("--keyed", type=float, default=0.0, help="share of jobs with a key")
    args = parser.parse_args()
    if not args.database_url:
        sys.exit("error: pass --database-url or set DATABASE_URL")
    url: str = args.database_url
    queued, keyed = round(args.queued * 1000), round(args.keyed * 1000)
    rows = []
    for version in args.versions.split(","):
        tag = uuid.uuid4().hex[:8]
        g1, g2, t1, t2 = (f"bench_{k}_{tag}" for k in ("gw1", "gw2", "tc1", "tc2"))
        try:
            for g in (g1, g2):
                graphile_migrate(url, version, g)
            for t in (t1, t2):
                with Client(url, schema=t) as c:
                    c.migrate()
            with psycopg.connect(url, autocommit=True) as conn:
                started = time.perf_counter()
                for g in (g1, g2):
                    fill(conn, version, g, args.jobs, queued, keyed)
                filled = time.perf_counter() - started
                print(
                    f"{version}: filled 2 x {args.jobs:,} jobs in {filled:.1f} s", file=sys.stderr
                )
                raw = raw_move(conn, version, g2, t2)
            started = time.perf_counter()
            report = import_jobs(
                url,
                from_schema=g1,
                schema=t1,
                progress=_progress(started),
            )
            took = time.perf_counter() - started
            assert report.moved == args.jobs, report.as_dict()
            rows.append((version, "import (graphile import)", took, args.jobs))
            rows.append((version, "raw SQL insert + delete", raw, args.jobs))
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                for s in (g1, g2, t1, t2):
                    conn.execute(
                        sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(s))
                    )
    print(f"\n{args.jobs:,} pending jobs, {args.queued:.0%} queued, {args.keyed:.0%} keyed\n")
    print("| graphile-worker | move | seconds | jobs/s |")
    print("|---|---|---:|---:|")
    for version, what, seconds, n in rows:
        print(f"| {version} | {what} | {seconds:.1f} | {n / seconds:,.0f} |")


if __name__ == "__main__":
    main()
