"""Worker benchmarks: drain throughput, pickup latency, idle cost and the incident regime.

    python bench/worker.py [--database-url URL] [--quick] [--only W3,W4,W5,W6]

W3  drain 20,000 no-op jobs with 1 process and with 4 processes × concurrency 10;
    baseline: the same processes running a raw-SQL consumer (lock 10 ready rows with
    FOR UPDATE SKIP LOCKED and delete them, in one statement, until none is left).
W4  pickup latency (enqueue commit → handler start) of jobs added at 50/s to an idle worker
    (LISTEN/NOTIFY); baseline: a raw NOTIFY → LISTEN round trip between two processes.
W5  one idle worker for 30 s: resident memory, CPU and statements per second.
W6  W3's 4-process drain of 50,000 ready jobs while the table also holds 100,000 future jobs,
    50,000 permanently failed jobs and two named queues of 10,000 jobs each behind a running
    job (graphile-worker's "vicious cycle" regime); reported beside W3.

Workers run in child processes (``python bench/worker.py --child …``); the parent starts them,
releases the jobs at once and times until the table holds no ready job.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from enqueue import database

from trigger_compat import AsyncClient, Client, Job, JobSpec
from trigger_compat.core import worker_ops
from trigger_compat.core.sqlfiles import notify_channel
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions

FAR = datetime(2100, 1, 1, tzinfo=UTC)


# -- child processes -----------------------------------------------------------------------


async def _noop(payload: Any, job: Job) -> None:
    return None


async def child_worker(url: str, schema: str, concurrency: int, mode: str) -> None:
    """Run a worker until stdin closes; print JSON stats on exit."""
    starts: dict[int, float] = {}

    async def timed(payload: Any, job: Job) -> None:
        starts[job.id] = time.time()

    handler = timed if mode == "latency" else _noop
    client = AsyncClient(url, schema=schema, pool_size=3)
    worker = Worker(
        client,
        {"noop": Task("noop", handler)},
        options=WorkerOptions(concurrency=concurrency, poll_interval=1.0),
    )
    await worker.start()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # the parent closes stdin to stop us
    await worker.stop()
    await client.close()
    lags = list(worker.stats.outcome_lags)  # handler return -> outcome commit (s)
    print(
        json.dumps({"starts": starts, "fetches": worker.stats.fetches, "outcome_lags": lags}),
        flush=True,
    )


def child_raw(url: str, schema: str) -> None:
    """The raw-SQL consumer: lock up to 10 ready rows and delete them, until none is left."""
    query = sql.SQL(
        "with c as (select id from {}.jobs where is_available and run_at <= now() "
        "order by priority, run_at, id limit 10 for update skip locked) "
        "delete from {}.jobs j using c where j.id = c.id"
    ).format(sql.Identifier(schema), sql.Identifier(schema))
    with psycopg.connect(url, autocommit=True) as conn:
        print("ready", flush=True)
        sys.stdin.readline()
        empty = 0
        while empty < 3:
            cur = conn.execute(query)
            empty = empty + 1 if cur.rowcount == 0 else 0


def child_listen(url: str, channel: str) -> None:
    """Baseline of W4: print the delay of every notification carrying a send time."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("listen {}").format(sql.Identifier(channel)))
        print("ready", flush=True)
        delays = []
        for note in conn.notifies():
            if note.payload == "stop":
                break
            delays.append(time.time() - float(note.payload))
        print(json.dumps({"latencies": delays}), flush=True)


# -- parent ------------------------------------------------------------------------------


def spawn(*args: str) -> subprocess.Popen[str]:
    return spawn_command([sys.executable, __file__, "--child", *args])


def spawn_command(cmd: Sequence[str], cwd: str | None = None) -> subprocess.Popen[str]:
    """Start a consumer process and wait for its "ready" line (it then runs until its
    standard input closes, and prints its JSON stats last)."""
    proc = subprocess.Popen(
        list(cmd), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=cwd
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "ready":
        proc.kill()
        raise RuntimeError(f"child {list(cmd)} did not start: {line!r}")
    return proc


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    out = proc.stdout.read().strip().splitlines()
    proc.wait(timeout=120)
    return json.loads(out[-1]) if out else {}


def fresh_schema(url: str) -> str:
    schema = f"bench_w_{uuid.uuid4().hex[:8]}"
    Client(url, schema=schema).migrate()
    return schema


def drop(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(schema)))


def add_ready(url: str, schema: str, count: int, run_at: datetime = FAR) -> tuple[int, int]:
    """Add ``count`` parked jobs; returns the lowest and highest of their ids."""
    ids: list[int] = []
    with Client(url, schema=schema) as client:
        for start in range(0, count, 5000):
            n = min(5000, count - start)
            specs = [
                JobSpec(identifier="noop", payload={"i": start + i}, run_at=run_at)
                for i in range(n)
            ]
            ids.extend(job.id for job in client.add_jobs(specs))
    return min(ids), max(ids)


def any_left(conn: psycopg.Connection[Any], schema: str, ids: tuple[int, int]) -> bool:
    """Whether a job of the id range is still there (not yet completed). A primary-key range
    probe: cheap, so that the measurement poll takes no CPU from the workers measured."""
    row = conn.execute(
        sql.SQL("select exists (select from {}.jobs where id between %s and %s)").format(
            sql.Identifier(schema)
        ),
        list(ids),
    ).fetchone()
    assert row is not None
    return bool(row[0])


def drain(
    url: str, schema: str, jobs: int, ids: tuple[int, int], processes: int, raw: bool
) -> float:
    """Start the consumers, release ``jobs`` parked jobs at once, time until all are done."""
    procs = [
        spawn("raw", url, schema) if raw else spawn("worker", url, schema, "10", "drain")
        for _ in range(processes)
    ]
    ident = sql.Identifier(schema)

    def release(conn: psycopg.Connection[Any]) -> None:
        conn.execute(
            sql.SQL("update {}.jobs set run_at = now() where id between %s and %s").format(ident),
            list(ids),
        )
        conn.execute("select pg_notify(%s, %s)", [notify_channel(schema), str(jobs)])

    return time_drain(url, procs, release, lambda conn: any_left(conn, schema, ids), go=raw)


def time_drain(
    url: str,
    procs: Sequence[subprocess.Popen[str]],
    release: Callable[[psycopg.Connection[Any]], None],
    left: Callable[[psycopg.Connection[Any]], bool],
    go: bool = False,
) -> float:
    """Release the parked jobs (``release``), time until ``left`` says none is left, then
    stop the consumers. ``go``: also tell each consumer to start (the raw consumers)."""
    with psycopg.connect(url, autocommit=True) as conn:
        start = time.perf_counter()
        release(conn)
        if go:
            for p in procs:
                assert p.stdin is not None
                p.stdin.write("go\n")
                p.stdin.flush()
        while left(conn):
            if go and all(p.poll() is not None for p in procs):
                break
            time.sleep(0.01)  # measurement poll; the workers run in other processes
        elapsed = time.perf_counter() - start
    for p in procs:
        finish(p)
    return elapsed


def w3(url: str, jobs: int) -> list[tuple[str, float, float]]:
    rows = []
    for processes in (1, 4):
        results = {}
        for raw in (False, True):
            schema = fresh_schema(url)
            ids = add_ready(url, schema, jobs)
            results[raw] = jobs / drain(url, schema, jobs, ids, processes, raw)
            drop(url, schema)
        rows.append((f"W3 drain {jobs:,}, {processes} proc × 10", results[False], results[True]))
    return rows


def w6(url: str, jobs: int) -> tuple[str, float, float]:
    schema = fresh_schema(url)
    with Client(url, schema=schema) as client:
        future = datetime.now(UTC) + timedelta(days=30)
        for _ in range(0, jobs * 2, 5000):
            client.add_jobs([JobSpec(identifier="noop", run_at=future) for _ in range(5000)])
        failed = client.add_jobs(
            [JobSpec(identifier="noop", max_attempts=1, run_at=future) for _ in range(jobs)]
        )
        # attempts = max_attempts: permanently failed, as a job whose last attempt failed.
        client.reschedule_jobs([job.id for job in failed], attempts=1, run_at=datetime.now(UTC))
        for queue in ("incident-a", "incident-b"):
            client.add_jobs(
                [JobSpec(identifier="noop", queue_name=queue) for _ in range(jobs // 5)]
            )
        # One running job at the head of each queue, held by a live worker: its heartbeat is
        # dated an hour ahead so that no rescue releases the heads during the drain.
        client.execute(worker_ops.heartbeat("bench-holder", "bench", "bench", 0, ["noop"]))
        held = client.fetch_jobs("bench-holder", 2)
        assert {j.queue_name for j in held} == {"incident-a", "incident-b"}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "update {}.workers set last_heartbeat_at = now() + interval '1 hour'"
                " where worker_id = 'bench-holder'"
            ).format(sql.Identifier(schema))
        )
    ids = add_ready(url, schema, jobs)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("analyze {}.jobs").format(sql.Identifier(schema)))
    rate = jobs / drain(url, schema, jobs, ids, 4, raw=False)
    drop(url, schema)
    return (f"W6 incident: drain {jobs:,} among {jobs * 5:,} others, 4 proc × 10", rate, 0.0)


def pct(values: Sequence[float], p: float) -> float:
    """The ``p`` quantile of sorted ``values`` (seconds), in milliseconds."""
    return values[min(len(values) - 1, int(p * len(values)))] * 1000


def pickup(url: str, count: int, rate: float = 50) -> tuple[list[float], list[float]]:
    """Pickup latencies (s, sorted) of ``count`` jobs added at ``rate``/s to an idle worker:
    from the return of ``add_job`` (its commit done), and from the ``add_job`` call."""
    schema = fresh_schema(url)
    proc = spawn("worker", url, schema, "10", "latency")
    called: dict[int, float] = {}  # job id -> when add_job was called
    committed: dict[int, float] = {}  # job id -> when add_job returned (its commit done)
    with Client(url, schema=schema) as client:
        client.add_job("noop", {})  # warm-up
        for _ in range(count):
            before = time.time()
            job = client.add_job("noop", {})
            committed[job.id] = time.time()
            called[job.id] = before
            time.sleep(1 / rate)  # the enqueue rate of the workload
        while client.get_job(max(committed)) is not None:
            time.sleep(0.01)  # measurement poll: until the last job has run
    starts = {int(k): v for k, v in finish(proc)["starts"].items()}
    drop(url, schema)
    ours = sorted(starts[i] - committed[i] for i in committed)
    with_add = sorted(starts[i] - called[i] for i in called)
    return ours, with_add


def w4(url: str, count: int) -> list[tuple[str, float, float, float]]:
    ours, with_add = pickup(url, count)
    channel = f"bench_{uuid.uuid4().hex[:8]}"
    listener = spawn("listen", url, channel)
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(count):
            conn.execute("select pg_notify(%s, %s)", [channel, repr(time.time())])
            time.sleep(1 / 50)
        conn.execute("select pg_notify(%s, 'stop')", [channel])
    raw = sorted(finish(listener)["latencies"])

    return [
        (f"W4 pickup latency {label} (ms)", pct(ours, p), pct(raw, p), 0.0)
        for label, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
    ] + [
        (f"W4 … counted from the add_job call, {label} (ms)", pct(with_add, p), pct(raw, p), 0.0)
        for label, p in (("p50", 0.5), ("p95", 0.95))
    ]


def _proc_stats(pid: int) -> tuple[float, int]:
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(stat[11]) + int(stat[12])) / ticks
    rss_kb = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return cpu, rss_kb


def idle_cost(
    url: str, pid: int, seconds: float, settle: float = 11.0
) -> tuple[float, float, float]:
    """Resident memory (MB), CPU (% of a core) and statements per second (commits and
    rollbacks of the database in ``pg_stat_database``, less this probe's own) of the idle
    consumer ``pid`` over ``seconds``, after ``settle`` seconds: a backend that goes idle
    may hold its counts up to 10 s before it reports them (PostgreSQL ≥ 15), so a shorter
    wait would count the consumer's start-up in the idle period."""
    with psycopg.connect(url, autocommit=True) as conn:

        def statements() -> int:
            row = conn.execute(
                "select xact_commit + xact_rollback from pg_stat_database"
                " where datname = current_database()"
            ).fetchone()
            assert row is not None
            return int(row[0])

        conn.execute("select pg_stat_clear_snapshot()")
        time.sleep(settle)  # let start-up settle (and be reported) before measuring
        cpu0, _ = _proc_stats(pid)
        tx0 = statements()
        time.sleep(seconds)  # the idle period being measured
        conn.execute("select pg_stat_clear_snapshot()")
        tx1 = statements()
        cpu1, rss = _proc_stats(pid)
    return rss / 1024, (cpu1 - cpu0) / seconds * 100, (tx1 - tx0 - 2) / seconds


def w5(url: str, seconds: float) -> list[tuple[str, float]]:
    schema = fresh_schema(url)
    proc = spawn("worker", url, schema, "10", "drain")
    rss, cpu, statements = idle_cost(url, proc.pid, seconds)
    finish(proc)
    drop(url, schema)
    return [
        ("W5 idle RSS (MB)", rss),
        ("W5 idle CPU (%)", cpu),
        ("W5 idle statements/s", statements),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--child":
        kind, *rest = args[1:]
        if kind == "worker":
            asyncio.run(child_worker(rest[0], rest[1], int(rest[2]), rest[3]))
        elif kind == "raw":
            child_raw(rest[0], rest[1])
        else:
            child_listen(rest[0], rest[1])
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--quick", action="store_true", help="smaller workloads")
    parser.add_argument("--only", default="W3,W4,W5,W6")
    opts = parser.parse_args(args)
    only = set(opts.only.upper().split(","))
    with database(opts.database_url) as url:
        with psycopg.connect(url) as conn:
            print(conn.execute("select version()").fetchone()[0])  # type: ignore[index]
        jobs = 5_000 if opts.quick else 20_000
        print(f"{'workload':58} {'ours':>10} {'baseline':>10} {'ratio':>7}")
        w3_rows = w3(url, jobs) if "W3" in only else []
        for name, ours, base in w3_rows:
            print(f"{name:58} {ours:10.0f} {base:10.0f} {ours / base:7.2f}  jobs/s")
        if "W6" in only:
            name, rate, _ = w6(url, 10_000 if opts.quick else 50_000)
            ref = w3_rows[-1][1] if w3_rows else float("nan")
            ratio = rate / ref
            print(f"{name:58} {rate:10.0f} {ref:10.0f} {ratio:7.2f}  jobs/s (baseline: W3 4 proc)")
        if "W4" in only:
            for name, ours, base, _ in w4(url, 100 if opts.quick else 300):
                print(f"{name:58} {ours:10.2f} {base:10.2f} {ours / base:7.2f}")
        if "W5" in only:
            for name, value in w5(url, 10.0 if opts.quick else 30.0):
                print(f"{name:58} {value:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
