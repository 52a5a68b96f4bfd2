"""Enqueue throughput of trigger-compat beside raw-SQL baselines, measured in the same run.

    python bench/enqueue.py [--database-url URL] [--quick] [--runs N]

Uses ``--database-url``, else ``DATABASE_URL``, else starts the embedded PostgreSQL. Every
workload runs against a fresh schema made by ``Client.migrate()``; the baselines write to a
table made with ``create table ... (like <schema>.jobs including all)`` (same columns, same
defaults, the same generated column, the same unique and partial indexes). Each workload is
warmed up, then timed ``--runs`` times (ours and the baseline alternating, the table truncated
and a checkpoint taken before every run); the table shows the median. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from trigger_compat import Client, JobSpec
from trigger_compat.testing.server import start_embedded_server

TASK = "bench_task"
BATCH = 1_000


@dataclass(frozen=True)
class Sizes:
    single: int
    batched: int
    warmup_single: int
    warmup_batched: int


FULL = Sizes(single=5_000, batched=50_000, warmup_single=500, warmup_batched=5_000)
QUICK = Sizes(single=1_000, batched=10_000, warmup_single=200, warmup_batched=2_000)


@dataclass(frozen=True)
class Target:
    min_rate: float | None  # jobs/s
    min_ratio: float | None  # ours / baseline


@dataclass
class Row:
    name: str
    jobs: int
    ours: list[float]  # seconds per run
    baseline: list[float] | None
    baseline_name: str
    target: Target | None


def median_rate(jobs: int, seconds: list[float]) -> float:
    return jobs / statistics.median(seconds)


def spread(seconds: list[float]) -> float:
    """(slowest - fastest) / median, in percent: how noisy the runs were."""
    return 100.0 * (max(seconds) - min(seconds)) / statistics.median(seconds)


class Bench:
    def __init__(self, url: str, sizes: Sizes, runs: int) -> None:
        self.url = url
        self.sizes = sizes
        self.runs = runs
        tag = uuid.uuid4().hex[:8]
        self.schema = f"bench_{tag}"
        self.base_schema = f"bench_baseline_{tag}"
        self.admin = psycopg.connect(url, autocommit=True)
        self.client = Client(url, schema=self.schema)
        self.client.migrate()
        self.admin.execute(sql.SQL("create schema {}").format(sql.Identifier(self.base_schema)))
        self.admin.execute(
            sql.SQL("create table {}.jobs (like {}.jobs including all)").format(
                sql.Identifier(self.base_schema), sql.Identifier(self.schema)
            )
        )
        self.jobs = sql.Identifier(self.schema, "jobs")
        self.base_jobs = sql.Identifier(self.base_schema, "jobs")
        # One connection for the baselines, like the one pooled connection the client uses.
        self.raw = psycopg.connect(url, autocommit=True)
        self.can_checkpoint = True

    def close(self) -> None:
        self.client.close()
        self.raw.close()
        for name in (self.schema, self.base_schema):
            self.admin.execute(
                sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(name))
            )
        self.admin.close()

    # -- helpers -------------------------------------------------------------------------

    def server_info(self) -> str:
        row = self.admin.execute(
            "select version(), current_setting('synchronous_commit'), current_setting('fsync'),"
            " current_setting('shared_buffers')"
        ).fetchone()
        assert row is not None
        version, sync_commit, fsync, shared_buffers = row
        return (
            f"{version}\nserver: synchronous_commit={sync_commit} fsync={fsync} "
            f"shared_buffers={shared_buffers}; client: Python {platform.python_version()}, "
            f"psycopg {psycopg.__version__} ({psycopg.pq.__impl__}); "
            f"{os.cpu_count()} CPUs, load average before: {load()}"
        )

    def reset(self, table: sql.Composable) -> None:
        """Empty the table and checkpoint, so that no run pays for an earlier one's writes."""
        self.admin.execute(sql.SQL("truncate {} restart identity").format(table))
        self.checkpoint()

    def checkpoint(self) -> None:
        if self.can_checkpoint:
            try:
                self.admin.execute("checkpoint")
            except psycopg.errors.InsufficientPrivilege:
                self.can_checkpoint = False

    def count(self, table: sql.Composable) -> int:
        row = self.admin.execute(sql.SQL("select count(*) from {}").format(table)).fetchone()
        assert row is not None
        return int(row[0])

    # -- the timed bodies ----------------------------------------------------------------

    def ours_single(self, payloads: Sequence[dict[str, str]]) -> float:
        add_job = self.client.add_job
        start = time.perf_counter()
        for payload in payloads:
            add_job(TASK, payload)
        return time.perf_counter() - start

    def base_single(self, payloads: Sequence[dict[str, str]]) -> float:
        query = sql.SQL("insert into {} (task_identifier, payload) values (%s, %s)").format(
            self.base_jobs
        )
        with self.raw.cursor() as cur:
            start = time.perf_counter()
            for payload in payloads:
                cur.execute(query, (TASK, Jsonb(payload)))
            return time.perf_counter() - start

    def ours_batched(self, batches: Sequence[Sequence[JobSpec]]) -> float:
        add_jobs = self.client.add_jobs
        start = time.perf_counter()
        for batch in batches:
            add_jobs(batch)
        return time.perf_counter() - start

    def base_copy(self, batches: Sequence[Sequence[dict[str, str]]]) -> float:
        statement = sql.SQL("copy {} (task_identifier, payload) from stdin").format(self.base_jobs)
        with self.raw.cursor() as cur:
            start = time.perf_counter()
            for batch in batches:
                with cur.copy(statement) as copy:
                    for payload in batch:
                        copy.write_row((TASK, Jsonb(payload)))
            return time.perf_counter() - start

    # -- the workloads -------------------------------------------------------------------

    def timed(
        self,
        jobs: int,
        ours: Callable[[], float],
        baseline: Callable[[], float] | None,
        prepare: Callable[[], None] | None = None,
    ) -> tuple[list[float], list[float] | None]:
        ours_times: list[float] = []
        base_times: list[float] = []
        for _ in range(self.runs):
            self.reset(self.jobs)
            if prepare is not None:
                prepare()
                self.checkpoint()
            ours_times.append(ours())
            if baseline is not None:
                self.reset(self.base_jobs)
                base_times.append(baseline())
                if self.count(self.base_jobs) != jobs:
                    raise RuntimeError("the baseline did not write every row")
        return ours_times, (base_times if baseline is not None else None)

    def single(self) -> Row:
        n = self.sizes.single
        payloads = [{"id": str(uuid.uuid4())} for _ in range(n)]
        warm = payloads[: self.sizes.warmup_single]
        self.ours_single(warm)
        self.base_single(warm)

        def ours() -> float:
            elapsed = self.ours_single(payloads)
            if self.count(self.jobs) != n:
                raise RuntimeError("add_job did not write every row")
            return elapsed

        ours_t, base_t = self.timed(n, ours, lambda: self.base_single(payloads))
        return Row(
            f"(a) add_job ×{n:,}, one transaction each",
            n,
            ours_t,
            base_t,
            "INSERT per transaction",
            Target(min_rate=2_400, min_ratio=0.7),
        )

    def batched(self) -> tuple[Row, Row, Row]:
        n = self.sizes.batched
        ids = [str(uuid.uuid4()) for _ in range(n)]
        payload_batches = [
            [{"id": i} for i in ids[start : start + BATCH]] for start in range(0, n, BATCH)
        ]
        plain = [[JobSpec(identifier=TASK, payload=p) for p in b] for b in payload_batches]
        keyed = [
            [JobSpec(identifier=TASK, payload=p, job_key=f"key:{p['id']}") for p in b]
            for b in payload_batches
        ]
        # The same keys, new payloads: every spec finds its key taken by an available job.
        rekeyed = [
            [s.model_copy(update={"payload": {"id": str(uuid.uuid4())}}) for s in b] for b in keyed
        ]
        warm = self.sizes.warmup_batched // BATCH
        for specs in (plain, keyed):
            self.reset(self.jobs)
            self.ours_batched(specs[:warm])
        self.ours_batched(rekeyed[:warm])
        self.base_copy(payload_batches[:warm])

        def checked(specs: list[list[JobSpec]], rows: int) -> Callable[[], float]:
            def run() -> float:
                elapsed = self.ours_batched(specs)
                if self.count(self.jobs) != rows:
                    raise RuntimeError("add_jobs did not leave the expected rows")
                return elapsed

            return run

        ours_t, base_t = self.timed(n, checked(plain, n), lambda: self.base_copy(payload_batches))
        keyed_t, _ = self.timed(n, checked(keyed, n), None)

        def fill_keys() -> None:
            self.ours_batched(keyed)

        update_t, _ = self.timed(n, checked(rekeyed, n), None, prepare=fill_keys)
        target = Target(min_rate=50_000, min_ratio=0.4)
        return (
            Row(
                f"(b) add_jobs ×{n:,}, batches of {BATCH:,}",
                n,
                ours_t,
                base_t,
                f"COPY, batches of {BATCH:,}",
                target,
            ),
            Row(
                "(c) (b) with job_key, empty table (insert)",
                n,
                keyed_t,
                base_t,
                f"COPY, batches of {BATCH:,}",
                None,
            ),
            Row(
                "(c) (b) with job_key, every key exists (update)",
                n,
                update_t,
                base_t,
                f"COPY, batches of {BATCH:,}",
                None,
            ),
        )


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def verdict(row: Row) -> str:
    if row.target is None:
        return "-"
    ours = median_rate(row.jobs, row.ours)
    misses = []
    if row.target.min_rate is not None and ours < row.target.min_rate:
        misses.append(f"< {row.target.min_rate:,.0f}/s")
    if row.target.min_ratio is not None and row.baseline is not None:
        ratio = ours / median_rate(row.jobs, row.baseline)
        if ratio < row.target.min_ratio:
            misses.append(f"< {row.target.min_ratio}×")
    wanted = []
    if row.target.min_rate is not None:
        wanted.append(f"≥{row.target.min_rate:,.0f}/s")
    if row.target.min_ratio is not None:
        wanted.append(f"≥{row.target.min_ratio}×")
    return ("MISSED " + ", ".join(misses)) if misses else "met (" + ", ".join(wanted) + ")"


def render(rows: Sequence[Row], runs: int) -> str:
    header = (
        f"{'workload':<50} {'ours jobs/s':>12} {'±%':>5}  {'baseline':<22} "
        f"{'jobs/s':>9} {'±%':>5} {'ours/base':>9}  target"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        ours = median_rate(row.jobs, row.ours)
        if row.baseline is not None:
            base = median_rate(row.jobs, row.baseline)
            base_cols = f"{row.baseline_name:<22} {base:>9,.0f} {spread(row.baseline):>5.0f}"
            ratio = f"{ours / base:>8.2f}×"
        else:
            base_cols = f"{'-':<22} {'':>9} {'':>5}"
            ratio = f"{'-':>9}"
        lines.append(
            f"{row.name:<50} {ours:>12,.0f} {spread(row.ours):>5.0f}  {base_cols} {ratio}  "
            f"{verdict(row)}"
        )
    lines.append(
        f"median of {runs} runs; ±% = (slowest - fastest) / median over those runs. "
        "(c) rows are compared with (b)'s COPY baseline."
    )
    return "\n".join(lines)


@contextmanager
def database(url: str | None) -> Iterator[str]:
    url = url or os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    data_dir = Path(tempfile.gettempdir()) / f"trigger-compat-bench-pg-{os.getuid()}"
    print(f"no DATABASE_URL: starting the embedded PostgreSQL in {data_dir}", file=sys.stderr)
    yield start_embedded_server(data_dir)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", help="PostgreSQL URL (default: $DATABASE_URL)")
    parser.add_argument(
        "--quick", action="store_true", help="smaller workloads (1,000 and 10,000 jobs)"
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs per workload (3)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    with database(args.database_url) as url:
        bench = Bench(url, sizes, max(1, args.runs))
        try:
            print(bench.server_info(), flush=True)
            started = time.perf_counter()
            rows = [bench.single()]
            print(f"(a) done after {time.perf_counter() - started:.0f} s", file=sys.stderr)
            rows.extend(bench.batched())
            print(render(rows, bench.runs))
            print(
                f"total {time.perf_counter() - started:.0f} s; load average after: {load()}",
                flush=True,
            )
        finally:
            bench.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
