"""Concurrency stress tests of the engine: many connections (threads, and real processes)
racing on the SQL API of one schema.

Every test is bounded: fixed loop counts, and hard deadlines on every wait. Threads start
together on a barrier; loops that wait for something poll with ``Event.wait(timeout)``.
"""

from __future__ import annotations

import multiprocessing
import queue
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from trigger_compat import (
    Client,
    DatabaseUnavailableError,
    Job,
    JobKeyMode,
    JobSpec,
    TransactionConflictError,
)
from trigger_compat.core.sqlfiles import migrations

pytestmark = pytest.mark.stress

# A hard cap on any phase of a test; a normal run of a whole test takes a few seconds.
DEADLINE_S = 30.0
# How long a thread waits on a barrier before giving up (and failing the test).
BARRIER_TIMEOUT_S = 20.0
# Poll interval of loops that wait for a condition (always an Event.wait, never a sleep).
POLL_S = 0.002


# -- helpers -------------------------------------------------------------------------------


def run_threads(
    targets: Sequence[Callable[[], None]],
    *,
    failed: threading.Event,
    barrier: threading.Barrier | None = None,
    timeout: float = DEADLINE_S,
) -> None:
    """Run each target in its own thread and join them all within ``timeout``.

    The first exception sets ``failed`` (loops watch it and stop) and breaks ``barrier``;
    the failures are re-raised here as one group (broken-barrier echoes left out).
    """
    errors: list[BaseException] = []
    lock = threading.Lock()

    def guard(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:
                with lock:
                    errors.append(exc)
                failed.set()
                if barrier is not None:
                    barrier.abort()

        return run

    threads = [
        threading.Thread(target=guard(fn), name=f"stress-{i}", daemon=True)
        for i, fn in enumerate(targets)
    ]
    for t in threads:
        t.start()
    end = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    stuck = [t.name for t in threads if t.is_alive()]
    if stuck:
        failed.set()
        if barrier is not None:
            barrier.abort()
    if errors:
        # A broken barrier is only the echo of the first real failure: report the others.
        real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)] or errors
        raise ExceptionGroup(
            "stress threads failed",
            [e if isinstance(e, Exception) else Exception(repr(e)) for e in real],
        )
    assert not stuck, f"threads still running after {timeout} s: {stuck}"


@contextmanager
def own_client(database_url: str, schema: str) -> Iterator[Client]:
    """A client with its own single connection, opened before the caller starts racing."""
    with Client(database_url, schema=schema, pool_size=1) as c:
        c.get_job(0)  # opens the pool now, not inside the race
        yield c


def table(schema: str, name: str) -> sql.Identifier:
    return sql.Identifier(schema, name)


def rows(
    db: psycopg.Connection[Any], query: sql.SQL | sql.Composed, *args: Any
) -> list[dict[str, Any]]:
    with db.cursor(row_factory=dict_row) as cur:
        cur.execute(query, args or None)
        return cur.fetchall()


def drop_schema(database_url: str, name: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(name)))


# -- 1. keyed adds racing with workers (graphile issue #580) ----------------------------------

KEYS = ("key-a", "key-b", "key-c")
ADD_JOB_THREADS = 3
ADDS_PER_THREAD = 150
BATCHES = 60
WORKER_THREADS = 4


def test_keyed_adds_racing_with_workers_never_lose_a_revision(
    database_url: str, schema: str, client: Client, db: psycopg.Connection[Any]
) -> None:
    """3 add_job threads (replace / preserve_run_at) and 1 add_jobs thread keep re-adding three
    keys while 4 workers fetch those very jobs and complete or fail them.

    Every payload is a one-element JSON array holding a unique version; a key update of a
    waiting job appends it (stored first), a running job keeps its payload and loses its key
    to a new row. So, at the end, every accepted version is in exactly one place: the payload
    of a job a worker completed, or the payload of a row still in the table. And on every row
    ever seen, len(payload) == revision + 1 (each revision added exactly one version).
    """
    failed = threading.Event()
    adders_left = [ADD_JOB_THREADS + 1]
    adders_done = threading.Event()
    lock = threading.Lock()
    accepted: list[str] = []
    executed: list[str] = []
    stats: Counter[str] = Counter()
    duplicate_keys: list[Any] = []
    monitor_polls = [0]
    barrier = threading.Barrier(ADD_JOB_THREADS + 1 + WORKER_THREADS + 1, timeout=BARRIER_TIMEOUT_S)

    def check_row(job: Job, where: str) -> None:
        assert isinstance(job.payload, list), f"{where}: payload {job.payload!r}"
        assert len(job.payload) == job.revision + 1, f"{where}: {job!r}"

    def adder_finished() -> None:
        with lock:
            adders_left[0] -= 1
            if adders_left[0] == 0:
                adders_done.set()

    def add_job_thread(n: int) -> Callable[[], None]:
        def run() -> None:
            rng = random.Random(n)
            try:
                with own_client(database_url, schema) as c:
                    barrier.wait()
                    for i in range(ADDS_PER_THREAD):
                        if failed.is_set():
                            return
                        key = rng.choice(KEYS)
                        mode: JobKeyMode = rng.choice(("replace", "preserve_run_at"))
                        version = f"add{n}.{i}"
                        job = c.add_job("stress", [version], job_key=key, job_key_mode=mode)
                        assert job.key == key, job
                        assert job.payload[-1] == version, job
                        check_row(job, "add_job result")
                        with lock:
                            accepted.append(version)
                            stats["add_job"] += 1
                            stats["add_job created a row"] += job.revision == 0
            finally:
                adder_finished()

        return run

    def add_jobs_thread() -> None:
        rng = random.Random(99)
        try:
            with own_client(database_url, schema) as c:
                barrier.wait()
                for i in range(BATCHES):
                    if failed.is_set():
                        return
                    keys = rng.sample(KEYS, k=rng.randint(1, len(KEYS)))
                    specs = [
                        JobSpec(
                            identifier="stress",
                            payload=[f"batch{i}.{key}"],
                            job_key=key,
                            job_key_mode=rng.choice((None, "replace", "preserve_run_at")),
                        )
                        for key in keys
                    ]
                    jobs = c.add_jobs(specs, job_key_preserve_run_at=rng.random() < 0.3)
                    assert len(jobs) == len(specs)
                    for spec, job in zip(specs, jobs, strict=True):
                        assert job.key == spec.job_key, job
                        assert job.payload[-1] == spec.payload[0], job
                        check_row(job, "add_jobs result")
                    with lock:
                        accepted.extend(spec.payload[0] for spec in specs)
                        stats["add_jobs specs"] += len(specs)
        finally:
            adder_finished()

    def worker_thread(n: int) -> Callable[[], None]:
        def run() -> None:
            rng = random.Random(1000 + n)
            wid = f"worker-{n}"
            with own_client(database_url, schema) as c:
                barrier.wait()
                while not adders_done.is_set() and not failed.is_set():
                    jobs = c.fetch_jobs(wid, limit=3)
                    if not jobs:
                        adders_done.wait(POLL_S)
                        continue
                    for job in jobs:
                        # A job that lost its key while running can never run again.
                        assert job.key in KEYS, job
                        assert job.locked_by == wid and job.attempts >= 1, job
                        check_row(job, "fetched job")
                        roll = rng.random()
                        if roll < 0.2:  # fails, retries at once
                            again = c.fail_job(
                                job.id, "boom", worker_id=wid, run_at=datetime.now(UTC)
                            )
                            assert again is not None and again.locked_at is None, again
                            with lock:
                                stats["failed"] += 1
                        elif roll < 0.25:  # fails, retries after the default backoff
                            again = c.fail_job(job.id, "boom", worker_id=wid)
                            assert again is not None and again.locked_at is None, again
                            with lock:
                                stats["failed with backoff"] += 1
                        else:
                            assert c.complete_jobs([job.id], worker_id=wid) == [job.id]
                            with lock:
                                executed.extend(job.payload)
                                stats["completed"] += 1

        return run

    def monitor() -> None:
        query = sql.SQL(
            "select key, count(*) as n from {} where key is not null"
            " group by key having count(*) > 1"
        ).format(table(schema, "jobs"))
        with psycopg.connect(database_url, autocommit=True) as conn:
            barrier.wait()
            while not adders_done.is_set() and not failed.is_set():
                duplicate_keys.extend(rows(conn, query))
                monitor_polls[0] += 1
                adders_done.wait(POLL_S)

    targets: list[Callable[[], None]] = [add_job_thread(n) for n in range(ADD_JOB_THREADS)]
    targets += [add_jobs_thread, monitor]
    targets += [worker_thread(n) for n in range(WORKER_THREADS)]
    started = time.monotonic()
    run_threads(targets, failed=failed, barrier=barrier)
    elapsed = time.monotonic() - started

    final = rows(db, sql.SQL("select * from {} order by id").format(table(schema, "jobs")))
    assert not duplicate_keys, duplicate_keys
    assert all(r["locked_at"] is None for r in final), "a worker left a job locked"
    keyed = Counter(r["key"] for r in final if r["key"] is not None)
    assert all(n == 1 for n in keyed.values()), keyed
    for r in final:
        assert len(r["payload"]) == r["revision"] + 1, r
    in_table = [v for r in final for v in r["payload"]]
    places = Counter(executed) + Counter(in_table)
    assert len(accepted) == ADD_JOB_THREADS * ADDS_PER_THREAD + stats["add_jobs specs"]
    assert set(places) == set(accepted), {
        "lost": sorted(set(accepted) - set(places))[:20],
        "unknown": sorted(set(places) - set(accepted))[:20],
    }
    assert all(n == 1 for n in places.values()), [v for v, n in places.items() if n > 1][:20]
    # The race was really run: workers completed jobs while adds kept coming, so many adds
    # had to create a new row for a key that already had one.
    lost_key_rows = sum(1 for r in final if r["key"] is None)
    print(
        f"\n[keyed race] {elapsed:.2f}s {dict(stats)} rows={len(final)} "
        f"lost_key_rows={lost_key_rows} monitor_polls={monitor_polls[0]}"
    )
    assert stats["completed"] > 0 and stats["add_job created a row"] > len(KEYS)


# -- 2. no job is handed to two workers (real processes) --------------------------------------

PROCESSES = 8
UNQUEUED_JOBS = 1200
WIDE_QUEUE_JOBS = 400  # one named queue whose concurrency never binds: the queue fetch path


def _fetcher_process(
    database_url: str,
    schema: str,
    worker_id: str,
    seed: int,
    barrier: Any,
    results: Any,
    deadline: float,
) -> None:
    """One worker process: fetch batches until nothing is available; complete every other
    batch. Sends ("ok", worker_id, [(id, attempts, locked_by)], completed ids) or ("error", ...)."""
    got: list[tuple[int, int, str | None]] = []
    completed: list[int] = []
    try:
        rng = random.Random(seed)
        available = sql.SQL("select exists (select 1 from {} where is_available)").format(
            table(schema, "jobs")
        )
        with (
            own_client(database_url, schema) as c,
            psycopg.connect(database_url, autocommit=True) as conn,
        ):
            barrier.wait()
            batches = 0
            while time.time() < deadline:
                jobs = c.fetch_jobs(worker_id, limit=rng.randint(2, 8))
                if not jobs:
                    # Empty: either all is taken, or a queue was busy with another fetcher.
                    row = conn.execute(available).fetchone()
                    if row is not None and not row[0]:
                        break
                    continue
                got.extend((j.id, j.attempts, j.locked_by) for j in jobs)
                batches += 1
                if batches % 2 == 0:
                    ids = [j.id for j in jobs]
                    done = c.complete_jobs(ids, worker_id=worker_id)
                    assert sorted(done) == sorted(ids), (done, ids)
                    completed.extend(done)
        results.put(("ok", worker_id, got, completed))
    except BaseException as exc:
        results.put(("error", worker_id, repr(exc), []))


def process_context() -> Any:
    """Fork (fast) when this process has no other thread to copy half-way; otherwise fork
    from a single-threaded server."""
    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


def test_no_job_is_handed_to_two_worker_processes(
    database_url: str, schema: str, db: psycopg.Connection[Any]
) -> None:
    """8 worker processes fetch (limit 2-8) from 1600 jobs, 400 of them in a named queue, and
    complete every other batch: the id sets they got are disjoint, their union is every job,
    every job was fetched on its first attempt, and the jobs not completed are still locked
    by exactly the process that reported them."""
    # Set up on a plain connection: no pool threads in this process when it forks.
    client = Client(db, schema=schema)
    client.migrate()
    client.set_queue_concurrency("wide", 100_000)
    specs = [JobSpec(identifier="stress", payload={"n": n}) for n in range(UNQUEUED_JOBS)]
    specs += [
        JobSpec(identifier="stress", payload={"n": n}, queue_name="wide")
        for n in range(WIDE_QUEUE_JOBS)
    ]
    all_ids = {job.id for job in client.add_jobs(specs)}
    assert len(all_ids) == len(specs)

    ctx = process_context()
    barrier = ctx.Barrier(PROCESSES, timeout=BARRIER_TIMEOUT_S)
    results = ctx.Queue()
    deadline = time.time() + DEADLINE_S
    procs = [
        ctx.Process(
            target=_fetcher_process,
            args=(database_url, schema, f"proc-{n}", n, barrier, results, deadline),
            daemon=True,
        )
        for n in range(PROCESSES)
    ]
    started = time.monotonic()
    for p in procs:
        p.start()
    reports = []
    try:
        for _ in procs:
            reports.append(results.get(timeout=max(0.1, deadline + 10 - time.time())))
    except queue.Empty:
        pytest.fail(f"only {len(reports)} of {PROCESSES} worker processes reported")
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    elapsed = time.monotonic() - started

    errors = [r for r in reports if r[0] != "ok"]
    assert not errors, errors
    owner: dict[int, str] = {}
    completed: set[int] = set()
    for _, worker_id, got, done in reports:
        for job_id, attempts, locked_by in got:
            assert job_id not in owner, f"job {job_id} went to {owner[job_id]} and {worker_id}"
            owner[job_id] = worker_id
            assert attempts == 1 and locked_by == worker_id, (job_id, attempts, locked_by)
        completed |= set(done)
    assert set(owner) == all_ids, f"never fetched: {sorted(all_ids - set(owner))[:20]}"
    left = rows(db, sql.SQL("select id, locked_by, attempts from {}").format(table(schema, "jobs")))
    assert {r["id"] for r in left} == all_ids - completed
    for r in left:
        assert r["locked_by"] == owner[r["id"]] and r["attempts"] == 1, r
    per_worker = Counter(owner.values())
    print(f"\n[processes] {elapsed:.2f}s per worker={dict(sorted(per_worker.items()))}")


# -- 3. named queues never run more jobs at once than their concurrency ------------------------

QUEUE_LIMITS = {"serial": 1, "trio-a": 3, "trio-b": 3}  # "serial" keeps the default
JOBS_PER_QUEUE = 40
UNQUEUED_QUEUE_TEST_JOBS = 40
QUEUE_WORKERS = 8


def test_named_queues_respect_their_concurrency_under_eight_workers(
    database_url: str, schema: str, client: Client
) -> None:
    """8 worker threads fetch (limit 1-4), complete, or fail-and-retry-at-once, until every job
    is done. Two independent observations of "running jobs per queue":

    * the database: right after each fetch commits, the fetching worker counts the locked jobs
      per queue in one snapshot; no snapshot may exceed a queue's limit;
    * the workers: each job counts as held from the moment its fetch returned until just
      before its complete/fail call (an interval inside the database's lock interval); a
      counter of held jobs per queue, updated under one lock, may never exceed the limit.
    """
    for name, limit in QUEUE_LIMITS.items():
        if limit != 1:
            client.set_queue_concurrency(name, limit)
    specs = [
        JobSpec(identifier="stress", payload={"q": name, "n": n}, queue_name=name)
        for n in range(JOBS_PER_QUEUE)
        for name in QUEUE_LIMITS
    ]
    specs += [
        JobSpec(identifier="stress", payload={"n": n}) for n in range(UNQUEUED_QUEUE_TEST_JOBS)
    ]
    all_ids = {job.id for job in client.add_jobs(specs)}
    total = len(all_ids)

    failed = threading.Event()
    all_done = threading.Event()
    lock = threading.Lock()
    held: Counter[str] = Counter()
    max_held: Counter[str] = Counter()
    max_seen_in_db: Counter[str] = Counter()
    over_limit: list[str] = []
    completed: list[int] = []
    retried = [0]
    barrier = threading.Barrier(QUEUE_WORKERS, timeout=BARRIER_TIMEOUT_S)
    running_per_queue = sql.SQL(
        "select queue_name, count(*) as n from {} where locked_at is not null"
        " and queue_name is not null group by queue_name"
    ).format(table(schema, "jobs"))

    def worker(n: int) -> Callable[[], None]:
        def run() -> None:
            rng = random.Random(n)
            wid = f"worker-{n}"
            with (
                own_client(database_url, schema) as c,
                psycopg.connect(database_url, autocommit=True) as conn,
            ):
                barrier.wait()
                while not all_done.is_set() and not failed.is_set():
                    jobs = c.fetch_jobs(wid, limit=rng.randint(1, 4))
                    with lock:
                        for job in jobs:
                            if job.queue_name is not None:
                                held[job.queue_name] += 1
                                max_held[job.queue_name] = max(
                                    max_held[job.queue_name], held[job.queue_name]
                                )
                                if held[job.queue_name] > QUEUE_LIMITS[job.queue_name]:
                                    over_limit.append(f"workers hold {dict(held)}")
                    for r in rows(conn, running_per_queue):
                        with lock:
                            max_seen_in_db[r["queue_name"]] = max(
                                max_seen_in_db[r["queue_name"]], r["n"]
                            )
                        if r["n"] > QUEUE_LIMITS[r["queue_name"]]:
                            over_limit.append(f"database: {r}")
                    if not jobs:
                        all_done.wait(POLL_S)
                        continue
                    for job in jobs:
                        if job.queue_name is not None:
                            with lock:
                                held[job.queue_name] -= 1
                        if job.attempts == 1 and rng.random() < 0.15:
                            again = c.fail_job(
                                job.id, "boom", worker_id=wid, run_at=datetime.now(UTC)
                            )
                            assert again is not None, job
                            with lock:
                                retried[0] += 1
                            continue
                        assert c.complete_jobs([job.id], worker_id=wid) == [job.id]
                        with lock:
                            completed.append(job.id)
                            if len(completed) == total:
                                all_done.set()

        return run

    started = time.monotonic()
    run_threads([worker(n) for n in range(QUEUE_WORKERS)], failed=failed, barrier=barrier)
    elapsed = time.monotonic() - started
    print(
        f"\n[queues] {elapsed:.2f}s retried={retried[0]} max held={dict(max_held)}"
        f" max in db={dict(max_seen_in_db)}"
    )
    assert not over_limit, over_limit[:10]
    assert sorted(completed) == sorted(all_ids), "every job completes exactly once"
    # The limits were reached, not merely respected by a queue that never got busy.
    assert max(max_seen_in_db["trio-a"], max_seen_in_db["trio-b"]) >= 2, max_seen_in_db


# -- 4. unsafe_dedupe from 8 connections ---------------------------------------------------

DEDUPE_THREADS = 8
DEDUPE_ROUNDS = 15
DEDUPE_ADDS_PER_THREAD = 20


def test_concurrent_unsafe_dedupe_adds_make_exactly_one_job(
    database_url: str, schema: str, client: Client, db: psycopg.Connection[Any]
) -> None:
    """Round after round, 8 connections add one fresh key at the same instant (the insert
    race); then all 8 add one shared key 20 times each. Every key ends with exactly one job
    whose revision is the number of adds minus one; the adds saw revisions 0..n-1, each once,
    and the job kept the payload of the add that created it (revision 0)."""
    failed = threading.Event()
    barrier = threading.Barrier(DEDUPE_THREADS, timeout=BARRIER_TIMEOUT_S)
    lock = threading.Lock()
    seen: dict[str, list[Job]] = {}

    def adder(n: int) -> Callable[[], None]:
        def run() -> None:
            with own_client(database_url, schema) as c:
                for r in range(DEDUPE_ROUNDS):
                    barrier.wait()
                    key = f"round-{r}"
                    job = c.add_job("stress", {"by": n}, job_key=key, job_key_mode="unsafe_dedupe")
                    with lock:
                        seen.setdefault(key, []).append(job)
                barrier.wait()
                for i in range(DEDUPE_ADDS_PER_THREAD):
                    if failed.is_set():
                        return
                    job = c.add_job(
                        "stress", {"by": n, "i": i}, job_key="shared", job_key_mode="unsafe_dedupe"
                    )
                    with lock:
                        seen.setdefault("shared", []).append(job)

        return run

    run_threads([adder(n) for n in range(DEDUPE_THREADS)], failed=failed, barrier=barrier)

    final = rows(db, sql.SQL("select * from {}").format(table(schema, "jobs")))
    assert len(final) == DEDUPE_ROUNDS + 1, "one job per key"
    by_key = {r["key"]: r for r in final}
    assert set(by_key) == set(seen)
    for key, results in seen.items():
        row = by_key[key]
        assert {job.id for job in results} == {row["id"]}, key
        assert row["revision"] == len(results) - 1, (key, row["revision"], len(results))
        assert sorted(job.revision for job in results) == list(range(len(results))), key
        [creator] = [job for job in results if job.revision == 0]
        assert row["payload"] == creator.payload, key
    assert len(seen["shared"]) == DEDUPE_THREADS * DEDUPE_ADDS_PER_THREAD
    assert all(len(seen[f"round-{r}"]) == DEDUPE_THREADS for r in range(DEDUPE_ROUNDS))


# -- 5. concurrent migrate() of one fresh schema ---------------------------------------------

MIGRATE_THREADS = 8
MIGRATE_ROUNDS = 3


def migrate_together(database_url: str, name: str) -> list[list[int]]:
    """8 clients, each on its own open pool, call migrate() on ``name`` at one instant."""
    failed = threading.Event()
    barrier = threading.Barrier(MIGRATE_THREADS, timeout=BARRIER_TIMEOUT_S)
    applied: list[list[int]] = []
    lock = threading.Lock()

    def migrator() -> None:
        with ConnectionPool(
            database_url, min_size=1, max_size=1, kwargs={"autocommit": True}, open=False
        ) as pool:
            pool.wait(timeout=BARRIER_TIMEOUT_S)
            c = Client(pool, schema=name)
            barrier.wait()
            result = c.migrate()
            with lock:
                applied.append(result)

    run_threads([migrator] * MIGRATE_THREADS, failed=failed, barrier=barrier)
    return applied


def test_concurrent_migrate_of_a_fresh_schema_applies_each_migration_once(
    database_url: str,
) -> None:
    """8 clients migrate one fresh schema at the same instant (3 rounds, 3 schemas): every call
    succeeds, each migration is applied by exactly one of them, and the schema then works."""
    versions = [m.version for m in migrations()]
    for _ in range(MIGRATE_ROUNDS):
        name = f"t_{uuid.uuid4().hex[:12]}"
        try:
            applied = migrate_together(database_url, name)
            assert len(applied) == MIGRATE_THREADS
            assert sorted(v for result in applied for v in result) == versions, applied
            with Client(database_url, schema=name, pool_size=1) as c:
                assert c.migrate() == []
                job = c.add_job("after-migrate", {"ok": True})
                assert [j.id for j in c.fetch_jobs("w")] == [job.id]
        finally:
            drop_schema(database_url, name)


# -- keyed batches racing each other; deadlocks reported as conflicts -----------------------

OVERLAP_KEYS = tuple(f"overlap-{i}" for i in range(4))
BATCH_THREADS = 4
BATCHES_PER_THREAD = 150


def test_add_jobs_batches_sharing_keys_do_not_deadlock(
    database_url: str, schema: str, client: Client
) -> None:
    """4 threads add batches of 2-4 of the same 4 keys (always in sorted key order, default
    replace mode) while 4 workers fetch and complete those jobs. Every batch should return
    its rows; none should fail. A fetch may yield (lock_timeout: PostgreSQL's SKIP LOCKED
    still waits on a row whose newer version is being changed) and is run again, as the
    worker does; a batch or a completion must never fail. Stops at the first failure."""
    failed = threading.Event()
    batchers_left = [BATCH_THREADS]
    batchers_done = threading.Event()
    lock = threading.Lock()
    batch_errors: list[str] = []
    barrier = threading.Barrier(2 * BATCH_THREADS, timeout=BARRIER_TIMEOUT_S)

    def batcher(n: int) -> Callable[[], None]:
        def run() -> None:
            rng = random.Random(n)
            try:
                with own_client(database_url, schema) as c:
                    barrier.wait()
                    for i in range(BATCHES_PER_THREAD):
                        if failed.is_set() or batch_errors:
                            return
                        keys = sorted(rng.sample(OVERLAP_KEYS, k=rng.randint(2, 4)))
                        specs = [
                            JobSpec(identifier="stress", payload=[f"{n}.{i}"], job_key=k)
                            for k in keys
                        ]
                        try:
                            jobs = c.add_jobs(specs)
                        except Exception as exc:
                            with lock:
                                batch_errors.append(f"{type(exc).__name__}: {exc}")
                            return
                        assert [j.key for j in jobs] == keys
            finally:
                with lock:
                    batchers_left[0] -= 1
                    if batchers_left[0] == 0:
                        batchers_done.set()

        return run

    def worker(n: int) -> Callable[[], None]:
        def run() -> None:
            wid = f"worker-{n}"
            with own_client(database_url, schema) as c:
                barrier.wait()
                while not batchers_done.is_set() and not failed.is_set():
                    try:
                        jobs = c.fetch_jobs(wid, limit=3)
                    except TransactionConflictError:
                        continue  # nothing was fetched: fetch again
                    if not jobs:
                        batchers_done.wait(POLL_S)
                    for job in jobs:
                        try:
                            c.complete_jobs([job.id], worker_id=wid)
                        except Exception as exc:
                            with lock:
                                batch_errors.append(f"complete_jobs {type(exc).__name__}: {exc}")

        return run

    targets = [batcher(n) for n in range(BATCH_THREADS)] + [worker(n) for n in range(BATCH_THREADS)]
    run_threads(targets, failed=failed, barrier=barrier)
    assert not batch_errors, batch_errors[0]


def test_a_deadlock_is_not_reported_as_an_unreachable_database(
    database_url: str, schema: str, client: Client, db: psycopg.Connection[Any]
) -> None:
    """Two transactions add keys "a" then "b", and "b" then "a": PostgreSQL aborts one with
    40P01. The client must report a deadlock (retryable), not a connection problem."""
    with psycopg.connect(database_url) as one, psycopg.connect(database_url) as two:
        for conn in (one, two):
            conn.execute("set deadlock_timeout = '50ms'")
            conn.commit()
        pid_one = one.info.backend_pid
        client.add_job("stress", job_key="a", tx=one)
        client.add_job("stress", job_key="b", tx=two)
        outcome: dict[str, BaseException | None] = {}

        def one_adds_b() -> None:
            try:
                client.add_job("stress", job_key="b", tx=one)
                outcome["one"] = None
            except BaseException as exc:
                outcome["one"] = exc

        blocked = threading.Thread(target=one_adds_b, daemon=True)
        blocked.start()
        waiting = sql.SQL(
            "select count(*) as n from pg_stat_activity where pid = %s and wait_event_type = 'Lock'"
        )
        deadline = time.monotonic() + BARRIER_TIMEOUT_S
        never = threading.Event()
        while rows(db, waiting, pid_one)[0]["n"] == 0:  # poll until "one" waits for "two"
            assert time.monotonic() < deadline, "the first transaction never blocked"
            never.wait(POLL_S)
        try:
            client.add_job("stress", job_key="a", tx=two)
            outcome["two"] = None
        except BaseException as exc:
            outcome["two"] = exc
        blocked.join(BARRIER_TIMEOUT_S)
        assert not blocked.is_alive()
        one.rollback()
        two.rollback()
    errors = [e for e in outcome.values() if e is not None]
    assert len(errors) == 1, outcome  # exactly one deadlock victim
    [error] = errors
    assert "deadlock detected" in str(error), error
    assert not isinstance(error, DatabaseUnavailableError), f"{type(error).__name__}: {error}"
    assert isinstance(error, TransactionConflictError), f"{type(error).__name__}: {error}"


def test_a_lock_timeout_is_reported_as_a_conflict(
    database_url: str, schema: str, client: Client
) -> None:
    """A statement that gives up a lock wait (lock_timeout, 55P03; fetch_jobs sets one) is
    a retryable conflict too, not a connection problem."""
    client.add_job("stress", job_key="held")
    with psycopg.connect(database_url) as holder, psycopg.connect(database_url) as waiter:
        client.add_job("stress", job_key="held", tx=holder)  # holds the row
        waiter.execute("set lock_timeout = '20ms'")
        with pytest.raises(TransactionConflictError, match="55P03"):
            client.add_job("stress", job_key="held", tx=waiter)
        waiter.rollback()
        holder.rollback()
