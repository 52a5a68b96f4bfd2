"""trigger-compat beside graphile-worker, the engine trigger.dev ran, on the same workloads.

    python bench/compare.py [--database-url URL] [--quick] [--runs N] [--chart out.png]
                            [--only single,batch,drain,pickup,idle,large]

Runs each workload on trigger-compat (the functions of bench/enqueue.py, worker.py and
scale.py) and on graphile-worker (the Node scripts in bench/graphile/, installed with
``cd bench/graphile && npm ci``) against the same database in the same run, alternating the
two run by run where a workload is repeated, and prints a markdown table: workload |
trigger-compat | graphile-worker | ratio | target (issue 19) | met?. Uses ``--database-url``,
else ``DATABASE_URL``, else the embedded PostgreSQL; the database must be on this machine
(loopback or a Unix socket). ``--chart`` also draws the table as a PNG when matplotlib is
installed. See bench/README.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
import enqueue as tc_enqueue
import scale as tc_scale
import worker as tc_worker

from trigger_compat import JobSpec
from trigger_compat.core import worker_ops

GRAPHILE = Path(__file__).resolve().parent / "graphile"
BATCH = 1_000
FAR = "2100-01-01T00:00:00Z"


@dataclass(frozen=True)
class Sizes:
    single: int
    batched: int
    drained: int
    pickup: int
    idle: float
    big_rows: int
    big_single: int


FULL = Sizes(
    single=5_000,
    batched=50_000,
    drained=20_000,
    pickup=300,
    idle=30.0,
    big_rows=1_000_000,
    big_single=2_000,
)
QUICK = Sizes(
    single=1_000,
    batched=10_000,
    drained=5_000,
    pickup=100,
    idle=10.0,
    big_rows=100_000,
    big_single=500,
)


@dataclass(frozen=True)
class Target:
    text: str
    check: Callable[[float, float], bool]  # (trigger-compat, graphile-worker) -> met


def at_least_ratio(r: float) -> Target:
    return Target(f"≥ {r:g}×", lambda ours, theirs: ours >= r * theirs)


def at_most(limit: float, unit: str, *, and_theirs: bool = False) -> Target:
    text = f"≤ {limit:g} {unit}" + (" and ≤ graphile-worker" if and_theirs else "")
    return Target(text, lambda ours, theirs: ours <= limit and (not and_theirs or ours <= theirs))


@dataclass
class Result:
    workload: str
    ours: list[float]  # one value per run (rates in jobs/s, or a cost)
    theirs: list[float]
    unit: str  # "jobs/s", "ms", "MB", "%", "stmt/s"
    higher_is_better: bool
    target: Target | None = None
    note: str = ""

    @property
    def ours_value(self) -> float:
        return statistics.median(self.ours)

    @property
    def theirs_value(self) -> float:
        return statistics.median(self.theirs)

    @property
    def ratio(self) -> float:
        return self.ours_value / self.theirs_value if self.theirs_value else float("nan")

    def met(self) -> str:
        if self.target is None:
            return "—"
        return "met" if self.target.check(self.ours_value, self.theirs_value) else "**missed**"


def fmt(values: list[float], unit: str) -> str:
    value = statistics.median(values)
    text = f"{value:,.0f} {unit}" if unit == "jobs/s" else f"{value:,.2f} {unit}"
    if len(values) > 1 and value:
        text += f" ±{100 * (max(values) - min(values)) / value:.0f}%"
    return text


# -- the database ----------------------------------------------------------------------


def assert_loopback(url: str) -> None:
    """graphile-worker (and this bench) talk to a database on this machine only."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    socket = parse_qs(parts.query).get("host", [""])[0]
    local_host = host in ("", "localhost", "::1") or host.startswith("127.")
    if not local_host or (socket and not socket.startswith("/") and socket != "localhost"):
        raise SystemExit(f"refusing a database that is not on this machine: {host or socket}")


def server_info(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "select version(), current_setting('synchronous_commit'), current_setting('fsync'),"
            " current_setting('shared_buffers'), current_setting('max_connections')"
        ).fetchone()
    assert row is not None
    version, sync_commit, fsync, shared_buffers, max_conn = row
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    gw = json.loads((GRAPHILE / "node_modules/graphile-worker/package.json").read_text())
    pg = json.loads((GRAPHILE / "node_modules/pg/package.json").read_text())
    return (
        f"{version}\nserver: synchronous_commit={sync_commit} fsync={fsync} "
        f"shared_buffers={shared_buffers} max_connections={max_conn}\n"
        f"trigger-compat: Python {platform.python_version()}, psycopg {psycopg.__version__}; "
        f"graphile-worker {gw['version']} (pg {pg['version']}), Node {node.stdout.strip()}\n"
        f"{os.cpu_count()} CPUs, load average before: {tc_enqueue.load()}"
    )


# -- graphile-worker's side --------------------------------------------------------------


def node(script: str, *args: str) -> dict[str, Any]:
    """Run one of bench/graphile/'s scripts; return the JSON it printed last."""
    done = subprocess.run(
        ["node", script, *args], cwd=GRAPHILE, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"node {script} failed: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def spawn_node_worker(url: str, schema: str, mode: str) -> subprocess.Popen[str]:
    return tc_worker.spawn_command(
        ["node", "worker.js", url, schema, "10", mode], cwd=str(GRAPHILE)
    )


def gw_schema(url: str) -> str:
    schema = f"bench_gw_{uuid.uuid4().hex[:8]}"
    node("migrate.js", url, schema)
    return schema


def gw_park(url: str, schema: str, count: int) -> tuple[int, int]:
    """Add ``count`` noop jobs due in 2100 through graphile-worker's add_jobs; their id range."""
    s = sql.Identifier(schema)
    with psycopg.connect(url, autocommit=True) as conn:
        lo, hi = None, None
        for start in range(0, count, 5_000):
            n = min(5_000, count - start)
            row = conn.execute(
                sql.SQL(
                    "select min(id), max(id) from {s}.add_jobs(array("
                    "select row('noop', json_build_object('i', g), null, %s::timestamptz,"
                    " null, null, null, null)::{s}.job_spec from generate_series(1, %s) g))"
                ).format(s=s),
                [FAR, n],
            ).fetchone()
            assert row is not None
            lo = row[0] if lo is None else lo
            hi = row[1]
        conn.execute(sql.SQL("analyze {}._private_jobs").format(s))
    assert lo is not None and hi is not None
    return int(lo), int(hi)


def gw_left(conn: psycopg.Connection[Any], schema: str, ids: tuple[int, int]) -> bool:
    row = conn.execute(
        sql.SQL("select exists (select from {}._private_jobs where id between %s and %s)").format(
            sql.Identifier(schema)
        ),
        list(ids),
    ).fetchone()
    assert row is not None
    return bool(row[0])


def gw_drain(url: str, schema: str, jobs: int, ids: tuple[int, int], processes: int) -> float:
    """graphile-worker's W3: release the parked jobs in one statement, wake the workers (the
    jobs:insert notification add_jobs would send), time until every one is done."""
    procs = [spawn_node_worker(url, schema, "drain") for _ in range(processes)]

    def release(conn: psycopg.Connection[Any]) -> None:
        conn.execute(
            sql.SQL(
                "update {}._private_jobs set run_at = now(), updated_at = now()"
                " where id between %s and %s"
            ).format(sql.Identifier(schema)),
            list(ids),
        )
        conn.execute("select pg_notify('jobs:insert', %s)", [json.dumps({"count": jobs})])

    return tc_worker.time_drain(url, procs, release, lambda conn: gw_left(conn, schema, ids))


def gw_pickup(url: str, count: int) -> list[float]:
    """Pickup latencies (s, sorted) of ``count`` jobs added at 50/s by WorkerUtils.addJob to
    an idle graphile-worker runner, from addJob's return to the handler's start."""
    schema = gw_schema(url)
    proc = spawn_node_worker(url, schema, "latency")
    added = node("latency.js", url, schema, str(count), "50")
    committed = {int(k): v for k, v in added["committed"].items()}
    last = max(committed)
    with psycopg.connect(url, autocommit=True) as conn:
        while gw_left(conn, schema, (last, last)):
            time.sleep(0.01)  # measurement poll: until the last job has run
    starts = {int(k): v for k, v in tc_worker.finish(proc)["starts"].items()}
    drop(url, schema)
    return sorted(starts[i] - committed[i] for i in committed)


def gw_fill(url: str, schema: str, rows: int) -> int:
    """bench/scale.py's FILL, in graphile-worker's tables; returns the highest filled id."""
    s = sql.Identifier(schema)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "insert into {s}._private_tasks (identifier)"
                " select 'filler_' || g from generate_series(0, 6) g on conflict do nothing"
            ).format(s=s)
        )
        conn.execute(
            sql.SQL(
                "insert into {s}._private_job_queues (queue_name)"
                " select 'q' || g from generate_series(0, %s) g on conflict do nothing"
            ).format(s=s),
            [tc_scale.QUEUES - 1],
        )
        conn.execute(sql.SQL(GW_FILL).format(s=s), {"rows": rows, "queues": tc_scale.QUEUES})
        conn.execute(sql.SQL("vacuum analyze {}._private_jobs").format(s))
        conn.execute(sql.SQL("vacuum analyze {}._private_job_queues").format(s))
        row = conn.execute(sql.SQL("select max(id) from {}._private_jobs").format(s)).fetchone()
    assert row is not None
    return int(row[0])


# The same rows as scale.FILL (g % 1000: 0..599 future, 600..997 permanently failed, 998
# running, 999 ready; every tenth in a named queue; half keyed), in graphile-worker's tables.
GW_FILL = """
insert into {s}._private_jobs (job_queue_id, task_id, payload, run_at, attempts, max_attempts,
                               last_error, key, locked_at, locked_by, created_at)
select q.id, t.id,
       json_build_object('i', g, 'pad', repeat('x', 40)),
       case when g %% 1000 < 600 then now() + make_interval(secs => 3600 + g %% 2592000)
            else now() - make_interval(secs => 60 + g %% 86400) end,
       case when g %% 1000 between 600 and 997 then 25
            when g %% 1000 = 998 then 1 else 0 end,
       25,
       case when g %% 1000 between 600 and 997 then 'boom: failed for good' end,
       case when g %% 2 = 0 then 'fill:' || g end,
       case when g %% 1000 = 998 then now() end,
       case when g %% 1000 = 998 then 'bench-filler-' || (g %% 4) end,
       now() - make_interval(secs => g %% 172800)
  from generate_series(1, %(rows)s) as g
  join {s}._private_tasks t on t.identifier = 'filler_' || (g %% 7)
  left join {s}._private_job_queues q
         on g %% 10 = 0 and q.queue_name = 'q' || (g %% %(queues)s)
"""


def drop(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))


# -- the workloads -----------------------------------------------------------------------


def alternate(
    runs: int, ours: Callable[[], float], theirs: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """Run both sides ``runs`` times, alternating which goes first."""
    a: list[float] = []
    b: list[float] = []
    for run in range(runs):
        if run % 2 == 0:
            a.append(ours())
            b.append(theirs())
        else:
            b.append(theirs())
            a.append(ours())
    return a, b


def enqueue_workloads(
    url: str, sizes: Sizes, runs: int, *, single: bool = True, batch: bool = True
) -> list[Result]:
    bench = tc_enqueue.Bench(url, tc_enqueue.QUICK, runs)
    schema = gw_schema(url)
    try:
        task = tc_enqueue.TASK
        n = sizes.single
        payloads = [{"id": str(uuid.uuid4())} for _ in range(n)]
        bench.ours_single(payloads[:200])  # warm-up

        def ours_single() -> float:
            bench.reset(bench.jobs)
            seconds = bench.ours_single(payloads)
            if bench.count(bench.jobs) != n:
                raise RuntimeError("add_job did not write every row")
            return n / seconds

        def theirs(mode: str, jobs: int) -> Callable[[], float]:
            return lambda: jobs / float(node("enqueue.js", url, schema, mode, str(jobs))["seconds"])

        out = []
        if single:
            rates = alternate(runs, ours_single, theirs("single", n))
            out.append(
                Result(
                    f"single enqueue: add_job × {n:,}, one transaction each",
                    *rates,
                    "jobs/s",
                    True,
                    at_least_ratio(1.6),
                )
            )
        if not batch:
            return out

        m = sizes.batched
        ids = [str(uuid.uuid4()) for _ in range(m)]
        plain = [
            [JobSpec(identifier=task, payload={"id": i}) for i in ids[k : k + BATCH]]
            for k in range(0, m, BATCH)
        ]
        keyed = [
            [JobSpec(identifier=task, payload={"id": i}, job_key=f"key:{i}") for i in batch_ids]
            for batch_ids in (ids[k : k + BATCH] for k in range(0, m, BATCH))
        ]
        for label, specs, mode in (("unkeyed", plain, "batch"), ("keyed", keyed, "batch-keyed")):
            bench.reset(bench.jobs)
            bench.ours_batched(specs[:2])  # warm-up

            def ours_batch(specs: list[list[JobSpec]] = specs) -> float:
                bench.reset(bench.jobs)
                seconds = bench.ours_batched(specs)
                if bench.count(bench.jobs) != m:
                    raise RuntimeError("add_jobs did not write every row")
                return m / seconds

            result = alternate(runs, ours_batch, theirs(mode, m))
            out.append(
                Result(
                    f"batch enqueue, {label}: {m:,} in add_jobs of {BATCH:,}",
                    *result,
                    "jobs/s",
                    True,
                    at_least_ratio(1.0),
                )
            )
        return out
    finally:
        bench.close()
        drop(url, schema)


def analyze(url: str, table: sql.Composable) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("analyze {}").format(table))


def tc_drain_once(url: str, jobs: int, processes: int, schema: str | None = None) -> float:
    own = schema is None
    schema = schema or tc_worker.fresh_schema(url)
    try:
        ids = tc_worker.add_ready(url, schema, jobs)
        analyze(url, sql.Identifier(schema, "jobs"))
        return jobs / tc_worker.drain(url, schema, jobs, ids, processes, raw=False)
    finally:
        if own:
            drop(url, schema)


def gw_drain_once(url: str, jobs: int, processes: int, schema: str | None = None) -> float:
    own = schema is None
    schema = schema or gw_schema(url)
    try:
        ids = gw_park(url, schema, jobs)
        return jobs / gw_drain(url, schema, jobs, ids, processes)
    finally:
        if own:
            drop(url, schema)


def drain_workloads(url: str, sizes: Sizes, runs: int) -> list[Result]:
    out = []
    n = sizes.drained
    for processes, target in ((1, 1.1), (4, 1.3)):
        result = alternate(
            runs,
            functools.partial(tc_drain_once, url, n, processes),
            functools.partial(gw_drain_once, url, n, processes),
        )
        out.append(
            Result(
                f"drain {n:,} no-op jobs, {processes} process{'es' if processes > 1 else ''} × 10",
                *result,
                "jobs/s",
                True,
                at_least_ratio(target),
            )
        )
    return out


def pickup_workloads(url: str, sizes: Sizes) -> list[Result]:
    ours, _ = tc_worker.pickup(url, sizes.pickup)
    theirs = gw_pickup(url, sizes.pickup)
    pct = tc_worker.pct
    label = f"pickup latency at 50 jobs/s ({sizes.pickup} jobs), add → handler"
    return [
        Result(f"{label}, p50", [pct(ours, 0.5)], [pct(theirs, 0.5)], "ms", False),
        Result(
            f"{label}, p95",
            [pct(ours, 0.95)],
            [pct(theirs, 0.95)],
            "ms",
            False,
            at_most(4, "ms", and_theirs=True),
        ),
        Result(
            f"{label}, p99", [pct(ours, 0.99)], [pct(theirs, 0.99)], "ms", False, at_most(8, "ms")
        ),
    ]


def idle_workloads(url: str, sizes: Sizes) -> list[Result]:
    schema = tc_worker.fresh_schema(url)
    proc = tc_worker.spawn("worker", url, schema, "10", "drain")
    ours = tc_worker.idle_cost(url, proc.pid, sizes.idle)
    tc_worker.finish(proc)
    drop(url, schema)
    schema = gw_schema(url)
    proc = spawn_node_worker(url, schema, "drain")
    theirs = tc_worker.idle_cost(url, proc.pid, sizes.idle)
    tc_worker.finish(proc)
    drop(url, schema)
    label = f"idle worker (concurrency 10), {sizes.idle:.0f} s"
    return [
        Result(f"{label}: RSS", [ours[0]], [theirs[0]], "MB", False, at_most(40, "MB")),
        Result(f"{label}: CPU", [ours[1]], [theirs[1]], "%", False, at_most(0.3, "% of a core")),
        Result(
            f"{label}: statements/s", [ours[2]], [theirs[2]], "stmt/s", False, at_most(1.2, "/s")
        ),
    ]


def large_workloads(url: str, sizes: Sizes, runs: int) -> list[Result]:
    """bench/scale.py's large-table regime: a table of ``big_rows`` jobs (60% future, 39.8%
    permanently failed, 0.1% running, 0.1% ready, a tenth in named queues, half keyed),
    then single enqueue, batch enqueue and a 4-process drain on it."""
    with psycopg.connect(url, autocommit=True) as db:
        big = tc_scale.Side(url, "big")
        gw = gw_schema(url)
        try:
            t = time.perf_counter()
            tc_scale.fill(db, big, sizes.big_rows)
            gw_max = gw_fill(url, gw, sizes.big_rows)
            print(
                f"  filled {sizes.big_rows:,} rows each in {time.perf_counter() - t:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            hold_fillers(url, big)
            n = sizes.big_single
            payloads = [{"id": str(uuid.uuid4())} for _ in range(max(n, sizes.batched))]
            task = tc_enqueue.TASK
            for p in payloads[:200]:
                big.client.add_job(task, p)  # warm-up

            def ours_single() -> float:
                big.reset(db)
                start = time.perf_counter()
                for p in payloads[:n]:
                    big.client.add_job(task, p)
                return n / (time.perf_counter() - start)

            def theirs(mode: str, jobs: int) -> Callable[[], float]:
                def run() -> float:
                    out = node("enqueue.js", url, gw, mode, str(jobs), "--after-id", str(gw_max))
                    return jobs / float(out["seconds"])

                return run

            single = alternate(runs, ours_single, theirs("single", n))
            specs = [JobSpec(identifier=task, payload=p) for p in payloads[: sizes.batched]]

            def ours_batch() -> float:
                big.reset(db)
                start = time.perf_counter()
                for k in range(0, len(specs), BATCH):
                    big.client.add_jobs(specs[k : k + BATCH])
                return len(specs) / (time.perf_counter() - start)

            batch = alternate(runs, ours_batch, theirs("batch", sizes.batched))
            big.reset(db)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("delete from {}._private_jobs where id > %s").format(
                        sql.Identifier(gw)
                    ),
                    [gw_max],
                )
            m = sizes.drained
            drain = alternate(
                runs,
                lambda: tc_drain_once(url, m, 4, schema=big.schema),
                lambda: gw_drain_once(url, m, 4, schema=gw),
            )
        finally:
            big.client.close()
            drop(url, big.schema)
            drop(url, gw)
    label = f"{sizes.big_rows:,}-row table"
    return [
        Result(f"{label}: add_job × {n:,}", *single, "jobs/s", True),
        Result(f"{label}: {sizes.batched:,} in add_jobs of {BATCH:,}", *batch, "jobs/s", True),
        Result(f"{label}: drain {m:,}, 4 processes × 10", *drain, "jobs/s", True),
    ]


def hold_fillers(url: str, big: tc_scale.Side) -> None:
    """The fill's running jobs are held by workers bench-filler-0..3: register them as live
    (a heartbeat dated an hour ahead), so that the drain's workers do not rescue their jobs
    (graphile-worker would not either: it resets locks only after 4 hours)."""
    for i in range(4):
        tasks = [f"filler_{t}" for t in range(7)]
        big.client.execute(worker_ops.heartbeat(f"bench-filler-{i}", "bench", "bench", 0, tasks))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "update {}.workers set last_heartbeat_at = now() + interval '1 hour'"
                " where worker_id like 'bench-filler-%%'"
            ).format(big.ident)
        )


# -- output ------------------------------------------------------------------------------


def render(results: Sequence[Result]) -> str:
    lines = [
        "| workload | trigger-compat | graphile-worker | ratio | target | met? |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.workload} | {fmt(r.ours, r.unit)} | {fmt(r.theirs, r.unit)} | "
            f"{r.ratio:.2f}× | {r.target.text if r.target else '—'} | {r.met()} |"
        )
    return "\n".join(lines)


def chart(results: Sequence[Result], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import NullFormatter
    except ImportError:
        print(f"matplotlib is not installed: no chart ({path})", file=sys.stderr)
        return
    names = [r.workload for r in results]
    # How many times better trigger-compat is: rates as they are, costs inverted.
    advantage = [r.ratio if r.higher_is_better else 1 / r.ratio for r in results]
    colors = ["tab:green" if a >= 1 else "tab:red" for a in advantage]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(results) + 1.5))
    ax.barh(range(len(results)), advantage, color=colors)
    ax.set_yticks(range(len(results)), names, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ticks = [
        t
        for t in (0.125, 0.25, 0.5, 1, 2, 4, 8, 16)
        if min(advantage) / 2 <= t <= max(advantage) * 2
    ]
    ax.set_xticks(ticks, [f"{t:g}×" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(
        "trigger-compat vs graphile-worker (× better; rates: ours/theirs, costs: theirs/ours)"
    )
    for i, a in enumerate(advantage):
        ax.text(a, i, f" {a:.2f}×", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"chart written to {path}", file=sys.stderr)


WORKLOADS = ("single", "batch", "drain", "pickup", "idle", "large")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL URL (default: $DATABASE_URL)")
    parser.add_argument("--quick", action="store_true", help="smaller workloads, one drain run")
    parser.add_argument(
        "--runs", type=int, help="runs of each repeated workload (default 3; --quick: 1 drain)"
    )
    parser.add_argument("--chart", metavar="PNG", help="also draw the table (needs matplotlib)")
    parser.add_argument(
        "--only", default=",".join(WORKLOADS), help="a subset: " + ",".join(WORKLOADS)
    )
    args = parser.parse_args(argv)
    only = {w.strip() for w in args.only.lower().split(",") if w.strip()}
    if unknown := only - set(WORKLOADS):
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    if shutil.which("node") is None:
        raise SystemExit("graphile-worker's side needs Node.js (node) on the PATH")
    if not (GRAPHILE / "node_modules" / "graphile-worker").is_dir():
        raise SystemExit("graphile-worker is not installed: cd bench/graphile && npm ci")
    sizes = QUICK if args.quick else FULL
    enqueue_runs = max(1, args.runs or 3)
    drain_runs = max(1, args.runs or (1 if args.quick else 3))
    with tc_enqueue.database(args.database_url) as url:
        assert_loopback(url)
        print(server_info(url), flush=True)
        started = time.perf_counter()
        results: list[Result] = []
        if "single" in only or "batch" in only:
            results += enqueue_workloads(
                url, sizes, enqueue_runs, single="single" in only, batch="batch" in only
            )
        if "drain" in only:
            results += drain_workloads(url, sizes, drain_runs)
        if "pickup" in only:
            results += pickup_workloads(url, sizes)
        if "idle" in only:
            results += idle_workloads(url, sizes)
        if "large" in only:
            results += large_workloads(url, sizes, drain_runs)
        print()
        print(render(results))
        print(
            f"\nratio = trigger-compat / graphile-worker (rates: higher is better; latency, "
            f"memory, CPU, statements: lower is better). Median of {enqueue_runs} runs for "
            f"the enqueue rows, of {drain_runs} for the drain and large-table rows; ±% = "
            "(slowest − fastest) / median. Both engines: concurrency 10, poll interval 1 s."
        )
        print(
            f"total {time.perf_counter() - started:.0f} s; load average after: {tc_enqueue.load()}",
            flush=True,
        )
        if args.chart:
            chart(results, args.chart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
