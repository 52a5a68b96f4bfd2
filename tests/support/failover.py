"""One failover under load, measured: producers add jobs and a worker runs them through the
multi-host DSN of a :class:`~support.replication.Cluster`; mid-load the primary is SIGKILLed
and the standby promoted. Shared by tests/failover/ and bench/failover.py.

Jobs are told apart by a token in their payload, not by their id: a sequence value written on
the lost primary may be handed out again by the promoted standby.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from trigger_compat import AsyncClient, Client
from trigger_compat.core.jobs import Job
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions

from .replication import Cluster

TASK = "failover_probe"


@dataclass
class Run:
    token: str
    job_id: int
    at: float  # time.monotonic() when the handler started


@dataclass
class Ack:
    token: str
    started: float  # time.monotonic() when add_job was called
    acked: float  # ... and when it returned


@dataclass
class Result:
    synchronous: bool
    acked_before_kill: int  # add_job calls that returned before the kill
    acked_after_kill: int
    producer_errors: int  # add_job calls that raised (not acknowledged: not counted as lost)
    promote_s: float  # kill -> the standby accepts writes
    first_ack_s: float  # kill -> the first add_job that returns (started after the kill)
    first_run_s: float  # kill -> the first handler that starts after the kill
    lost: list[str]  # acknowledged, never run, and gone from the table (lost in the failover)
    ran_twice: dict[str, list[Run]]  # token -> its runs
    unacked_ran: int  # jobs whose add_job raised but that exist (committed, answer lost)
    listen_connects: int  # LISTEN connections the worker made (>= 2: it re-listened)
    heartbeat_after_promote: bool  # the worker beat on the promoted standby
    worker_errors: Counter[str] = field(default_factory=Counter)
    # The raw-SQL baseline: one psycopg connection inserting rows in a loop, reconnecting
    # at once after an error (None when not run).
    raw_first_ack_s: float | None = None
    raw_acked_before_kill: int = 0
    raw_lost: int = 0

    def twice_causes(self, kill_at: float) -> dict[str, str]:
        """Why each job ran twice: a first run before the kill whose lock or outcome the
        promoted standby never received (asynchronous replication), or something else."""
        causes: dict[str, str] = {}
        for token, runs in self.ran_twice.items():
            before = [r for r in runs if r.at < kill_at]
            after = [r for r in runs if r.at >= kill_at]
            if before and after:
                causes[token] = "ran on the old primary; its lock/outcome was not replicated"
            else:
                causes[token] = "unexplained"
        return causes


class _Producers:
    """``count`` threads, each adding jobs in a loop through its own client until stopped."""

    def __init__(self, dsn: str, schema: str, count: int) -> None:
        self.dsn = dsn
        self.schema = schema
        self.acks: list[Ack] = []
        self.errors = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._produce, args=(i,), daemon=True) for i in range(count)
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def join(self) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def _produce(self, index: int) -> None:
        n = 0
        with Client(self.dsn, schema=self.schema, pool_size=1, connect_timeout=5) as client:
            while not self.stop.is_set():
                n += 1
                token = f"{index}-{n}"
                started = time.monotonic()
                try:
                    client.add_job(TASK, {"token": token})
                except Exception:
                    with self._lock:
                        self.errors += 1
                    # Pace the retries of a producer that cannot reach a primary.
                    self.stop.wait(0.005)
                    continue
                with self._lock:
                    self.acks.append(Ack(token, started, time.monotonic()))


class _RawProducer:
    """The baseline: plain INSERTs on one connection, reconnecting right after any error."""

    def __init__(self, dsn: str, table: sql.Composable) -> None:
        self.dsn = dsn
        self.table = table
        self.acks: list[Ack] = []
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self.stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=60)

    def _produce(self) -> None:
        insert = sql.SQL("insert into {} (token) values (%s)").format(self.table)
        conn: psycopg.Connection[Any] | None = None
        n = 0
        while not self.stop.is_set():
            n += 1
            token = f"raw-{n}"
            started = time.monotonic()
            try:
                if conn is None:
                    conn = psycopg.connect(self.dsn, autocommit=True)
                conn.execute(insert, (token,))
            except psycopg.Error:
                if conn is not None:
                    conn.close()
                    conn = None
                self.stop.wait(0.005)
                continue
            self.acks.append(Ack(token, started, time.monotonic()))
        if conn is not None:
            conn.close()


class _WorkerThread:
    """A runtime Worker on an event loop of its own thread, recording every run."""

    def __init__(self, dsn: str, schema: str) -> None:
        self.dsn = dsn
        self.schema = schema
        self.runs: list[Run] = []
        self.listen_connects = 0
        self.errors: Counter[str] = Counter()
        self.worker_id = ""
        self.started = threading.Event()
        self.stop = threading.Event()
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self.started.wait(60) or self.failure is not None:
            raise AssertionError(f"the worker did not start: {self.failure!r}")

    def join(self) -> None:
        self.stop.set()
        self._thread.join(timeout=60)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # reported by start()
            self.failure = exc
            self.started.set()

    async def _run(self) -> None:
        async def handler(payload: Any, job: Job) -> None:
            self.runs.append(Run(payload["token"], job.id, time.monotonic()))

        def on(name: str) -> Any:
            def count(event: dict[str, Any]) -> None:
                if name == "pool:listen:success":
                    self.listen_connects += 1
                else:
                    self.errors[name] += 1

            return count

        async with AsyncClient(self.dsn, schema=self.schema, connect_timeout=5) as client:
            worker = Worker(
                client,
                {TASK: Task(TASK, handler)},
                name="failover",
                # A heartbeat every 2 s, so that the test sees one on the promoted standby.
                options=WorkerOptions(concurrency=10, poll_interval=0.5, rescue_after=6.0),
            )
            self.worker_id = worker.worker_id
            for name in (
                "pool:listen:success",
                "pool:listen:error",
                "worker:getJob:error",
                "job:settle:error",
            ):
                worker.on(name, on(name))
            await worker.start()
            self.started.set()
            try:
                while not self.stop.is_set():
                    await asyncio.sleep(0.02)
            finally:
                await worker.stop(timeout=10)


def _wait(predicate: Any, what: str, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def _count(url: str, query: sql.Composable, *args: Any) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query, args or None).fetchone()
    return int(row[0]) if row else 0


def run_failover(
    cluster: Cluster,
    *,
    before_kill: int = 200,
    after_kill: int = 100,
    producers: int = 2,
    timeout: float = 60.0,
    baseline: bool = False,
    promote_delay: float = 0.0,
) -> tuple[Result, float]:
    """Add jobs until ``before_kill`` were acknowledged, kill the primary, promote the standby,
    add until ``after_kill`` more were acknowledged, then wait until every acknowledged job
    has run or the table is empty (a job the standby never received). ``promote_delay``:
    seconds between the kill and the promotion. Returns the figures and the time of the kill
    (``time.monotonic()``)."""
    schema = f"failover_{uuid.uuid4().hex[:8]}"
    with Client(cluster.primary.url, schema=schema) as setup:
        setup.migrate()
    raw_table = sql.Identifier(schema, "raw_inserts")
    with psycopg.connect(cluster.primary.url, autocommit=True) as conn:
        conn.execute(sql.SQL("create table {} (token text primary key)").format(raw_table))
    cluster.wait_standby_caught_up()
    worker = _WorkerThread(cluster.dsn, schema)
    worker.start()
    prod = _Producers(cluster.dsn, schema, producers)
    raw = _RawProducer(cluster.dsn, raw_table)
    try:
        prod.start()
        if baseline:
            raw.start()
        _wait(lambda: len(prod.acks) >= before_kill, "jobs before the kill", timeout)
        cluster.kill_primary()
        kill_at = time.monotonic()  # every process of the primary is gone
        if promote_delay:
            time.sleep(promote_delay)  # a failover manager's detection time (bench only)
        cluster.promote()
        promoted_at = time.monotonic()
        _wait(
            lambda: sum(a.started > kill_at for a in prod.acks) >= after_kill,
            "jobs after the failover",
            timeout,
        )
        prod.join()
        raw.join()
        acked = {a.token for a in prod.acks}
        new_primary = cluster.standby.url
        jobs_left = sql.SQL("select count(*) from {}.jobs").format(sql.Identifier(schema))

        def settled() -> bool:
            ran = {r.token for r in worker.runs}
            return acked <= ran or _count(new_primary, jobs_left) == 0

        _wait(settled, "every acknowledged job to run", timeout)
        _wait(lambda: _count(new_primary, jobs_left) == 0, "the queue to drain", timeout)
        _wait(lambda: worker.listen_connects >= 2, "LISTEN on the promoted standby", timeout)
        beat = sql.SQL(
            "select count(*) from {}.workers where worker_id = %s "
            "and last_heartbeat_at > now() - make_interval(secs => %s)"
        ).format(sql.Identifier(schema))
        _wait(
            lambda: _count(new_primary, beat, worker.worker_id, time.monotonic() - promoted_at) > 0,
            "a heartbeat on the promoted standby",
            timeout,
        )
        with psycopg.connect(new_primary, autocommit=True) as conn:
            stored = {
                str(r[0]) for r in conn.execute(sql.SQL("select token from {}").format(raw_table))
            }
    finally:
        prod.join()
        raw.join()
        worker.join()
    if worker.failure is not None:
        raise worker.failure
    runs_by_token: dict[str, list[Run]] = {}
    for r in worker.runs:
        runs_by_token.setdefault(r.token, []).append(r)
    acked_before = [a for a in prod.acks if a.acked < kill_at]
    after = [a for a in prod.acks if a.started > kill_at]
    acked_tokens = {a.token for a in prod.acks}
    result = Result(
        synchronous=cluster.synchronous,
        acked_before_kill=len(acked_before),
        acked_after_kill=len(after),
        producer_errors=prod.errors,
        promote_s=promoted_at - kill_at,
        first_ack_s=min(a.acked for a in after) - kill_at,
        first_run_s=min(r.at for r in worker.runs if r.at > kill_at) - kill_at,
        lost=sorted(t for t in acked_tokens if t not in runs_by_token),
        ran_twice={t: rs for t, rs in runs_by_token.items() if len(rs) > 1},
        unacked_ran=sum(1 for t in runs_by_token if t not in acked_tokens),
        listen_connects=worker.listen_connects,
        heartbeat_after_promote=True,
        worker_errors=worker.errors,
    )
    if baseline:
        raw_after = [a for a in raw.acks if a.started > kill_at]
        result.raw_first_ack_s = min(a.acked for a in raw_after) - kill_at if raw_after else None
        result.raw_acked_before_kill = sum(a.acked < kill_at for a in raw.acks)
        result.raw_lost = sum(a.token not in stored for a in raw.acks)
    return result, kill_at
