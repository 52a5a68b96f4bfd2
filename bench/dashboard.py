"""Server time of each dashboard page with a large jobs table (1,000,000 jobs by default).

    python bench/dashboard.py [--database-url URL] [--jobs N] [--runs N] [--keep]

Fills a fresh schema with N jobs in one statement (20 tasks, a fifth in 50 named queues,
about 90% waiting, 5% scheduled, 3% failed with an error text, 2% retrying, a few hundred
running), an hour of throughput from 4 workers, then requests each page --runs times (7 by
default) through the ASGI app in this process (Starlette's test client: no network, so the
time is the server's: queries and rendering) after one untimed request, and prints the median
and the slowest in milliseconds as a markdown table. The schema is dropped at the end unless
--keep. Needs the web extra and a database URL (--database-url, else DATABASE_URL).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid

import psycopg
from psycopg import sql

from trigger_compat import Client


def fill(conn: psycopg.Connection[object], schema: str, jobs: int) -> None:
    s = sql.Identifier(schema)
    conn.execute(
        sql.SQL(
            """
            insert into {s}.jobs (task_identifier, queue_name, payload, run_at, attempts,
                                  max_attempts, last_error, key)
            select 'task_' || (i %% 20),
                   case when i %% 5 = 0 then 'queue:' || (i %% 50) end,
                   jsonb_build_object('id', i, 'email', 'user' || i || '@example.com'),
                   case when i %% 100 < 90 then now() - make_interval(secs => i %% 3600)
                        else now() + make_interval(secs => i %% 86400) end,
                   case when i %% 100 >= 97 then 5 when i %% 100 >= 95 then 1 else 0 end,
                   5,
                   case when i %% 100 >= 95 then 'Error: upstream ' || (500 + i %% 4)
                        || E'\\n    at deliver (worker.ts:' || (i %% 300) || ')' end,
                   case when i %% 10 = 0 then 'key:' || i end
              from generate_series(1, %(n)s) as i
            """
        ).format(s=s),
        {"n": jobs},
    )
    conn.execute(
        sql.SQL(
            "update {s}.jobs set locked_at = now(), locked_by = 'w-' || (id % 4) "
            "where id in (select id from {s}.jobs where attempts = 0 order by id limit 200)"
        ).format(s=s)
    )
    conn.execute(
        sql.SQL(
            "insert into {s}.workers (worker_id, name, hostname, pid) "
            "select 'w-' || w, 'workerQueue', 'host-' || w, 1000 + w from generate_series(0, 3) w"
        ).format(s=s)
    )
    conn.execute(
        sql.SQL(
            "insert into {s}.job_stats (minute, worker_id, completed, failed) "
            "select date_trunc('minute', now()) - make_interval(mins => m), 'w-' || w, 500, 5 "
            "from generate_series(0, 59) m, generate_series(0, 3) w"
        ).format(s=s)
    )
    conn.execute(sql.SQL("analyze {s}.jobs").format(s=s))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if not args.database_url:
        sys.exit("give --database-url or set DATABASE_URL")
    from starlette.testclient import TestClient

    from trigger_compat.web import create_app

    schema = f"bench_dash_{uuid.uuid4().hex[:8]}"
    with Client(args.database_url, schema=schema) as client:
        client.migrate()
        try:
            with psycopg.connect(args.database_url, autocommit=True) as conn:
                started = time.perf_counter()
                fill(conn, schema, args.jobs)
                took = time.perf_counter() - started
                print(f"{args.jobs:,} jobs in {took:.1f} s", file=sys.stderr)
            some_job = 1 + args.jobs // 2
            pages = {
                "overview": "/",
                "overview (htmx refresh)": "/fragments/overview",
                "jobs, first page": "/jobs",
                "jobs, a page deep in the table": f"/jobs?before={some_job}",
                "jobs, state=failed": "/jobs?state=failed",
                "jobs, task + state=waiting": "/jobs?task=task_3&state=waiting",
                "jobs, queue": "/jobs?queue=queue:10",
                "jobs, key": f"/jobs?key=key:{some_job - some_job % 10}",
                "jobs, error text": "/jobs?error=upstream%20503",
                "jobs, state=running (rare)": "/jobs?state=running",
                "job": f"/jobs/{some_job}",
                "queues and tasks": "/queues",
                "recurring": "/recurring",
                "workers": "/workers",
            }
            print("| page | median ms | slowest ms |")
            print("| --- | ---: | ---: |")
            with TestClient(create_app(client)) as t:
                for name, path in pages.items():
                    assert t.get(path).status_code == 200, path
                    times = []
                    for _ in range(args.runs):
                        began = time.perf_counter()
                        r = t.get(path)
                        times.append((time.perf_counter() - began) * 1000)
                        assert r.status_code == 200, path
                    print(f"| {name} | {statistics.median(times):.0f} | {max(times):.0f} |")
        finally:
            if not args.keep:
                with psycopg.connect(args.database_url, autocommit=True) as conn:
                    conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(schema)))


if __name__ == "__main__":
    main()
