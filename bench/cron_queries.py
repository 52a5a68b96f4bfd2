"""The cost of the recurring internal tasks' queries on a large jobs table.

    python bench/cron_queries.py [--database-url URL] [--rows 1000000] [--runs 5]

Fills a fresh schema with ``--rows`` jobs (created over the last 48 hours, 1% permanently
failed, 0.1% locked), then prints the plan (EXPLAIN ANALYZE, BUFFERS) and the median time of:

- ``queue_metrics`` (``__reporter``, hourly): jobs added in the last hour and all jobs;
- ``cleanup_old_jobs`` (``__cleanupOldJobs``), maxCount 1000, run inside a transaction that
  is rolled back so every run sees the same table;
- ``add_job`` (5,000 single adds) with and without ``jobs_failed_idx``, the partial index the
  cleanup uses, to show that it costs enqueueing nothing measurable.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from trigger_compat import Client
from trigger_compat.core.sqlfiles import queries_for
from trigger_compat.testing.server import start_embedded_server

FILL = """
insert into {s}.jobs (task_identifier, payload, run_at, attempts, max_attempts, created_at,
                      locked_at, locked_by)
select 'bench_task', jsonb_build_object('i', g),
       %(now)s - make_interval(secs => (g %% 172800)),
       case when g %% 100 = 0 then 25 else 0 end, 25,
       %(now)s - make_interval(secs => 172800 - (g::float / %(rows)s) * 172800),
       case when g %% 1000 = 1 then %(now)s end,
       case when g %% 1000 = 1 then 'bench-worker' end
  from generate_series(1, %(rows)s) as g
"""


def median_ms(fn: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    url = args.database_url or start_embedded_server(
        Path(tempfile.gettempdir()) / f"trigger-compat-bench-pg-{os.getuid()}"
    )
    schema = f"bench_cron_{uuid.uuid4().hex[:8]}"
    q = queries_for(schema)
    now = datetime.now(UTC)
    with Client(url, schema=schema) as client, psycopg.connect(url, autocommit=True) as db:
        try:
            client.migrate()
            s = sql.Identifier(schema)
            t = time.perf_counter()
            db.execute(sql.SQL(FILL).format(s=s), {"now": now, "rows": args.rows})
            db.execute(sql.SQL("vacuum analyze {s}.jobs").format(s=s))
            print(f"filled {args.rows:,} jobs in {time.perf_counter() - t:.1f} s")

            metrics = {"start_at": now - timedelta(hours=1), "end_at": now}
            cleanup = {"expiration": now - timedelta(days=1), "max_count": 1000}

            def explain(name: str, params: dict[str, Any], rollback: bool = False) -> None:
                with db.transaction(force_rollback=rollback):
                    plan = db.execute(
                        "explain (analyze, buffers, costs off) " + q[name], params
                    ).fetchall()
                print(f"\n-- {name}")
                for (line,) in plan:
                    print("   " + line)

            def run(name: str, params: dict[str, Any], rollback: bool = False) -> Any:
                with db.transaction(force_rollback=rollback):
                    return db.execute(q[name], params).fetchone()

            explain("queue_metrics", metrics)
            print("   result (added_count, total_count):", run("queue_metrics", metrics))
            ms = median_ms(lambda: run("queue_metrics", metrics), args.runs)
            print(f"   median of {args.runs}: {ms:.1f} ms")

            explain("cleanup_old_jobs", cleanup, rollback=True)
            print("   result (found, deleted):", run("cleanup_old_jobs", cleanup, rollback=True))
            ms = median_ms(lambda: run("cleanup_old_jobs", cleanup, rollback=True), args.runs)
            print(f"   median of {args.runs}: {ms:.1f} ms")

            def adds() -> None:
                for i in range(5_000):
                    client.add_job("bench_add", {"i": i})

            with_index = median_ms(adds, 3)
            db.execute(sql.SQL("drop index {s}.jobs_failed_idx").format(s=s))
            without_index = median_ms(adds, 3)
            print(
                f"\n-- add_job × 5,000 on the {args.rows:,}-row table: "
                f"{with_index:.0f} ms with jobs_failed_idx, {without_index:.0f} ms without"
            )
        finally:
            db.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))


if __name__ == "__main__":
    main()
