"""The at-least-once window: the time from a handler's return to the commit of its outcome.

    python bench/outcome_window.py [--database-url URL] [--jobs 20000] [--rate 500]
                                   [--seconds 60] [--processes 4]

A job runs twice only when its worker dies after the handler returned and before the batched
outcome was committed (or mid-run); this measures that window, as each worker measures it
(``WorkerStats.outcome_lags``: handler return → commit of the statement that wrote the
outcome), in the two regimes of the worker:

* drain: ``--jobs`` ready no-op jobs released at once to ``--processes`` workers × concurrency
  10 (outcomes ride on the next fetch); also the drain rate, beside the raw-SQL consumer of
  bench/worker.py W3 measured in the same run (the throughput the batching must keep);
* steady: ``--rate`` jobs/s added for ``--seconds`` to the same workers (outcomes written as
  they come, between fetches).

Prints p50 / p90 / p99 / max of the window in milliseconds, and the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import psycopg
import worker as tc_worker
from enqueue import database, load
from psycopg import sql

from trigger_compat import Client, JobSpec
from trigger_compat.core.sqlfiles import notify_channel


def lags_of(procs: Sequence[object]) -> list[float]:
    lags: list[float] = []
    for proc in procs:
        lags.extend(tc_worker.finish(proc)["outcome_lags"])  # type: ignore[arg-type]
    return sorted(lags)


def window(lags: Sequence[float]) -> str:
    if not lags:
        return "no sample"
    p = tc_worker.pct
    return (
        f"p50 {p(lags, 0.5):.1f} ms, p90 {p(lags, 0.9):.1f} ms, p99 {p(lags, 0.99):.1f} ms, "
        f"max {lags[-1] * 1000:.1f} ms ({len(lags):,} samples)"
    )


def drain(url: str, jobs: int, processes: int) -> tuple[float, float, list[float]]:
    """Jobs/s of the workers and of the raw consumer, and the workers' windows."""
    rates = {}
    lags: list[float] = []
    for raw in (False, True):
        schema = tc_worker.fresh_schema(url)
        ids = tc_worker.add_ready(url, schema, jobs)
        procs = [
            tc_worker.spawn("raw", url, schema)
            if raw
            else tc_worker.spawn("worker", url, schema, "10", "drain")
            for _ in range(processes)
        ]
        with psycopg.connect(url, autocommit=True) as conn:
            start = time.perf_counter()
            conn.execute(
                sql.SQL("update {}.jobs set run_at = now() where id between %s and %s").format(
                    sql.Identifier(schema)
                ),
                list(ids),
            )
            conn.execute("select pg_notify(%s, %s)", [notify_channel(schema), str(jobs)])
            for p in procs:
                if raw:
                    assert p.stdin is not None
                    p.stdin.write("go\n")
                    p.stdin.flush()
            while tc_worker.any_left(conn, schema, ids):
                if raw and all(p.poll() is not None for p in procs):
                    break
                time.sleep(0.01)  # measurement poll; the workers run in other processes
            elapsed = time.perf_counter() - start
        if raw:
            for p in procs:
                tc_worker.finish(p)
        else:
            lags = lags_of(procs)
        rates[raw] = jobs / elapsed
        tc_worker.drop(url, schema)
    return rates[False], rates[True], lags


def steady(url: str, rate: float, seconds: float, processes: int) -> list[float]:
    schema = tc_worker.fresh_schema(url)
    procs = [tc_worker.spawn("worker", url, schema, "10", "drain") for _ in range(processes)]
    per_call = max(1, round(rate * 0.02))
    interval = per_call / rate
    try:
        with Client(url, schema=schema, pool_size=1) as client:
            specs = [JobSpec(identifier="noop") for _ in range(per_call)]
            start = time.perf_counter()
            calls = 0
            while time.perf_counter() < start + seconds:
                due = start + calls * interval
                now = time.perf_counter()
                if due > now:
                    time.sleep(due - now)  # the schedule of the steady rate
                client.add_jobs(specs)
                calls += 1
            with psycopg.connect(url, autocommit=True) as conn:
                deadline = time.perf_counter() + 120
                while tc_worker.any_left(conn, schema, (0, 2**62)):
                    if time.perf_counter() > deadline:
                        break
                    time.sleep(0.05)  # measurement poll: until the last job is done
    finally:
        lags = lags_of(procs)
        tc_worker.drop(url, schema)
    return lags


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL URL (default: $DATABASE_URL)")
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs of the drain (20,000)")
    parser.add_argument("--rate", type=float, default=500, help="steady jobs/s (500)")
    parser.add_argument("--seconds", type=float, default=60, help="steady seconds (60)")
    parser.add_argument("--processes", type=int, default=4, help="worker processes (4)")
    args = parser.parse_args(argv)
    with database(args.database_url) as url:
        print(
            f"{os.cpu_count()} CPUs, load average before: {load()}; "
            f"{args.processes} worker processes × concurrency 10",
            flush=True,
        )
        worker_rate, raw_rate, lags = drain(url, args.jobs, args.processes)
        print(
            f"drain {args.jobs:,}: {worker_rate:,.0f} jobs/s (raw-SQL consumer, same run: "
            f"{raw_rate:,.0f} jobs/s, ratio {worker_rate / raw_rate:.2f}); window {window(lags)}",
            flush=True,
        )
        lags = steady(url, args.rate, args.seconds, args.processes)
        print(f"steady {args.rate:,.0f} jobs/s for {args.seconds:g} s: window {window(lags)}")
        print(f"load average after: {load()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
