"""Enqueue, fetch+complete and ``status`` on a 1,000,000-row jobs table beside an empty one.

    python bench/scale.py [--database-url URL] [--rows 1000000] [--runs 3] [--quick]

Uses ``--database-url``, else ``DATABASE_URL``, else starts the embedded PostgreSQL. Makes two
schemas with ``Client.migrate()``: *empty*, and *big*, filled with ``--rows`` jobs by one
``insert … select … from generate_series`` (60% scheduled in the future, 39.8% permanently
failed, 0.1% running, 0.1% ready; a tenth of them in 100 named queues, half of them with a job
key) and then ``vacuum analyze``d. Every workload runs on both, alternating run by run, and the
table shows the medians and big/empty (goal: ≤ 2×). Then ``trigger-compat status`` is run as a
subprocess on each schema (goal: under a second on the big one) and the plan of its query is
printed. Rows a run adds are deleted (empty: truncated) after it, untimed. See bench/README.md.

Three other modes, each alone: ``--status-rows N`` (``status`` estimated and ``--exact`` on N
jobs, with the estimated/exact ratios), ``--queues`` (fetch cost by number of named queues, due
or empty) and ``--queue-gc`` (add_job/add_jobs with collect_job_queues looping beside them, and
with a foreign key from jobs to job_queues instead).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from trigger_compat import Client, JobSpec
from trigger_compat.cli.admin import FAILED_EXACT_CAP, SAMPLE_ROWS
from trigger_compat.core import admin_ops as ao
from trigger_compat.core import cron_ops
from trigger_compat.core.sqlfiles import queries_for
from trigger_compat.testing.server import start_embedded_server

TASK = "bench_task"
BATCH = 1_000
QUEUES = 100

# g % 1000: 0..599 future, 600..997 permanently failed, 998 running, 999 ready.
FILL = """
insert into {s}.jobs (task_identifier, queue_name, payload, run_at, attempts, max_attempts,
                      last_error, key, locked_at, locked_by, created_at)
select 'filler_' || (g %% 7),
       case when g %% 10 = 0 then 'q' || (g %% %(queues)s) end,
       jsonb_build_object('i', g, 'pad', repeat('x', 40)),
       case when g %% 1000 < 600 then %(now)s + make_interval(secs => 3600 + g %% 2592000)
            else %(now)s - make_interval(secs => 60 + g %% 86400) end,
       case when g %% 1000 between 600 and 997 then 25
            when g %% 1000 = 998 then 1 else 0 end,
       25,
       case when g %% 1000 between 600 and 997 then 'boom: failed for good' end,
       case when g %% 2 = 0 then 'fill:' || g end,
       case when g %% 1000 = 998 then %(now)s end,
       case when g %% 1000 = 998 then 'bench-filler-' || (g %% 4) end,
       %(now)s - make_interval(secs => g %% 172800)
  from generate_series(1, %(rows)s) as g
"""


@dataclass(frozen=True)
class Sizes:
    single: int
    batched: int
    fetched: int


FULL = Sizes(single=2_000, batched=20_000, fetched=2_000)
QUICK = Sizes(single=500, batched=5_000, fetched=500)


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


class Side:
    """One schema (empty or big) and its client."""

    def __init__(self, url: str, label: str, schema: str | None = None) -> None:
        self.label = label
        self.schema = schema or f"bench_scale_{label}_{uuid.uuid4().hex[:8]}"
        self.client = Client(url, schema=self.schema, pool_size=1)
        self.client.migrate()
        self.ident = sql.Identifier(self.schema)
        self.fill_max_id = 0

    def reset(self, db: psycopg.Connection[Any]) -> None:
        """Drop what the last run added, so every run starts from the same table."""
        if self.fill_max_id == 0:
            db.execute(sql.SQL("truncate {}.jobs restart identity").format(self.ident))
        else:
            db.execute(
                sql.SQL("delete from {}.jobs where id > %s").format(self.ident),
                (self.fill_max_id,),
            )
            db.execute(sql.SQL("vacuum {}.jobs").format(self.ident))
        db.execute(
            sql.SQL("delete from {}.job_queues where queue_name like 'bench:%%'").format(self.ident)
        )


@dataclass
class Row:
    name: str
    jobs: int
    empty: list[float]
    big: list[float]


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer jobs per workload")
    ap.add_argument(
        "--queues",
        action="store_true",
        help="only the fetch cost against the number of named queues (--queue-counts)",
    )
    ap.add_argument(
        "--queue-counts",
        default=",".join(str(n) for n in QUEUE_COUNTS),
        help="comma-separated numbers of named queues for --queues",
    )
    ap.add_argument("--calls", type=int, default=200, help="fetches timed per point of --queues")
    ap.add_argument(
        "--queue-gc",
        action="store_true",
        help="only the cost to add_job/add_jobs of collecting empty queue rows beside them",
    )
    ap.add_argument(
        "--status-rows",
        type=int,
        default=0,
        help="only `status` on a table of this many jobs (e.g. 10000000), estimated and --exact",
    )
    ap.add_argument(
        "--status-schema",
        help="with --status-rows: fill (or reuse, if it has jobs) this schema and keep it",
    )
    args = ap.parse_args()
    sizes = QUICK if args.quick else FULL
    url = args.database_url or start_embedded_server(
        Path(tempfile.gettempdir()) / f"trigger-compat-bench-pg-{os.getuid()}"
    )
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as db:
        version = db.execute("show server_version").fetchone()
        print(
            f"PostgreSQL {version[0] if version else '?'}, {os.cpu_count()} CPUs, "
            f"load average before: {load()}",
            flush=True,
        )
        if args.status_rows:
            status_only(url, db, args.status_rows, args.status_schema, args.runs)
            print(f"\ntotal {time.perf_counter() - started:.0f} s; load average after: {load()}")
            return
        if args.queue_gc:
            queue_gc_cost(url, db, args.runs, args.quick)
            print(f"\ntotal {time.perf_counter() - started:.0f} s; load average after: {load()}")
            return
        if args.queues:
            counts = [int(x) for x in args.queue_counts.split(",") if x.strip()]
            queue_curve(url, db, counts, args.calls)
            print(f"\ntotal {time.perf_counter() - started:.0f} s; load average after: {load()}")
            return
        empty = Side(url, "empty")
        big = Side(url, "big")
        try:
            t = time.perf_counter()
            fill(db, big, args.rows)
            print(f"filled {args.rows:,} jobs in {time.perf_counter() - t:.1f} s", flush=True)
            rows = run_workloads(db, empty, big, sizes, args.runs)
            print_table(rows)
            status_rows = time_status(url, db, empty, big, args.runs)
            explain_status(db, big)
            print()
            print("`trigger-compat status` (a subprocess: Python start-up, connect, queries)")
            startup = time_startup(args.runs)
            print(f"  start-up alone (`trigger-compat --version`): {startup:.2f} s")
            for label, cli_s, query_ms in status_rows:
                print(
                    f"  {label:>5}: command {cli_s:.2f} s, of which after start-up "
                    f"{cli_s - startup:.2f} s; its job-count query {query_ms:.0f} ms"
                )
            goal = status_rows[1][1] < 1.0
            print(f"  goal (big table, under 1 s): {'met' if goal else 'missed'}")
        finally:
            for side in (empty, big):
                side.client.close()
                db.execute(sql.SQL("drop schema if exists {} cascade").format(side.ident))
        print(
            f"\ntotal {time.perf_counter() - started:.0f} s; load average after: {load()}",
            flush=True,
        )


def fill(db: psycopg.Connection[Any], big: Side, rows: int) -> None:
    """Fill ``big``'s jobs table with ``rows`` jobs (see FILL), its queues, then vacuum
    analyze; sets ``big.fill_max_id``."""
    db.execute(
        sql.SQL(FILL).format(s=big.ident),
        {"now": datetime.now(UTC), "rows": rows, "queues": QUEUES},
    )
    db.execute(
        sql.SQL(
            "insert into {}.job_queues (queue_name) select 'q' || g "
            "from generate_series(0, %s) g on conflict do nothing"
        ).format(big.ident),
        (QUEUES - 1,),
    )
    db.execute(sql.SQL("vacuum analyze {}.jobs").format(big.ident))
    db.execute(sql.SQL("vacuum analyze {}.job_queues").format(big.ident))
    row = db.execute(sql.SQL("select max(id) from {}.jobs").format(big.ident)).fetchone()
    big.fill_max_id = int(row[0]) if row and row[0] is not None else 0


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run_workloads(
    db: psycopg.Connection[Any], empty: Side, big: Side, sizes: Sizes, runs: int
) -> list[Row]:
    payloads = [{"id": str(uuid.uuid4())} for _ in range(sizes.batched)]

    def single(side: Side) -> Callable[[], None]:
        def go() -> None:
            for p in payloads[: sizes.single]:
                side.client.add_job(TASK, p)

        return go

    def keyed(side: Side) -> Callable[[], None]:
        def go() -> None:
            for i, p in enumerate(payloads[: sizes.single]):
                side.client.add_job(TASK, p, job_key=f"bench:{i}")

        return go

    def queued(side: Side) -> Callable[[], None]:
        def go() -> None:
            for i, p in enumerate(payloads[: sizes.single]):
                side.client.add_job(TASK, p, queue_name=f"bench:{i % 10}")

        return go

    specs = [JobSpec(identifier=TASK, payload=p) for p in payloads]

    def batched(side: Side) -> Callable[[], None]:
        def go() -> None:
            for i in range(0, len(specs), BATCH):
                side.client.add_jobs(specs[i : i + BATCH])

        return go

    def prepare_fetch(side: Side) -> None:
        for i in range(0, sizes.fetched, BATCH):
            side.client.add_jobs(specs[i : min(i + BATCH, sizes.fetched)])
        db.execute(sql.SQL("analyze {}.jobs").format(side.ident))

    def fetch_one(side: Side) -> Callable[[], None]:
        def go() -> None:
            done = 0
            while done < sizes.fetched:
                jobs = side.client.fetch_jobs("bench-worker", 1, task_identifiers=[TASK])
                if not jobs:
                    raise SystemExit(f"{side.label}: ran out of jobs after {done}")
                side.client.complete_jobs([jobs[0].id], worker_id="bench-worker")
                done += 1

        return go

    def fetch_ten(side: Side) -> Callable[[], None]:
        def go() -> None:
            done = 0
            while done < sizes.fetched:
                jobs = side.client.fetch_jobs("bench-worker", 10, task_identifiers=[TASK])
                if not jobs:
                    raise SystemExit(f"{side.label}: ran out of jobs after {done}")
                side.client.complete_jobs([j.id for j in jobs], worker_id="bench-worker")
                done += len(jobs)

        return go

    def fetch_any(side: Side) -> Callable[[], None]:
        # No task filter: on the big table the first run also gets its ready filler jobs.
        def go() -> None:
            done = 0
            while done < sizes.fetched:
                jobs = side.client.fetch_jobs("bench-worker", 1)
                if not jobs:
                    raise SystemExit(f"{side.label}: ran out of jobs after {done}")
                side.client.complete_jobs([jobs[0].id], worker_id="bench-worker")
                done += 1

        return go

    workloads: list[tuple[str, int, Callable[[Side], Callable[[], None]], bool]] = [
        (f"add_job × {sizes.single:,}", sizes.single, single, False),
        (f"add_job + job_key × {sizes.single:,}", sizes.single, keyed, False),
        (f"add_job + queue_name × {sizes.single:,}", sizes.single, queued, False),
        (f"add_jobs {sizes.batched:,} in batches of {BATCH:,}", sizes.batched, batched, False),
        (f"fetch 1 + complete × {sizes.fetched:,}", sizes.fetched, fetch_one, True),
        (f"fetch 10 + complete, {sizes.fetched:,} jobs", sizes.fetched, fetch_ten, True),
        (f"fetch 1 (no task filter) × {sizes.fetched:,}", sizes.fetched, fetch_any, True),
    ]
    out: list[Row] = []
    for name, jobs, make, is_fetch in workloads:
        row = Row(name, jobs, [], [])
        # Warm-up: open connections, cache plans, let psycopg prepare its statements.
        for side in (empty, big):
            side.reset(db)
            if is_fetch:
                prepare_fetch(side)
            for _ in range(2):
                if is_fetch:
                    side.client.complete_jobs(
                        [j.id for j in side.client.fetch_jobs("bench-warm", 5)]
                    )
                else:
                    side.client.add_job(TASK, {"warm": True})
        for run in range(runs):
            order = (empty, big) if run % 2 == 0 else (big, empty)
            for side in order:
                side.reset(db)
                if is_fetch:
                    prepare_fetch(side)
                seconds = timed(make(side))
                (row.empty if side is empty else row.big).append(seconds)
        for side in (empty, big):
            side.reset(db)
        out.append(row)
        r = statistics.median(row.big) / statistics.median(row.empty)
        print(f"  done: {name} ({r:.2f}×)", flush=True)
    return out


def print_table(rows: list[Row]) -> None:
    print()
    headers = ["workload", "empty table", "±%", "1M-row table", "±%", "big/empty", "≤ 2×"]
    cells = []
    for row in rows:
        e, b = statistics.median(row.empty), statistics.median(row.big)
        cells.append(
            [
                row.name,
                f"{row.jobs / e:,.0f} jobs/s",
                f"{spread(row.empty):.0f}",
                f"{row.jobs / b:,.0f} jobs/s",
                f"{spread(row.big):.0f}",
                f"{b / e:.2f}×",
                "met" if b / e <= 2.0 else "missed",
            ]
        )
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for c in cells:
        print("  ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)))


def spread(seconds: list[float]) -> float:
    return 100.0 * (max(seconds) - min(seconds)) / statistics.median(seconds)


def time_status(
    url: str, db: psycopg.Connection[Any], empty: Side, big: Side, runs: int
) -> list[tuple[str, float, float]]:
    out = []
    for side in (empty, big):
        cmd = [str(Path(sys.executable).parent / "trigger-compat"), "status"]
        cmd += ["--database-url", url, "--schema", side.schema]
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        cli_times, query_times = [], []
        query = queries_for(side.schema)["admin_status"]
        for _ in range(runs):
            t = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            cli_times.append(time.perf_counter() - t)
            if done.returncode != 0:
                raise SystemExit(f"status failed: {done.stderr.strip()}")
            t = time.perf_counter()
            db.execute(query).fetchall()
            query_times.append((time.perf_counter() - t) * 1000)
        out.append((side.label, statistics.median(cli_times), statistics.median(query_times)))
    return out


def time_startup(runs: int) -> float:
    cmd = [str(Path(sys.executable).parent / "trigger-compat"), "--version"]
    return statistics.median(
        timed(lambda: subprocess.run(cmd, capture_output=True, check=True)) for _ in range(runs)
    )


def explain_status(db: psycopg.Connection[Any], big: Side) -> None:
    query = queries_for(big.schema)["admin_status"]
    plan = db.execute("explain (analyze, buffers, costs off) " + query).fetchall()
    print("\n-- admin_status on the big table")
    for (line,) in plan:
        print("   " + str(line))


# -- --status-rows: `status` on a big table, estimated and exact ---------------------------


def status_only(
    url: str, db: psycopg.Connection[Any], rows: int, schema: str | None, runs: int
) -> None:
    """Time `trigger-compat status` (estimates above --exact-below) and `status --exact` on a
    table of ``rows`` jobs, and compare their totals per state."""
    side = Side(url, "status", schema)
    try:
        have = db.execute(sql.SQL("select count(*) from {}.jobs").format(side.ident)).fetchone()
        if not have or int(have[0]) == 0:
            t = time.perf_counter()
            fill(db, side, rows)
            print(f"filled {rows:,} jobs in {time.perf_counter() - t:.1f} s", flush=True)
        else:
            print(f"reusing {side.schema}: {int(have[0]):,} jobs", flush=True)
        size = db.execute(
            "select pg_size_pretty(pg_total_relation_size(to_regclass(%s)))",
            (side.ident.as_string(db) + ".jobs",),
        ).fetchone()
        print(f"jobs table with its indexes: {size[0] if size else '?'}")
        startup = time_startup(runs)
        results = {}
        for mode in ("estimated", "exact"):
            cmd = [str(Path(sys.executable).parent / "trigger-compat"), "status", "--json"]
            cmd += ["--database-url", url, "--schema", side.schema]
            if mode == "exact":
                cmd.append("--exact")
            env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
            times = []
            out = ""
            for _ in range(runs):
                t = time.perf_counter()
                done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
                times.append(time.perf_counter() - t)
                if done.returncode != 0:
                    raise SystemExit(f"status failed: {done.stderr.strip()}")
                out = done.stdout
            results[mode] = (statistics.median(times), json.loads(out))
        est, exact = results["estimated"][1], results["exact"][1]
        # The queries alone, in this process (no start-up, no connecting).
        q = queries_for(side.schema)
        query_ms: dict[str, list[float]] = {"estimated": [], "exact": []}
        for _ in range(runs):
            t = time.perf_counter()
            size = db.execute(q["admin_status_size"], {"schema_name": side.schema}).fetchone()
            rows_est = int(size[0]) if size else 0
            params = {
                "rows": rows_est,
                "percent": ao.sample_percent(rows_est, SAMPLE_ROWS),
                "failed_cap": FAILED_EXACT_CAP,
            }
            db.execute(q["admin_status_estimated"], params).fetchall()
            query_ms["estimated"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            db.execute(q["admin_status"]).fetchall()
            query_ms["exact"].append((time.perf_counter() - t) * 1000)
        print(
            f"\n`trigger-compat status` on {rows:,} jobs (median of {runs}; start-up alone "
            f"{startup:.2f} s)"
        )
        headers = ["figure", "status", "status --exact", "estimated/exact", "exact in status?"]
        cells = [
            [
                "command time",
                f"{results['estimated'][0]:.2f} s",
                f"{results['exact'][0]:.2f} s",
                "",
                "",
            ]
        ]
        cells.append(
            [
                "its job-count queries",
                f"{statistics.median(query_ms['estimated']):.0f} ms",
                f"{statistics.median(query_ms['exact']):.0f} ms",
                "",
                "",
            ]
        )
        for state in (*JOB_STATES_BENCH, "total"):
            e, x = est["totals"][state], exact["totals"][state]
            ratio = f"{e / x:.3f}" if x else ("1.000" if e == 0 else "inf")
            label = "estimate" if state in est["estimated"] else "exact"
            cells.append([state, f"{e:,}", f"{x:,}", ratio, label])
        print_cells(headers, cells)
        print(
            f"  sample: {est['sample_percent']}% of pages; planner's rows: {est['rows_estimate']:,}"
        )
        goal = results["estimated"][0] < 1.0
        print(f"  goal (status under 1 s on {rows:,} jobs): {'met' if goal else 'missed'}")
    finally:
        side.client.close()
        if schema is None:
            db.execute(sql.SQL("drop schema if exists {} cascade").format(side.ident))


JOB_STATES_BENCH = ("waiting", "scheduled", "running", "retrying", "failed")


# -- --queues: fetch cost against the number of named queues ----------------------------

QUEUE_COUNTS = (10, 100, 1_000, 10_000, 100_000)

# n due queues, each with `per` jobs ready now (run_at in the past, in queue order).
FILL_DUE = """
insert into {s}.jobs (task_identifier, queue_name, payload, run_at)
select %(task)s, 'delivery:' || (g %% %(n)s), '{{}}'::jsonb,
       %(now)s - make_interval(secs => 3600) + make_interval(secs => g %% %(n)s)
  from generate_series(0, %(n)s * %(per)s - 1) as g
"""
QUEUE_ROWS = """
insert into {s}.job_queues (queue_name)
select 'delivery:' || g from generate_series(0, %(n)s - 1) as g on conflict do nothing
"""


def queue_curve(url: str, db: psycopg.Connection[Any], counts: list[int], calls: int) -> None:
    """For each number of named queues, fetch 1 (+ complete) ``calls`` times with every queue
    due, and with all but 10 of them empty (a job_queues row, no job); beside it a raw-SQL
    floor: lock and delete one ready job by its primary key."""
    side = Side(url, "queues")
    try:
        print(
            "\nfetch_jobs(max_jobs=1) + complete_jobs, per call (median of "
            f"{calls} calls), by number of named queues"
        )
        headers = [
            "queues",
            "all due: fetch",
            "p90",
            "10 due + empty rows: fetch",
            "p90",
            "raw SQL floor",
        ]
        cells: list[list[str]] = []
        for n in counts:
            row = [f"{n:,}"]
            for scenario in ("due", "empty"):
                db.execute(sql.SQL("truncate {}.jobs").format(side.ident))
                db.execute(sql.SQL("delete from {}.job_queues").format(side.ident))
                due = n if scenario == "due" else 10
                per = max(1, -(-calls // due)) + 1
                db.execute(
                    sql.SQL(FILL_DUE).format(s=side.ident),
                    {"task": TASK, "n": due, "per": per, "now": datetime.now(UTC)},
                )
                db.execute(sql.SQL(QUEUE_ROWS).format(s=side.ident), {"n": n})
                db.execute(sql.SQL("vacuum analyze {}.jobs").format(side.ident))
                db.execute(sql.SQL("vacuum analyze {}.job_queues").format(side.ident))
                times = []
                for _ in range(calls + 3):
                    t = time.perf_counter()
                    jobs = side.client.fetch_jobs("bench-worker", 1, task_identifiers=[TASK])
                    if not jobs:
                        raise SystemExit(f"{n} queues ({scenario}): no job to fetch")
                    side.client.complete_jobs([jobs[0].id], worker_id="bench-worker")
                    times.append((time.perf_counter() - t) * 1000)
                times = sorted(times[3:])
                row += [f"{statistics.median(times):.2f} ms", f"{times[len(times) * 9 // 10]:.2f}"]
            floor = []
            for _ in range(min(calls, 50)):
                t = time.perf_counter()
                db.execute(
                    sql.SQL(
                        "delete from {s}.jobs where id = (select id from {s}.jobs "
                        "where is_available order by id limit 1 for update skip locked)"
                    ).format(s=side.ident)
                )
                floor.append((time.perf_counter() - t) * 1000)
            row.append(f"{statistics.median(floor):.2f} ms")
            cells.append(row)
            print(f"  done: {n:,} queues", flush=True)
        print_cells(headers, cells)
    finally:
        side.client.close()
        db.execute(sql.SQL("drop schema if exists {} cascade").format(side.ident))


def print_cells(headers: list[str], cells: list[list[str]]) -> None:
    print()
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for c in cells:
        print("  ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)))


# -- --queue-gc: what collecting empty queue rows costs adds ----------------------------

FK = (
    "alter table {s}.jobs add foreign key (queue_name) references {s}.job_queues on delete restrict"
)


def queue_gc_cost(url: str, db: psycopg.Connection[Any], runs: int, quick: bool) -> None:
    """add_job (one new queue per job, as one queue per delivery) and add_jobs (batches of
    1,000 jobs in 1,000 new queues): with nothing else running, with collect_job_queues
    looping beside them (50,000 empty queue rows to delete, 1,000 a call), and, for
    comparison, with a foreign key from jobs to job_queues instead (ON DELETE RESTRICT, the
    database's own guard)."""
    single = 500 if quick else 2_000
    batched = 5_000 if quick else 20_000
    sides = {name: Side(url, f"gc_{name}") for name in ("plain", "collecting", "fk")}
    db.execute(sql.SQL(FK).format(s=sides["fk"].ident))
    stop = threading.Event()
    collected = [0, 0]  # rows deleted, calls

    def collector() -> None:
        c = sides["collecting"].client
        while not stop.is_set():
            n = c.execute(cron_ops.collect_job_queues(1_000))
            collected[0] += max(n, 0)
            collected[1] += 1

    def refill(side: Side) -> None:
        db.execute(sql.SQL("truncate {}.jobs, {}.job_queues").format(side.ident, side.ident))
        if side is sides["collecting"]:
            db.execute(
                sql.SQL(
                    "insert into {}.job_queues (queue_name) "
                    "select 'empty:' || g from generate_series(1, 50000) g"
                ).format(side.ident)
            )
        db.execute(sql.SQL("vacuum analyze {}.job_queues").format(side.ident))

    def add_single(side: Side, run: int) -> float:
        c = Client(url, schema=side.schema, pool_size=1)
        try:
            c.add_job(TASK, {"warm": True}, queue_name="warm")
            t = time.perf_counter()
            for i in range(single):
                c.add_job(TASK, {"i": i}, queue_name=f"delivery:{run}:{i}")
            return time.perf_counter() - t
        finally:
            c.close()

    def add_batches(side: Side, run: int) -> float:
        c = Client(url, schema=side.schema, pool_size=1)
        try:
            t = time.perf_counter()
            for b in range(0, batched, BATCH):
                c.add_jobs(
                    [
                        JobSpec(identifier=TASK, payload={"i": i}, queue_name=f"d:{run}:{i}")
                        for i in range(b, b + BATCH)
                    ]
                )
            return time.perf_counter() - t
        finally:
            c.close()

    results: dict[tuple[str, str], list[float]] = {}
    try:
        for workload, fn, jobs in (
            (f"add_job, new queue each × {single:,}", add_single, single),
            (f"add_jobs {batched:,}, batches of {BATCH:,}, new queues", add_batches, batched),
        ):
            for run in range(runs):
                order = list(sides) if run % 2 == 0 else list(reversed(list(sides)))
                for name in order:
                    side = sides[name]
                    refill(side)
                    if name == "collecting":
                        stop.clear()
                        thread = threading.Thread(target=collector)
                        thread.start()
                    try:
                        seconds = fn(side, run)
                    finally:
                        stop.set()
                        if name == "collecting":
                            thread.join()
                    results.setdefault((workload, name), []).append(jobs / seconds)
            print(f"  done: {workload}", flush=True)
        headers = ["workload", "plain", "GC looping beside", "ratio", "FK instead", "ratio"]
        cells = []
        for workload in dict.fromkeys(w for w, _ in results):
            p, g, f = (statistics.median(results[(workload, n)]) for n in sides)
            cells.append(
                [workload, f"{p:,.0f} jobs/s", f"{g:,.0f} jobs/s", f"{g / p:.2f}×",
                 f"{f:,.0f} jobs/s", f"{f / p:.2f}×"]
            )  # fmt: skip
        print_cells(headers, cells)
        print(f"  the collector deleted {collected[0]:,} rows in {collected[1]:,} calls")
    finally:
        for side in sides.values():
            side.client.close()
            db.execute(sql.SQL("drop schema if exists {} cascade").format(side.ident))


if __name__ == "__main__":
    main()
