"""Soak: steady enqueue with worker processes draining, minute by minute.

    python bench/soak.py [--database-url URL] [--minutes 10] [--rate 1000] [--processes 4]
                         [--chart soak.png]

Uses ``--database-url``, else ``DATABASE_URL``, else the embedded PostgreSQL. Makes a fresh
schema, starts ``--processes`` trigger-compat workers (concurrency 10 each, started as
bench/worker.py starts them: ``python bench/worker.py --child worker …``), then adds jobs at
``--rate`` jobs/s for ``--minutes`` minutes (one ``add_jobs`` call every 20 ms, on a fixed
schedule), then lets the workers finish. Per minute it prints the jobs added and done per
second, the pickup latency (from the return of the ``add_jobs`` call that added the job to
its handler's start: p50, p99), the jobs waiting at the end of the minute, and the jobs
table's live and dead tuples (``pg_stat_user_tables``), total size
(``pg_total_relation_size``) and autovacuum runs; then the drift of the last minutes from
the first ones (goal: within 10 %). See bench/README.md.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
import worker as tc_worker
from enqueue import database, load

from trigger_compat import Client, JobSpec

TICK = 0.02  # seconds between two add_jobs calls
DRIFT_LIMIT = 10.0  # percent
DRAIN_TIMEOUT = 300.0  # seconds to wait for the backlog once the enqueue stops


@dataclass
class Sample:
    """The jobs table at the end of a minute."""

    backlog: int
    live: int
    dead: int
    size: int
    autovacuums: int


@dataclass
class Minute:
    index: int
    added: int = 0
    done: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds
    sample: Sample | None = None

    def pct(self, p: float) -> float:
        values = sorted(self.latencies)
        return tc_worker.pct(values, p) if values else math.nan


def sample(conn: psycopg.Connection[Any], schema: str) -> Sample:
    conn.execute("select pg_stat_clear_snapshot()")
    row = conn.execute(
        sql.SQL(
            "select (select count(*) from {jobs}), s.n_live_tup, s.n_dead_tup,"
            " pg_total_relation_size(s.relid), s.autovacuum_count"
            " from pg_stat_user_tables s where s.schemaname = %s and s.relname = 'jobs'"
        ).format(jobs=sql.Identifier(schema, "jobs")),
        [schema],
    ).fetchone()
    assert row is not None
    return Sample(*(int(v) for v in row))


def soak(
    url: str, minutes: int, rate: float, processes: int
) -> tuple[list[Minute], dict[str, Any]]:
    schema = tc_worker.fresh_schema(url)
    per_tick = max(1, round(rate * TICK))
    interval = per_tick / rate  # seconds between calls, so that the rate is exact
    committed: dict[int, float] = {}
    minute_rows = [Minute(i + 1) for i in range(minutes)]
    procs = [tc_worker.spawn("worker", url, schema, "10", "latency") for _ in range(processes)]
    info: dict[str, Any] = {"schema": schema, "per_call": per_tick, "late_calls": 0}
    try:
        with (
            Client(url, schema=schema, pool_size=1) as client,
            psycopg.connect(url, autocommit=True) as conn,
        ):
            client.add_jobs([JobSpec(identifier="noop") for _ in range(per_tick)])  # warm-up
            specs = [JobSpec(identifier="noop", payload={"soak": True}) for _ in range(per_tick)]
            start = time.perf_counter()
            wall_start = time.time()
            info["wall_start"] = wall_start
            calls = 0
            next_sample = 1
            end = start + minutes * 60
            while True:
                due = start + calls * interval
                now = time.perf_counter()
                if next_sample <= minutes and now >= start + next_sample * 60:
                    minute_rows[next_sample - 1].sample = sample(conn, schema)
                    print(f"  minute {next_sample} done", file=sys.stderr, flush=True)
                    next_sample += 1
                    continue
                if due >= end or now >= end:
                    break  # the enqueue stops on time, even when behind its schedule
                if due > now:
                    time.sleep(due - now)  # the schedule of the steady rate
                elif now - due > interval:
                    info["late_calls"] += 1
                jobs = client.add_jobs(specs)
                stamp = time.time()
                minute = min(minutes - 1, int((stamp - wall_start) // 60))
                minute_rows[minute].added += len(jobs)
                for job in jobs:
                    committed[job.id] = stamp
                calls += 1
            info["calls"] = calls
            while next_sample <= minutes:
                minute_rows[next_sample - 1].sample = sample(conn, schema)
                next_sample += 1
            # Let the workers finish the backlog (bounded).
            last = max(committed)
            deadline = time.perf_counter() + DRAIN_TIMEOUT
            while client.get_job(last) is not None or sample(conn, schema).backlog > 0:
                if time.perf_counter() > deadline:
                    info["unfinished"] = sample(conn, schema).backlog
                    break
                time.sleep(0.25)  # measurement poll: until the backlog is done
            info["drain_after_enqueue"] = max(0.0, time.time() - wall_start - minutes * 60)
            info["final"] = sample(conn, schema)
    finally:
        starts: dict[int, float] = {}
        for proc in procs:
            starts.update({int(k): v for k, v in tc_worker.finish(proc)["starts"].items()})
        drop(url, schema)
    tail = 0
    for job_id, added_at in committed.items():
        began = starts.get(job_id)
        if began is None:
            continue
        minute = int((added_at - wall_start) // 60)
        minute_rows[min(minutes - 1, minute)].latencies.append(began - added_at)
        done_minute = int((began - wall_start) // 60)
        if done_minute < minutes:
            minute_rows[done_minute].done += 1
        else:
            tail += 1
    info["done_after_enqueue"] = tail
    info["missing"] = len(committed) - sum(1 for i in committed if i in starts)
    info["added"] = len(committed)
    return minute_rows, info


def drop(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))


def render(rows: Sequence[Minute]) -> str:
    lines = [
        "| minute | added/s | done/s | pickup p50 ms | pickup p99 ms | waiting | live tuples "
        "| dead tuples | table size MB | autovacuums |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in rows:
        s = m.sample
        lines.append(
            f"| {m.index} | {m.added / 60:,.0f} | {m.done / 60:,.0f} | {m.pct(0.5):.1f} | "
            f"{m.pct(0.99):.1f} | "
            + (
                f"{s.backlog:,} | {s.live:,} | {s.dead:,} | {s.size / 2**20:.1f} | {s.autovacuums}"
                if s
                else "— | — | — | — | —"
            )
            + " |"
        )
    return "\n".join(lines)


def drift(rows: Sequence[Minute]) -> list[str]:
    """The last minutes against the first ones (each a fifth of the run, at least one)."""
    k = max(1, len(rows) // 5)
    first, last = rows[:k], rows[-k:]

    def mean(values: list[float]) -> float:
        return statistics.fmean(values) if values else math.nan

    metrics: list[tuple[str, list[float], list[float]]] = [
        ("done/s", [m.done / 60 for m in first], [m.done / 60 for m in last]),
        ("pickup p50", [m.pct(0.5) for m in first], [m.pct(0.5) for m in last]),
        ("pickup p99", [m.pct(0.99) for m in first], [m.pct(0.99) for m in last]),
        (
            "dead tuples",
            [m.sample.dead for m in first if m.sample],
            [m.sample.dead for m in last if m.sample],
        ),
        (
            "table size (MB)",
            [m.sample.size / 2**20 for m in first if m.sample],
            [m.sample.size / 2**20 for m in last if m.sample],
        ),
    ]
    out = [f"drift: the last {k} minute(s) against the first {k} (goal: within {DRIFT_LIMIT:g} %)"]
    for name, a, b in metrics:
        before, after = mean(a), mean(b)
        if not before or math.isnan(before) or math.isnan(after):
            out.append(f"  {name}: {before:,.1f} → {after:,.1f} (no ratio)")
            continue
        change = 100 * (after - before) / before
        worse = change < 0 if name == "done/s" else change > 0
        verdict = (
            "within" if abs(change) <= DRIFT_LIMIT else f"OUTSIDE, {'worse' if worse else 'better'}"
        )
        out.append(f"  {name}: {before:,.1f} → {after:,.1f} ({change:+.1f} %, {verdict})")
    return out


def chart(rows: Sequence[Minute], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: no chart ({path})", file=sys.stderr)
        return
    x = [m.index for m in rows]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
    axes[0][0].plot(x, [m.added / 60 for m in rows], label="added/s")
    axes[0][0].plot(x, [m.done / 60 for m in rows], label="done/s")
    axes[0][0].set_title("throughput (jobs/s)")
    axes[0][0].legend()
    axes[0][1].plot(x, [m.pct(0.5) for m in rows], label="p50")
    axes[0][1].plot(x, [m.pct(0.99) for m in rows], label="p99")
    axes[0][1].set_title("pickup latency (ms)")
    axes[0][1].legend()
    axes[1][0].plot(x, [m.sample.dead if m.sample else math.nan for m in rows])
    axes[1][0].set_title("dead tuples (jobs)")
    axes[1][1].plot(x, [m.sample.size / 2**20 if m.sample else math.nan for m in rows])
    axes[1][1].set_title("jobs table size (MB)")
    for ax in axes[1]:
        ax.set_xlabel("minute")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"chart written to {path}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL URL (default: $DATABASE_URL)")
    parser.add_argument("--minutes", type=int, default=10, help="minutes of enqueue (10)")
    parser.add_argument("--rate", type=float, default=1000, help="jobs added per second (1000)")
    parser.add_argument("--processes", type=int, default=4, help="worker processes (4)")
    parser.add_argument("--chart", metavar="PNG", help="also draw the figures (needs matplotlib)")
    args = parser.parse_args(argv)
    if args.minutes < 1 or args.rate <= 0 or args.processes < 1:
        parser.error("--minutes, --rate and --processes must be positive")
    with database(args.database_url) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "select version(), current_setting('autovacuum'),"
                " current_setting('autovacuum_naptime'),"
                " current_setting('autovacuum_vacuum_scale_factor'),"
                " current_setting('autovacuum_vacuum_threshold')"
            ).fetchone()
        assert row is not None
        if row[1] != "on":
            print(
                "WARNING: autovacuum is off on this server: dead tuples are only collected "
                "by the workers' own deletes and HOT pruning; run the soak on a server with "
                "autovacuum on to see it at work.",
                file=sys.stderr,
            )
        print(
            f"{row[0]}\nautovacuum={row[1]} naptime={row[2]} "
            f"vacuum_scale_factor={row[3]} vacuum_threshold={row[4]}\n"
            f"{args.minutes} min at {args.rate:,.0f} jobs/s, {args.processes} worker processes "
            f"× concurrency 10; {os.cpu_count()} CPUs, load average before: {load()}",
            flush=True,
        )
        rows, info = soak(url, args.minutes, args.rate, args.processes)
        print()
        print(render(rows))
        final: Sample = info["final"]
        print(
            f"\n{info['added']:,} jobs added ({info['per_call']} per add_jobs call; "
            f"{info['late_calls']:,} of {info['calls']:,} calls more than one interval behind "
            f"schedule); {info['done_after_enqueue']:,} "
            f"started after the enqueue stopped, the table was empty "
            f"{info['drain_after_enqueue']:.1f} s after it; "
            f"{info['missing']:,} never started"
            + (
                f" ({info['unfinished']:,} still waiting at the timeout)"
                if "unfinished" in info
                else ""
            )
            + f". At the end: {final.dead:,} dead tuples, {final.size / 2**20:.1f} MB."
        )
        print("\n".join(drift(rows)))
        print(f"load average after: {load()}", flush=True)
        if args.chart:
            chart(rows, args.chart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
