"""A job's life: fetch order and filters, named queues, retries with backoff, success, final
failure and the administrative functions (semantics §3.4, §3.6–3.8)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from trigger_compat import Client, Job

from ._support import T0, FakeClock, job_row, jobs_table

A = "worker-a"
B = "worker-b"


def ids(jobs: list[Job]) -> list[int]:
    return [j.id for j in jobs]


def backoff(attempts: int) -> timedelta:
    """exp(min(attempts, 10)) seconds, at PostgreSQL's microsecond resolution."""
    return timedelta(microseconds=round(math.exp(min(attempts, 10)) * 1_000_000))


# -- fetching ----------------------------------------------------------------------------


def test_fetch_order_is_priority_then_run_at_then_id(cclient: Client, clock: FakeClock) -> None:
    earlier = T0 - timedelta(seconds=10)
    p5 = cclient.add_job("t", priority=5, run_at=earlier)
    p0_late = cclient.add_job("t", priority=0, run_at=T0)
    p0_early_1 = cclient.add_job("t", priority=0, run_at=earlier)
    p0_early_2 = cclient.add_job("t", priority=0, run_at=earlier)
    neg1 = cclient.add_job("t", priority=-1)
    neg10 = cclient.add_job("t", priority=-10)
    queued = cclient.add_job("t", priority=-5, queue_name="q")
    expected = [neg10, queued, neg1, p0_early_1, p0_early_2, p0_late, p5]

    one_by_one = [cclient.fetch_jobs(A) for _ in expected]
    assert [ids(batch) for batch in one_by_one] == [[j.id] for j in expected]
    assert cclient.fetch_jobs(A) == []


def test_fetch_many_returns_the_best_jobs_in_order(cclient: Client) -> None:
    jobs = [cclient.add_job("t", priority=p) for p in (3, -3, 0, 2, -1)]
    queued = [cclient.add_job("t", priority=p, queue_name=f"q{p}") for p in (1, -2)]
    first = cclient.fetch_jobs(A, 4)
    assert [j.priority for j in first] == [-3, -2, -1, 0]
    second = cclient.fetch_jobs(A, 10)
    assert [j.priority for j in second] == [1, 2, 3]
    assert sorted(ids(first + second)) == sorted(ids(jobs + queued))


def test_fetch_increments_attempts_and_locks_the_job(
    cclient: Client, clock: FakeClock, db: psycopg.Connection[Any], schema: str
) -> None:
    job = cclient.add_job("t", {"x": 1})
    assert (job.attempts, job.locked_by, job.locked_at) == (0, None, None)
    clock.advance(5)
    [fetched] = cclient.fetch_jobs(A)
    assert (fetched.id, fetched.attempts, fetched.locked_by, fetched.locked_at) == (
        job.id,
        1,
        A,
        clock.now,
    )
    row = job_row(db, schema, job.id)
    assert (row["attempts"], row["locked_by"], row["locked_at"], row["is_available"]) == (
        1,
        A,
        clock.now,
        False,
    )
    assert cclient.fetch_jobs(B) == []


def test_future_job_is_fetched_only_once_the_clock_reaches_run_at(
    cclient: Client, clock: FakeClock
) -> None:
    job = cclient.add_job("t", run_at=T0 + timedelta(seconds=60))
    assert cclient.fetch_jobs(A) == []
    clock.advance(59.999999)
    assert cclient.fetch_jobs(A) == []
    clock.set(T0 + timedelta(seconds=60))
    assert ids(cclient.fetch_jobs(A)) == [job.id]


def test_default_run_at_is_the_clock(cclient: Client, clock: FakeClock) -> None:
    clock.advance(123)
    assert cclient.add_job("t").run_at == clock.now


def test_task_identifiers_filter(cclient: Client) -> None:
    a = cclient.add_job("task_a", priority=-1)
    b = cclient.add_job("task_b")
    c = cclient.add_job("task_c", queue_name="q")
    assert cclient.fetch_jobs(A, 10, task_identifiers=[]) == []
    assert cclient.fetch_jobs(A, 10, task_identifiers=["task_x"]) == []
    assert ids(cclient.fetch_jobs(A, 10, task_identifiers=["task_b", "task_c"])) == [b.id, c.id]
    assert ids(cclient.fetch_jobs(A, 10, task_identifiers=None)) == [a.id]


def test_forbidden_flags_skip_flagged_jobs_but_never_unflagged_ones(cclient: Client) -> None:
    x = cclient.add_job("t", flags=["x"])
    y = cclient.add_job("t", flags=["y"])
    xy = cclient.add_job("t", flags=["x", "y"])
    none = cclient.add_job("t")
    empty = cclient.add_job("t", flags=[])
    qx = cclient.add_job("t", flags=["x"], queue_name="q")
    assert empty.flags is None and xy.flags == {"x": True, "y": True}
    got = cclient.fetch_jobs(A, 10, forbidden_flags=["x", "z"])
    assert ids(got) == [y.id, none.id, empty.id]
    assert ids(cclient.fetch_jobs(A, 10, forbidden_flags=["y"])) == [x.id, qx.id]
    assert ids(cclient.fetch_jobs(A, 10, forbidden_flags=[])) == [xy.id]


def test_fetch_limit(cclient: Client) -> None:
    jobs = [cclient.add_job("t") for _ in range(5)]
    assert ids(cclient.fetch_jobs(A, 3)) == ids(jobs[:3])
    assert ids(cclient.fetch_jobs(B, 3)) == ids(jobs[3:])
    assert cclient.fetch_jobs(A, 3) == []


# -- named queues ------------------------------------------------------------------------


def test_named_queue_is_serial_and_released_by_complete(cclient: Client) -> None:
    first = cclient.add_job("t", queue_name="q", priority=-10)
    second = cclient.add_job("t", queue_name="q", priority=-10)
    other = cclient.add_job("t", queue_name="other")
    assert ids(cclient.fetch_jobs(A, 10)) == [first.id, other.id]
    assert cclient.fetch_jobs(A, 10) == []
    assert cclient.fetch_jobs(B, 10) == []
    assert cclient.complete_jobs([first.id], worker_id=A) == [first.id]
    assert ids(cclient.fetch_jobs(B, 10)) == [second.id]


def test_named_queue_is_released_by_fail(cclient: Client, clock: FakeClock) -> None:
    first = cclient.add_job("t", queue_name="q")
    second = cclient.add_job("t", queue_name="q")
    assert ids(cclient.fetch_jobs(A)) == [first.id]
    failed = cclient.fail_job(first.id, "boom", worker_id=A)
    assert failed is not None
    assert ids(cclient.fetch_jobs(B)) == [second.id]
    # The failed job's retry is due, but its queue is busy with the second job.
    clock.set(failed.run_at)
    assert cclient.fetch_jobs(A) == []
    cclient.complete_jobs([second.id])
    assert ids(cclient.fetch_jobs(A)) == [first.id]


def test_queue_concurrency_allows_that_many_running_jobs(cclient: Client) -> None:
    cclient.set_queue_concurrency("q", 3)
    jobs = [cclient.add_job("t", queue_name="q") for _ in range(5)]
    assert ids(cclient.fetch_jobs(A, 2)) == ids(jobs[:2])
    assert ids(cclient.fetch_jobs(B, 10)) == ids(jobs[2:3])
    assert cclient.fetch_jobs(A, 10) == []
    cclient.complete_jobs([jobs[0].id])
    assert ids(cclient.fetch_jobs(B, 10)) == ids(jobs[3:4])
    cclient.set_queue_concurrency("q", 1)
    cclient.complete_jobs([jobs[1].id, jobs[2].id])
    assert cclient.fetch_jobs(A, 10) == []
    cclient.complete_jobs([jobs[3].id])
    assert ids(cclient.fetch_jobs(A, 10)) == ids(jobs[4:])


# -- failing and retrying ----------------------------------------------------------------


def test_backoff_is_exp_of_attempts_capped_at_ten(
    cclient: Client, clock: FakeClock, db: psycopg.Connection[Any], schema: str
) -> None:
    job = cclient.add_job("t", max_attempts=20)
    run_at = job.run_at
    for attempts in range(1, 13):
        # Fetch a little after the job is due: the delay counts from now.
        clock.set(run_at + timedelta(seconds=attempts))
        [fetched] = cclient.fetch_jobs(A)
        assert fetched.attempts == attempts
        failed = cclient.fail_job(job.id, f"error {attempts}")
        assert failed is not None
        expected = clock.now + backoff(attempts)
        assert failed.run_at == expected, f"attempt {attempts}"
        assert (failed.attempts, failed.last_error, failed.locked_by, failed.locked_at) == (
            attempts,
            f"error {attempts}",
            None,
            None,
        )
        assert job_row(db, schema, job.id)["run_at"] == expected
        clock.set(expected - timedelta(microseconds=1))
        assert cclient.fetch_jobs(A) == []
        run_at = expected
    assert backoff(12) == backoff(10) == timedelta(seconds=22026, microseconds=465795)


def test_backoff_counts_from_run_at_when_it_is_later_than_now(
    cclient: Client, clock: FakeClock
) -> None:
    job = cclient.add_job("t", run_at=T0)
    cclient.fetch_jobs(A)
    clock.set(T0 - timedelta(hours=1))  # greatest(now, run_at) = run_at
    failed = cclient.fail_job(job.id, "boom")
    assert failed is not None and failed.run_at == T0 + backoff(1)


def test_fail_job_with_an_explicit_run_at(cclient: Client, clock: FakeClock) -> None:
    job = cclient.add_job("t")
    cclient.fetch_jobs(A)
    when = T0 + timedelta(days=3)
    failed = cclient.fail_job(job.id, "later", run_at=when)
    assert failed is not None
    assert (failed.run_at, failed.attempts, failed.last_error, failed.locked_by) == (
        when,
        1,
        "later",
        None,
    )


def test_fail_job_by_another_worker_or_on_an_unlocked_job_does_nothing(
    cclient: Client, db: psycopg.Connection[Any], schema: str
) -> None:
    job = cclient.add_job("t")
    assert cclient.fail_job(job.id, "not running") is None
    assert jobs_table(db, schema)[0]["last_error"] is None
    cclient.fetch_jobs(A)
    before = jobs_table(db, schema)
    assert cclient.fail_job(job.id, "not mine", worker_id=B) is None
    assert jobs_table(db, schema) == before
    assert cclient.fail_job(job.id + 1000, "no such job") is None
    failed = cclient.fail_job(job.id, "mine", worker_id=A)
    assert failed is not None and failed.last_error == "mine"


def test_final_failure_keeps_the_row_and_never_fetches_it_again(
    cclient: Client, clock: FakeClock, db: psycopg.Connection[Any], schema: str
) -> None:
    job = cclient.add_job("t", {"p": 1}, max_attempts=2, job_key="k")
    for attempt in (1, 2):
        [fetched] = cclient.fetch_jobs(A)
        assert fetched.attempts == attempt
        failed = cclient.fail_job(job.id, f"boom {attempt}")
        assert failed is not None
        clock.set(failed.run_at)
    row = job_row(db, schema, job.id)
    assert (
        row["attempts"],
        row["max_attempts"],
        row["last_error"],
        row["locked_by"],
        row["key"],
        row["payload"],
        row["is_available"],
    ) == (2, 2, "boom 2", None, "k", {"p": 1}, False)
    clock.advance(10 * 365 * 24 * 3600)
    assert cclient.fetch_jobs(A, 10) == []
    assert len(jobs_table(db, schema)) == 1


# -- success -----------------------------------------------------------------------------


def test_complete_deletes_the_job(
    cclient: Client, db: psycopg.Connection[Any], schema: str
) -> None:
    jobs = [cclient.add_job("t") for _ in range(3)]
    cclient.fetch_jobs(A, 2)
    assert cclient.complete_jobs([jobs[1].id, jobs[0].id]) == [jobs[0].id, jobs[1].id]
    assert [r["id"] for r in jobs_table(db, schema)] == [jobs[2].id]
    assert cclient.get_job(jobs[0].id) is None
    assert cclient.complete_jobs([jobs[0].id]) == []


def test_complete_with_worker_id_deletes_only_that_workers_jobs(
    cclient: Client, db: psycopg.Connection[Any], schema: str
) -> None:
    a_job = cclient.add_job("t")
    b_job = cclient.add_job("t")
    waiting = cclient.add_job("t")
    cclient.fetch_jobs(A)
    cclient.fetch_jobs(B)
    everything = [a_job.id, b_job.id, waiting.id]
    assert cclient.complete_jobs(everything, worker_id=A) == [a_job.id]
    assert [r["id"] for r in jobs_table(db, schema)] == [b_job.id, waiting.id]
    assert cclient.complete_jobs(everything, worker_id=B) == [b_job.id]
    assert [r["id"] for r in jobs_table(db, schema)] == [waiting.id]


# -- remove_job --------------------------------------------------------------------------


def test_remove_job_with_an_unknown_key_returns_none(cclient: Client) -> None:
    assert cclient.remove_job("nope") is None


@pytest.mark.parametrize("state", ["waiting", "retrying", "failed"])
def test_remove_job_deletes_an_unlocked_job(
    cclient: Client, db: psycopg.Connection[Any], schema: str, state: str
) -> None:
    job = cclient.add_job("t", {"p": 1}, job_key="k", max_attempts=1 if state == "failed" else 5)
    other = cclient.add_job("t", job_key="other", run_at=T0 + timedelta(days=1))
    if state != "waiting":
        cclient.fetch_jobs(A)
        cclient.fail_job(job.id, "boom")
    before = job_row(db, schema, job.id)
    removed = cclient.remove_job("k")
    assert removed is not None
    assert removed.model_dump() == {k: v for k, v in before.items() if k != "is_available"}
    assert [r["id"] for r in jobs_table(db, schema)] == [other.id]
    assert cclient.remove_job("k") is None


def test_remove_job_on_a_running_job_clears_its_key_and_its_retries(
    cclient: Client, clock: FakeClock, db: psycopg.Connection[Any], schema: str
) -> None:
    job = cclient.add_job("t", {"p": 1}, job_key="k", max_attempts=5)
    cclient.fetch_jobs(A)
    removed = cclient.remove_job("k")
    assert removed is not None
    assert (
        removed.id,
        removed.key,
        removed.attempts,
        removed.max_attempts,
        removed.locked_by,
        removed.locked_at,
        removed.revision,
    ) == (job.id, None, 5, 5, A, T0, 0)
    row = job_row(db, schema, job.id)
    assert (row["key"], row["attempts"], row["locked_by"]) == (None, 5, A)
    assert cclient.remove_job("k") is None
    # It may still finish: a failure now is final.
    failed = cclient.fail_job(job.id, "boom", worker_id=A)
    assert failed is not None and failed.attempts == failed.max_attempts
    clock.advance(365 * 24 * 3600)
    assert cclient.fetch_jobs(A) == []


def test_a_removed_running_job_that_succeeds_is_deleted(
    cclient: Client, db: psycopg.Connection[Any], schema: str
) -> None:
    job = cclient.add_job("t", job_key="k")
    cclient.fetch_jobs(A)
    cclient.remove_job("k")
    assert cclient.complete_jobs([job.id], worker_id=A) == [job.id]
    assert jobs_table(db, schema) == []


# -- administration ----------------------------------------------------------------------


def test_permanently_fail_jobs(cclient: Client, clock: FakeClock) -> None:
    default_msg = cclient.add_job("t", max_attempts=4)
    custom_msg = cclient.add_job("t", max_attempts=6)
    running = cclient.add_job("t", priority=-1)
    assert ids(cclient.fetch_jobs(A)) == [running.id]
    failed = cclient.permanently_fail_jobs([default_msg.id, running.id])
    assert [(j.id, j.attempts, j.last_error) for j in failed] == [
        (default_msg.id, 4, "Manually marked as failed")
    ]
    [custom] = cclient.permanently_fail_jobs([custom_msg.id], "cancelled by admin")
    assert (custom.attempts, custom.last_error) == (6, "cancelled by admin")
    still_running = cclient.get_job(running.id)
    assert still_running is not None
    assert (still_running.attempts, still_running.last_error) == (1, None)
    clock.advance(3600)
    assert cclient.fetch_jobs(B, 10) == []


def test_reschedule_jobs(cclient: Client, clock: FakeClock) -> None:
    job = cclient.add_job("t", priority=3, max_attempts=2)
    running = cclient.add_job("t", priority=-1)
    assert ids(cclient.fetch_jobs(A)) == [running.id]
    when = T0 + timedelta(hours=1)
    [moved] = cclient.reschedule_jobs([job.id, running.id], run_at=when, priority=-7)
    assert (moved.id, moved.run_at, moved.priority, moved.attempts, moved.max_attempts) == (
        job.id,
        when,
        -7,
        0,
        2,
    )
    [again] = cclient.reschedule_jobs([job.id], attempts=2)
    assert (again.run_at, again.priority, again.attempts) == (when, -7, 2)
    clock.set(when)
    assert cclient.fetch_jobs(B) == []  # attempts = max_attempts
    [revived] = cclient.reschedule_jobs([job.id], attempts=0, max_attempts=3)
    assert (revived.attempts, revived.max_attempts) == (0, 3)
    assert ids(cclient.fetch_jobs(B)) == [job.id]
    unchanged = cclient.get_job(running.id)
    assert unchanged is not None and (unchanged.priority, unchanged.run_at) == (-1, T0)


def test_force_unlock_workers_releases_their_jobs_and_queues(
    cclient: Client, db: psycopg.Connection[Any], schema: str
) -> None:
    a_queued = cclient.add_job("t", queue_name="q")
    a_plain = cclient.add_job("t")
    b_plain = cclient.add_job("t")
    queued_next = cclient.add_job("t", queue_name="q")
    assert ids(cclient.fetch_jobs(A, 2)) == [a_queued.id, a_plain.id]
    assert ids(cclient.fetch_jobs(B, 2)) == [b_plain.id]
    released = cclient.force_unlock_workers([A, "worker-unknown"])
    assert sorted((j.id, j.locked_by, j.locked_at, j.attempts) for j in released) == [
        (a_queued.id, None, None, 1),
        (a_plain.id, None, None, 1),
    ]
    assert job_row(db, schema, b_plain.id)["locked_by"] == B
    again = cclient.fetch_jobs(B, 10)
    assert [(j.id, j.attempts) for j in again] == [(a_queued.id, 2), (a_plain.id, 2)]
    assert queued_next.id not in ids(again)


def test_get_job(cclient: Client, db: psycopg.Connection[Any], schema: str) -> None:
    job = cclient.add_job("t", {"a": [1, 2]}, queue_name="q", job_key="k", flags=["f"])
    got = cclient.get_job(job.id)
    assert got == job
    row = job_row(db, schema, job.id)
    assert got is not None
    assert got.model_dump() == {k: v for k, v in row.items() if k != "is_available"}
    assert cclient.get_job(job.id + 1) is None


@pytest.mark.parametrize("with_clock", [True, False])
def test_add_jobs_returns_exactly_the_rows_it_stored(
    client: Client, cclient: Client, with_clock: bool
) -> None:
    """add_jobs (and add_job) build the Job of an unkeyed spec from the spec and the server's
    id and timestamps: every field must equal the stored row, for every option and awkward
    payloads; keyed specs (new and existing keys) come back as stored."""
    from trigger_compat import JobSpec

    c = cclient if with_clock else client
    c.add_job("old", [1], job_key="k-existing", run_at=T0 + timedelta(hours=1))
    payloads: list[Any] = [
        None,
        {},
        {"b": 1, "a": [1.5, 1e16, 10**30, -0.0, None, True, "é\u2028😀"], "": {"x": []}},
        [1, "two", {"three": 3}],
        "just text",
        12.25,
        (1, 2),
    ]
    specs = [
        JobSpec(identifier="plain", payload=p, queue_name=f"q{i % 2}" if i % 3 else None)
        for i, p in enumerate(payloads)
    ] + [
        JobSpec(
            identifier="everything",
            payload={"n": 1},
            queue_name="qa",
            run_at=T0 + timedelta(minutes=5),
            max_attempts=3,
            priority=-7,
            flags=["slow", "rl:org:1"],
        ),
        JobSpec(identifier="keyed-new", payload={"k": 1}, job_key="k-new", priority=2),
        JobSpec(identifier="keyed-old", payload=[2], job_key="k-existing"),
        JobSpec(identifier="after-keys", payload={"last": True}, max_attempts=1),
    ]
    jobs = c.add_jobs(specs)
    assert [j.task_identifier for j in jobs] == [s.identifier for s in specs]
    for job in jobs:
        assert c.get_job(job.id) == job
    assert jobs[-2].payload == [1, 2] and jobs[-2].revision == 1  # arrays concatenate
    # add_job reads its row the same way.
    for spec in specs:
        fields = spec.model_dump(exclude={"identifier", "payload"})
        job = c.add_job(spec.identifier, spec.payload, **fields)
        assert c.get_job(job.id) == job


def test_added_jobs_match_the_stored_rows_in_offset_and_ownership(client: Client) -> None:
    """A run_at given in another time zone comes back as the database gives it (the session's
    zone, same instant), and the returned payload is the job's own: changing the dict the
    caller passed, after the call, changes neither the Job nor the row."""
    from datetime import timezone

    from trigger_compat import JobSpec

    elsewhere = (T0 + timedelta(minutes=5)).astimezone(timezone(timedelta(hours=5, minutes=30)))
    payload: dict[str, Any] = {"n": 1, "s": "x"}
    single = client.add_job("t", payload, run_at=elsewhere)
    (batched,) = client.add_jobs([JobSpec(identifier="t", payload=payload, run_at=elsewhere)])
    payload["n"] = 2
    for job in (single, batched):
        stored = client.get_job(job.id)
        assert stored == job
        assert stored is not None and job.run_at.utcoffset() == stored.run_at.utcoffset()
        assert job.run_at == elsewhere
        assert job.payload == {"n": 1, "s": "x"} == stored.payload


def test_fetch_across_several_tasks_takes_the_best_jobs_in_order(cclient: Client) -> None:
    """With a task filter of several tasks, the jobs come from whichever tasks hold the best
    ones (priority, then run_at, then id), never from a task outside the filter."""
    added = [
        cclient.add_job(task, {"i": i}, priority=prio, run_at=T0 - timedelta(seconds=sec))
        for i, (task, prio, sec) in enumerate(
            [("a", 0, 5), ("b", -1, 1), ("c", -5, 9), ("a", -1, 2), ("b", 0, 9), ("a", 1, 9)]
        )
    ]
    best_first = sorted(
        (j for j in added if j.task_identifier != "c"), key=lambda j: (j.priority, j.run_at, j.id)
    )
    assert ids(cclient.fetch_jobs("w", 4, task_identifiers=["a", "b"])) == ids(best_first[:4])
    assert ids(cclient.fetch_jobs("w", 4, task_identifiers=["a", "b"])) == ids(best_first[4:])
    assert ids(cclient.fetch_jobs("w", 4)) == [added[2].id]  # no filter: any task


def test_a_batch_of_thirty_thousand_keys_is_stored_whole_and_in_spec_order(
    client: Client, db: psycopg.Connection[Any], schema: str
) -> None:
    """add_jobs stores keyed specs set-based under at most 16 advisory locks, not one lock per
    key (30,000 locks in one transaction overflow PostgreSQL's lock table at its default
    max_locks_per_transaction of 64): a batch of 30,000 new keys is inserted with ids in spec
    order (as graphile-worker's add_jobs, one INSERT); adding some of them again updates those
    jobs in place (arrays concatenate, revision 1, same ids)."""
    from trigger_compat import JobSpec

    specs = [JobSpec(identifier="t", payload=[i], job_key=f"k{i:05d}") for i in range(30_000)]
    specs.reverse()  # ids follow the specs, not the keys
    jobs = client.add_jobs(specs)
    assert [j.key for j in jobs] == [s.job_key for s in specs]
    assert [j.id for j in jobs] == sorted(j.id for j in jobs)
    again = client.add_jobs(specs[::30])
    assert [j.id for j in again] == [j.id for j in jobs[::30]]
    assert all(
        j.revision == 1 and j.payload == [*s.payload, *s.payload]
        for j, s in zip(again, specs[::30], strict=True)
    )
    stored = {r["id"]: r for r in jobs_table(db, schema)}
    assert len(stored) == 30_000
    assert all(stored[j.id]["revision"] == 1 for j in again)


def test_a_batch_runs_in_the_order_of_its_specs(client: Client) -> None:
    """As graphile-worker's add_jobs (one INSERT in spec order): the jobs of a batch get
    their ids in spec order, keyed or not, so jobs of equal priority and run_at are fetched
    in the order they were given. A key that already has a waiting job keeps that job's id."""
    from trigger_compat import JobSpec

    kept = client.add_job("t", {"old": True}, job_key="m-kept")
    specs = [
        JobSpec(identifier="t", payload={"i": 0}, job_key="z-new"),
        JobSpec(identifier="t", payload={"i": 1}),
        JobSpec(identifier="t", payload={"i": 2}, job_key="m-kept"),
        JobSpec(identifier="t", payload={"i": 3}, job_key="a-new", job_key_mode="unsafe_dedupe"),
        JobSpec(identifier="t", payload={"i": 4}),
    ]
    jobs = client.add_jobs(specs)
    assert jobs[2].id == kept.id and jobs[2].revision == 1
    new = [j for j in jobs if j.id != kept.id]
    assert [j.id for j in new] == sorted(j.id for j in new)
    fetched = client.fetch_jobs("w", 10)
    assert [j.payload["i"] for j in fetched] == [2, 0, 1, 3, 4]  # the kept job is the oldest
