"""The worker in one process: order, outcomes (retry, backoff, timeout, snooze, cancel, final
failure), handlers (payload checks, pydantic models, threads, helpers), events, LISTEN and
polling, forbidden flags, task sets and ``run_once``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from pydantic import BaseModel

from trigger_compat import AsyncClient
from trigger_compat.core.jobs import Job
from trigger_compat.core.outcomes import JobCancel, JobSnooze
from trigger_compat.core.sqlfiles import notify_channel
from trigger_compat.runtime.tasks import AbortSignal, Helpers, Task
from trigger_compat.runtime.worker import Worker, WorkerOptions
from trigger_compat.runtime.zodworker import ZodWorker

from ._support import T0, FakeClock, job_row, jobs_table, make_catalog, q, wait_for

FAST = WorkerOptions(concurrency=4, poll_interval=0.1, rescue_after=2, shutdown_timeout=5)


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    await worker.start()
    try:
        yield worker
    finally:
        await asyncio.wait_for(worker.stop(timeout=5), 30)


def backoff(attempts: int) -> timedelta:
    import math

    return timedelta(seconds=math.exp(min(attempts, 10)))


def close(a: datetime, b: datetime) -> bool:
    return abs((a - b).total_seconds()) < 0.001


# -- order -----------------------------------------------------------------------------------


async def test_order_is_priority_then_run_at_then_id(aclient: AsyncClient) -> None:
    seen: list[str] = []

    async def handler(payload: Any, job: Job) -> None:
        seen.append(payload["name"])

    base = datetime.now(T0.tzinfo) - timedelta(hours=1)
    specs = [
        ("late-p0", 0, base + timedelta(minutes=2)),
        ("p5", 5, base),
        ("early-p0-b", 0, base),
        ("neg", -3, base + timedelta(minutes=5)),
        ("early-p0-a", 0, base),
        ("p1", 1, base + timedelta(minutes=9)),
    ]
    added = {}
    for name, priority, run_at in specs:
        added[name] = await aclient.add_job("t", {"name": name}, priority=priority, run_at=run_at)
    assert added["early-p0-b"].id < added["early-p0-a"].id  # the same key: id decides
    worker = Worker(aclient, {"t": Task("t", handler)}, options=WorkerOptions(concurrency=1))
    assert await worker.run_once() == 6
    assert seen == ["neg", "early-p0-b", "early-p0-a", "late-p0", "p1", "p5"]


# -- retry and backoff -----------------------------------------------------------------------


async def test_default_backoff_is_written_from_the_injected_clock(
    database_url: str, schema: str, db: psycopg.Connection[Any], clock: FakeClock
) -> None:
    async with AsyncClient(database_url, schema=schema, clock=clock) as c:
        await c.migrate()

        async def fail(payload: Any, job: Job) -> None:
            raise RuntimeError(f"attempt {job.attempts}")

        job = await c.add_job("t", {}, max_attempts=4)
        assert job.run_at == T0
        worker = Worker(c, {"t": Task("t", fail)}, options=WorkerOptions(concurrency=1))
        expected = T0
        for attempt in (1, 2, 3):
            assert await worker.run_once() == 1
            row = job_row(db, schema, job.id)
            assert row is not None
            expected = max(clock.now, expected) + backoff(attempt)
            assert row["attempts"] == attempt
            assert close(row["run_at"], expected), (row["run_at"], expected)
            assert row["last_error"].partition("\n")[0] == f"RuntimeError: attempt {attempt}"
            assert "Traceback (most recent call last):" in row["last_error"]
            assert 'raise RuntimeError(f"attempt {job.attempts}")' in row["last_error"]
            assert row["locked_at"] is None
            assert await worker.run_once() == 0  # not due yet at clock time
            clock.advance((expected - clock.now).total_seconds() + 0.5)
        # Fourth and final attempt: the row stays, attempts = max_attempts, error kept.
        assert await worker.run_once() == 1
        row = job_row(db, schema, job.id)
        assert row is not None
        assert row["attempts"] == row["max_attempts"] == 4
        assert row["last_error"].partition("\n")[0] == "RuntimeError: attempt 4"
        clock.advance(100_000)
        assert await worker.run_once() == 0  # a permanently failed job never runs again


async def test_backoff_starts_from_a_future_run_at(
    database_url: str, schema: str, db: psycopg.Connection[Any], clock: FakeClock
) -> None:
    """max(now, run_at): a job whose run_at is ahead of the clock backs off from run_at."""
    async with AsyncClient(database_url, schema=schema, clock=clock) as c:
        await c.migrate()

        async def fail(payload: Any, job: Job) -> None:
            clock.now = T0  # the clock goes back while the job runs: now < run_at at failure
            raise RuntimeError("x")

        job = await c.add_job("t", {}, run_at=T0 + timedelta(seconds=30))
        clock.advance(31)
        worker = Worker(c, {"t": Task("t", fail)}, options=WorkerOptions(concurrency=1))
        assert await worker.run_once() == 1
        row = job_row(db, schema, job.id)
        assert row is not None
        assert close(row["run_at"], T0 + timedelta(seconds=30) + backoff(1))


async def test_task_next_retry_overrides_the_backoff(
    database_url: str, schema: str, db: psycopg.Connection[Any], clock: FakeClock
) -> None:
    async with AsyncClient(database_url, schema=schema, clock=clock) as c:
        await c.migrate()
        seen: list[tuple[int, str]] = []

        def next_retry(job: Job, error: BaseException) -> datetime | None:
            seen.append((job.attempts, str(error)))
            return T0 + timedelta(minutes=7) if job.attempts == 1 else None

        async def fail(payload: Any, job: Job) -> None:
            raise ValueError("nope")

        job = await c.add_job("t", {})
        worker = Worker(
            c,
            {"t": Task("t", fail, next_retry=next_retry)},
            options=WorkerOptions(concurrency=1),
        )
        await worker.run_once()
        row = job_row(db, schema, job.id)
        assert row is not None and row["run_at"] == T0 + timedelta(minutes=7)
        clock.advance(7 * 60)
        await worker.run_once()  # next_retry returns None: the default backoff
        row = job_row(db, schema, job.id)
        assert row is not None
        assert close(row["run_at"], clock.now + backoff(2))
        assert seen == [(1, "nope"), (2, "nope")]


RETRY_CATALOG = """
workers:
  w:
    tasks:
      flaky:
        maxAttempts: 5
        retry: {minTimeoutInMs: 1000, factor: 3, maxTimeoutInMs: 5000}
      other: {}
"""


async def test_catalog_retry_setting(
    tmp_path: Path, database_url: str, schema: str, db: psycopg.Connection[Any], clock: FakeClock
) -> None:
    catalog = make_catalog(tmp_path, RETRY_CATALOG)

    async def fail(payload: Any, job: Job) -> None:
        raise RuntimeError("flaky")

    zw = ZodWorker(
        "w",
        catalog,
        handlers={"flaky": fail, "other": fail},
        database_url=database_url,
        schema=schema,
        clock=clock,
    )
    try:
        await zw.client.migrate()
        job = await zw.enqueue("flaky", {})
        other = await zw.enqueue("other", {})
        assert await zw.run_once() == 2
        # A task without `retry` keeps the default exp(attempts) backoff.
        row = job_row(db, schema, other.id)
        assert row is not None and close(row["run_at"], T0 + backoff(1))
        # delay after the n-th failure: min(5000, 1000 × 3^(n−1)) ms
        for attempt, delay in ((1, 1.0), (2, 3.0), (3, 5.0)):
            row = job_row(db, schema, job.id)
            assert row is not None and row["attempts"] == attempt
            assert close(row["run_at"], clock.now + timedelta(seconds=delay)), row["run_at"]
            clock.advance(delay)
            if attempt < 3:
                assert await zw.run_once() >= 1
    finally:
        await zw.stop()


# -- timeout, snooze, cancel, final failure ---------------------------------------------------


async def test_timeout_cancels_the_handler_and_fails_the_job(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    cancelled = asyncio.Event()
    aborted: list[str | None] = []

    async def forever(payload: Any, job: Job, helpers: Helpers) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            aborted.append(helpers.abort_signal.reason)
            raise

    job = await aclient.add_job("t", {})
    worker = Worker(aclient, {"t": Task("t", forever, timeout=0.2)}, options=FAST)
    assert await worker.run_once() == 1
    assert cancelled.is_set()
    row = job_row(db, schema, job.id)
    assert row is not None
    assert row["attempts"] == 1 and row["locked_at"] is None
    assert "timed out after 0.2 s" in row["last_error"]
    assert row["last_error"].startswith("JobTimeoutError")


async def test_a_sync_handler_waiting_on_its_abort_signal_is_woken_by_the_timeout(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    """A sync handler runs on a thread, which the timeout cannot cancel: it learns of the
    timeout from helpers.abort_signal (wait_sync returns True, reason "timeout")."""
    seen: list[tuple[bool, str | None]] = []
    woken = threading.Event()

    def blocking(payload: Any, job: Job, helpers: Helpers) -> None:
        seen.append((helpers.abort_signal.wait_sync(30), helpers.abort_signal.reason))
        woken.set()

    job = await aclient.add_job("t", {})
    worker = Worker(aclient, {"t": Task("t", blocking, timeout=0.2)}, options=FAST)
    assert await worker.run_once() == 1
    assert await asyncio.to_thread(woken.wait, 10), "the handler's thread was never woken"
    assert seen == [(True, "timeout")]
    row = job_row(db, schema, job.id)
    assert row is not None and row["last_error"].startswith("JobTimeoutError")


async def test_abort_signal_wakes_waiters_set_before_or_after_they_wait() -> None:
    """The signal's events are made only when somebody waits: a wait that starts after the
    abort returns at once, and one already waiting (async or on a thread) is woken."""
    early = AbortSignal()
    early.set("shutdown")
    assert early.is_set() and early.aborted and early.reason == "shutdown"
    await asyncio.wait_for(early.wait(), 5)
    assert early.wait_sync(0)

    late = AbortSignal()
    assert not late.is_set() and not late.wait_sync(0.01)
    waiting = asyncio.ensure_future(late.wait())
    on_thread = asyncio.ensure_future(asyncio.to_thread(late.wait_sync, 30))
    deadline = asyncio.get_running_loop().time() + 10
    while late._event is None or late._async_event is None:  # both waiters are waiting
        assert asyncio.get_running_loop().time() < deadline, "the waiters never started"
        await asyncio.sleep(0.001)
    assert not waiting.done() and not on_thread.done()
    late.set("timeout")
    await asyncio.wait_for(waiting, 5)
    assert await asyncio.wait_for(on_thread, 5) is True
    assert late.reason == "timeout"


async def test_snooze_moves_run_at_without_using_an_attempt(
    database_url: str, schema: str, db: psycopg.Connection[Any], clock: FakeClock
) -> None:
    async with AsyncClient(database_url, schema=schema, clock=clock) as c:
        await c.migrate()
        runs: list[int] = []

        async def snooze(payload: Any, job: Job) -> None:
            runs.append(job.attempts)
            if len(runs) == 1:
                raise RuntimeError("first")
            raise JobSnooze(90)

        job = await c.add_job("t", {}, max_attempts=2)
        worker = Worker(c, {"t": Task("t", snooze)}, options=WorkerOptions(concurrency=1))
        await worker.run_once()
        clock.advance(10)
        await worker.run_once()  # attempt 2 snoozes
        row = job_row(db, schema, job.id)
        assert row is not None
        assert row["attempts"] == 1  # unchanged by the snooze
        assert row["run_at"] == clock.now + timedelta(seconds=90)
        assert row["last_error"].partition("\n")[0] == "RuntimeError: first"  # kept
        clock.advance(90)
        await worker.run_once()  # still has its second attempt
        assert runs == [1, 2, 2]


async def test_cancel_fails_for_good_now(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    async def cancel(payload: Any, job: Job) -> None:
        raise JobCancel("account closed")

    job = await aclient.add_job("t", {}, max_attempts=10)
    worker = Worker(aclient, {"t": Task("t", cancel)}, options=FAST)
    assert await worker.run_once() == 1
    row = job_row(db, schema, job.id)
    assert row is not None
    assert row["attempts"] == row["max_attempts"] == 10
    assert row["last_error"].partition("\n")[0] == "JobCancel: account closed"
    assert row["locked_at"] is None
    assert await worker.run_once() == 0


async def test_on_final_failure_delete(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    async def fail(payload: Any, job: Job) -> None:
        raise RuntimeError("bad")

    first = await aclient.add_job("t", {}, max_attempts=2)
    worker = Worker(
        aclient,
        {"t": Task("t", fail)},
        options=WorkerOptions(concurrency=1, on_final_failure="delete"),
    )
    await worker.run_once()
    row = job_row(db, schema, first.id)
    assert row is not None and row["attempts"] == 1  # not final: kept for its retry
    db.execute(q(schema, "update {s}.jobs set run_at = now() - interval '1 hour'"))
    await worker.run_once()
    assert job_row(db, schema, first.id) is None  # final failure: deleted

    # The default keeps it.
    kept = await aclient.add_job("t", {}, max_attempts=1)
    await Worker(aclient, {"t": Task("t", fail)}, options=WorkerOptions(concurrency=1)).run_once()
    row = job_row(db, schema, kept.id)
    assert (
        row is not None
        and row["attempts"] == 1
        and row["last_error"].partition("\n")[0] == "RuntimeError: bad"
    )


# -- error_handler -----------------------------------------------------------------------------


async def test_error_handler_sees_failures_and_cannot_crash_the_worker(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    seen: list[tuple[int, str]] = []

    def sync_handler(job: Job, error: BaseException) -> None:
        seen.append((job.id, str(error)))
        raise RuntimeError("error_handler is broken")

    async def fail(payload: Any, job: Job) -> None:
        raise ValueError(f"fail {payload['n']}")

    done = asyncio.Event()

    async def ok(payload: Any, job: Job) -> None:
        done.set()

    failing = [await aclient.add_job("fail", {"n": n}) for n in range(3)]
    worker = Worker(
        aclient,
        {"fail": Task("fail", fail), "ok": Task("ok", ok)},
        options=FAST,
        error_handler=sync_handler,
    )
    async with running(worker):
        await wait_for(lambda: len(seen) == 3, "three failures seen by error_handler")
        await aclient.add_job("ok", {})
        await asyncio.wait_for(done.wait(), 30)  # the worker still runs jobs
    assert sorted(seen) == [(j.id, f"fail {n}") for n, j in enumerate(failing)]
    for j in failing:
        row = job_row(db, schema, j.id)
        assert (
            row is not None
            and row["last_error"].partition("\n")[0] == f"ValueError: fail {j.payload['n']}"
        )

    # An async error_handler that raises is as harmless.
    async def async_handler(job: Job, error: BaseException) -> None:
        seen.append((job.id, "async"))
        raise RuntimeError("async error_handler is broken")

    again = await aclient.add_job("fail", {"n": 9})
    worker2 = Worker(
        aclient, {"fail": Task("fail", fail)}, options=FAST, error_handler=async_handler
    )
    assert await worker2.run_once() == 1
    await wait_for(lambda: (again.id, "async") in seen, "the async error_handler ran")


# -- handlers ----------------------------------------------------------------------------------

SCHEMA_CATALOG = """
workers:
  w:
    onFinalFailure: delete
    tasks:
      greet:
        maxAttempts: 1
        schema:
          type: object
          properties: {name: {type: string}}
          required: [name]
          additionalProperties: false
"""


class Greeting(BaseModel):
    name: str


async def test_payload_failing_its_schema_is_a_job_error(
    tmp_path: Path, database_url: str, schema: str, db: psycopg.Connection[Any]
) -> None:
    catalog = make_catalog(tmp_path, SCHEMA_CATALOG)
    received: list[Any] = []

    async def greet(payload: Greeting, job: Job) -> None:
        received.append(payload)

    errors: list[BaseException] = []
    zw = ZodWorker(
        "w",
        catalog,
        handlers={"greet": greet},
        database_url=database_url,
        schema=schema,
        error_handler=lambda job, error: errors.append(error),
    )
    try:
        await zw.client.migrate()
        good = await zw.enqueue("greet", {"name": "Ada"})
        # Written behind enqueue's back (an old producer): it fails the schema at run time.
        bad = await zw.client.add_job("greet", {"name": 42}, max_attempts=1)
        assert await zw.run_once() == 2
        assert received == [Greeting(name="Ada")]
        assert isinstance(received[0], Greeting)
        assert job_row(db, schema, good.id) is None
        row = job_row(db, schema, bad.id)
        # onFinalFailure: delete never swallows a payload error: the job stays, failed.
        assert row is not None and row["attempts"] == 1
        assert "greet" in row["last_error"] and "name" in row["last_error"]
        assert len(errors) == 1
    finally:
        await zw.stop()


async def test_pydantic_model_payload_without_catalog(aclient: AsyncClient) -> None:
    got: list[Greeting] = []

    async def greet(payload: Greeting, job: Job) -> None:
        got.append(payload)

    await aclient.add_job("greet", {"name": "Grace"})
    await Worker(aclient, {"greet": Task("greet", greet)}, options=FAST).run_once()
    assert got == [Greeting(name="Grace")]


async def test_sync_handlers_run_on_threads_and_add_jobs(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    main_thread = threading.get_ident()
    threads: list[int] = []
    followed: list[Any] = []

    def parent(payload: Any, job: Job, helpers: Helpers) -> None:
        threads.append(threading.get_ident())
        helpers.add_job_sync("child", {"from": job.id, "via": "sync"})

    async def async_parent(payload: Any, job: Job, helpers: Helpers) -> None:
        follow = await helpers.add_job("child", {"from": job.id, "via": "async"}, priority=-1)
        assert follow.task_identifier == "child"

    def child(payload: Any, job: Job) -> None:
        followed.append(payload)

    p1 = await aclient.add_job("parent", {})
    p2 = await aclient.add_job("async_parent", {})
    worker = Worker(
        aclient,
        {
            "parent": Task("parent", parent),
            "async_parent": Task("async_parent", async_parent),
            "child": Task("child", child),
        },
        options=FAST,
    )
    assert await worker.run_once() == 4  # run_once also runs the follow-ups
    assert threads and all(t != main_thread for t in threads)
    assert sorted(followed, key=lambda p: p["via"]) == [
        {"from": p2.id, "via": "async"},
        {"from": p1.id, "via": "sync"},
    ]
    assert jobs_table(db, schema) == []


async def test_a_job_without_handler_fails_with_a_clear_error(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    """A worker only fetches its own tasks, but a handler map can still miss one (changed
    between fetch and run); the job fails like any error."""

    async def ok(payload: Any, job: Job) -> None:
        pass

    worker = Worker(aclient, {"t": Task("t", ok)}, options=FAST)
    job = await aclient.add_job("t", {})
    worker.tasks.pop("t")
    jobs = await aclient.fetch_jobs(worker.worker_id, 1, task_identifiers=["t"])
    worker._loop = asyncio.get_running_loop()
    await worker._run_job(jobs[0])
    await worker._flush_all()
    row = job_row(db, schema, job.id)
    assert row is not None and "no handler for task 't'" in row["last_error"]


# -- events ------------------------------------------------------------------------------------


async def test_events_fire_with_the_job(aclient: AsyncClient) -> None:
    got: list[tuple[str, int, str | None]] = []

    async def handler(payload: Any, job: Job) -> None:
        if payload["fail"]:
            raise RuntimeError("no")

    worker = Worker(aclient, {"t": Task("t", handler)}, options=FAST)

    def listener(event: dict[str, Any]) -> None:
        job = event["job"]
        assert isinstance(job, Job)
        got.append((event["event"], job.id, event.get("outcome")))

    async def async_listener(event: dict[str, Any]) -> None:
        got.append(("async " + event["event"], event["job"].id, None))

    for name in ("job:start", "job:success", "job:error", "job:failed", "job:complete"):
        worker.on(name, listener)
    worker.on("job:success", async_listener)
    ok = await aclient.add_job("t", {"fail": False})
    retried = await aclient.add_job("t", {"fail": True}, max_attempts=2)
    final = await aclient.add_job("t", {"fail": True}, max_attempts=1)
    await worker.run_once()
    await wait_for(lambda: ("async job:success", ok.id, None) in got, "the async listener")
    assert [e for e in got if e[1] == ok.id and not e[0].startswith("async")] == [
        ("job:start", ok.id, None),
        ("job:success", ok.id, None),
        ("job:complete", ok.id, "complete"),
    ]
    assert [e for e in got if e[1] == retried.id] == [
        ("job:start", retried.id, None),
        ("job:error", retried.id, None),
        ("job:complete", retried.id, "retry"),
    ]
    assert [e for e in got if e[1] == final.id] == [
        ("job:start", final.id, None),
        ("job:error", final.id, None),
        ("job:failed", final.id, None),
        ("job:complete", final.id, "retry"),
    ]


# -- LISTEN and polling ------------------------------------------------------------------------


def signalling_worker(aclient: AsyncClient, done: asyncio.Event, **options: Any) -> Worker:
    """A worker whose one task, "t", sets ``done``."""

    async def handler(payload: Any, job: Job) -> None:
        done.set()

    settings = {"concurrency": 2, "rescue_after": 30, **options}
    return Worker(aclient, {"t": Task("t", handler)}, options=WorkerOptions(**settings))


async def test_listen_wakes_an_idle_worker_before_its_poll_interval(aclient: AsyncClient) -> None:
    poll = 60.0
    done = asyncio.Event()
    listening = asyncio.Event()
    idle = asyncio.Event()
    worker = signalling_worker(aclient, done, poll_interval=poll)
    worker.on("pool:listen:success", lambda e: listening.set())
    worker.on("worker:getJob:empty", lambda e: idle.set())
    async with running(worker):
        await asyncio.wait_for(listening.wait(), 30)
        await asyncio.wait_for(idle.wait(), 30)
        fetches = worker.stats.fetches
        loop = asyncio.get_running_loop()
        added_at = loop.time()
        await aclient.add_job("t", {})
        # The next poll is a minute away: only the notification can run the job now.
        await asyncio.wait_for(done.wait(), poll / 2)
        assert loop.time() - added_at < poll
        assert worker.stats.fetches <= fetches + 2


async def test_a_lost_listen_connection_is_replaced_and_wakes_the_worker_again(
    aclient: AsyncClient, db: psycopg.Connection[Any]
) -> None:
    """The LISTEN connection's backend is terminated while the worker idles: the worker
    notices (no timer runs while it waits), reconnects, and a new job wakes it well before
    its minute-long poll."""
    poll = 60.0
    done = asyncio.Event()
    successes: list[str] = []
    errors: list[str] = []
    worker = signalling_worker(aclient, done, poll_interval=poll)
    worker.on("pool:listen:success", lambda e: successes.append(e["event"]))
    worker.on("pool:listen:error", lambda e: errors.append(e["event"]))
    channel = notify_channel(aclient.schema)
    async with running(worker):
        await wait_for(lambda: len(successes) == 1, "LISTEN")
        killed = db.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where query = %s and pid <> pg_backend_pid()",
            [sql.SQL("listen {}").format(sql.Identifier(channel)).as_string(db)],
        ).fetchall()
        assert killed == [(True,)]
        await wait_for(lambda: len(successes) == 2, "LISTEN again", timeout=30)
        assert errors, "the lost connection was noticed"
        await aclient.add_job("t", {})
        await asyncio.wait_for(done.wait(), poll / 2)


async def test_poll_only_mode(aclient: AsyncClient) -> None:
    done = asyncio.Event()
    events: list[str] = []
    worker = signalling_worker(aclient, done, poll_interval=0.1, listen=False)
    worker.on("pool:listen:connecting", lambda e: events.append(e["event"]))
    worker.on("worker:getJob:empty", lambda e: events.append(e["event"]))
    async with running(worker):
        await wait_for(lambda: "worker:getJob:empty" in events, "an empty poll")
        await aclient.add_job("t", {})
        await asyncio.wait_for(done.wait(), 30)
    assert "pool:listen:connecting" not in events


# -- forbidden flags, task sets, run_once ------------------------------------------------------


async def test_forbidden_flags_as_a_list(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    ran: list[str] = []

    async def handler(payload: Any, job: Job) -> None:
        ran.append(payload["name"])

    await aclient.add_job("t", {"name": "slow"}, flags=["slow"])
    await aclient.add_job("t", {"name": "plain"})
    await aclient.add_job("t", {"name": "other-flag"}, flags=["other"])
    worker = Worker(aclient, {"t": Task("t", handler)}, options=FAST, forbidden_flags=["slow"])
    assert await worker.run_once() == 2
    assert sorted(ran) == ["other-flag", "plain"]
    (left,) = jobs_table(db, schema)
    assert left["payload"] == {"name": "slow"} and left["attempts"] == 0


async def test_forbidden_flags_as_an_async_callable_consulted_before_each_fetch(
    aclient: AsyncClient,
) -> None:
    ran: list[str] = []
    forbidden = ["a", "b"]
    calls = 0

    async def flags() -> list[str]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return list(forbidden)

    async def handler(payload: Any, job: Job) -> None:
        ran.append(payload["name"])

    for name in ("a", "b", "none"):
        await aclient.add_job("t", {"name": name}, flags=[name])
    worker = Worker(aclient, {"t": Task("t", handler)}, options=FAST, forbidden_flags=flags)
    await worker.run_once()
    assert ran == ["none"]
    forbidden.remove("a")
    await worker.run_once()
    assert ran == ["none", "a"]
    assert calls >= 3

    # A sync callable works too.
    worker_sync = Worker(
        aclient, {"t": Task("t", handler)}, options=FAST, forbidden_flags=lambda: []
    )
    await worker_sync.run_once()
    assert ran == ["none", "a", "b"]


async def test_workers_with_disjoint_task_sets_leave_each_others_jobs_alone(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    ran: list[tuple[str, str]] = []

    def recorder(worker: str) -> Any:
        async def handler(payload: Any, job: Job) -> None:
            ran.append((worker, job.task_identifier))

        return handler

    a = Worker(aclient, {"a": Task("a", recorder("A"))}, name="A", options=FAST)
    b = Worker(aclient, {"b": Task("b", recorder("B"))}, name="B", options=FAST)
    orphan = await aclient.add_job("c", {})
    for _ in range(5):
        await aclient.add_job("a", {})
        await aclient.add_job("b", {})
    async with running(a), running(b):
        await wait_for(lambda: len(ran) == 10, "every a and b job")
    assert sorted(ran) == [("A", "a")] * 5 + [("B", "b")] * 5
    (left,) = jobs_table(db, schema)
    assert left["id"] == orphan.id
    assert left["attempts"] == 0 and left["locked_at"] is None


async def test_run_once_runs_every_runnable_job_then_returns(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    async def handler(payload: Any, job: Job) -> None:
        pass

    for n in range(7):
        await aclient.add_job("t", {"n": n})
    future = await aclient.add_job("t", {}, run_at=datetime.now(T0.tzinfo) + timedelta(hours=1))
    worker = Worker(aclient, {"t": Task("t", handler)}, options=WorkerOptions(concurrency=3))
    assert await worker.run_once() == 7
    assert [r["id"] for r in jobs_table(db, schema)] == [future.id]
    # It unregistered: nothing of it is left in the workers table.
    assert db.execute(q(schema, "select count(*) from {s}.workers")).fetchone() == (0,)


async def test_an_error_message_with_nul_and_surrogates_is_stored(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    """PostgreSQL text cannot hold NUL: the message is stored with it escaped, and the worker
    settles the job instead of failing to write its outcome."""

    async def fail(payload: Any, job: Job) -> None:
        raise RuntimeError("bad\x00byte \ud800")

    job = await aclient.add_job("t", {})
    worker = Worker(aclient, {"t": Task("t", fail)}, options=WorkerOptions(concurrency=1))
    assert await worker.run_once() == 1
    row = job_row(db, schema, job.id)
    assert row is not None and row["locked_at"] is None and row["attempts"] == 1
    assert row["last_error"].partition("\n")[0] == "RuntimeError: bad\\x00byte ?"
