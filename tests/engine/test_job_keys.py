"""The job-key matrix of graphile-worker 0.16 (semantics §3.3, compat-decisions "Engine").

Every cell: a mode (replace / preserve_run_at / unsafe_dedupe) x the state of the job already
holding the key (none, waiting, scheduled in the future, running, waiting to retry,
permanently failed) x the way the job is added (``add_job``, or ``add_jobs`` with a per-spec
mode or with the batch flag ``job_key_preserve_run_at``). Each test checks every row left in
the table, column by column.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from trigger_compat import Client, Job, JobKeyMode, JobSpec

from ._support import T0, FakeClock, job_row, jobs_table

KEY = "order:42"
WORKER = "worker-a"

OLD_MAX_ATTEMPTS = 3
OLD: dict[str, Any] = {
    "identifier": "old_task",
    "payload": {"old": True},
    "queue_name": "old_queue",
    "max_attempts": OLD_MAX_ATTEMPTS,
    "priority": 5,
    "flags": ["old_flag"],
}
SCHEDULED_AT = T0 + timedelta(days=1)

NEW_RUN_AT = T0 + timedelta(hours=1)
NEW: dict[str, Any] = {
    "identifier": "new_task",
    "payload": {"new": True},
    "queue_name": "new_queue",
    "run_at": NEW_RUN_AT,
    "max_attempts": 9,
    "priority": -2,
    "flags": ["new_flag"],
}
NEW_COLUMNS: dict[str, Any] = {
    "task_identifier": "new_task",
    "payload": {"new": True},
    "queue_name": "new_queue",
    "run_at": NEW_RUN_AT,
    "max_attempts": 9,
    "priority": -2,
    "flags": {"new_flag": True},
}

STATES = ["none", "waiting", "scheduled", "running", "retrying", "failed"]

Row = dict[str, Any]


@dataclass(frozen=True)
class Way:
    """How a keyed job is added: the call and the mode it asks for."""

    name: str
    mode: JobKeyMode  # the effective mode
    api: str  # "add_job" or "add_jobs"
    spec_mode: JobKeyMode | None  # job_key_mode passed (None = omitted)
    batch_flag: bool = False  # add_jobs(job_key_preserve_run_at=True)

    def add(self, client: Client, **attrs: Any) -> Job:
        if self.api == "add_job":
            identifier = attrs.pop("identifier")
            payload = attrs.pop("payload", None)
            return client.add_job(identifier, payload, job_key_mode=self.spec_mode, **attrs)
        spec = JobSpec(job_key_mode=self.spec_mode, **attrs)
        [job] = client.add_jobs([spec], job_key_preserve_run_at=self.batch_flag)
        return job


WAYS = [
    Way("add_job-replace", "replace", "add_job", "replace"),
    Way("add_job-default", "replace", "add_job", None),
    Way("add_jobs-replace", "replace", "add_jobs", "replace"),
    Way("add_jobs-default", "replace", "add_jobs", None),
    Way("add_job-preserve_run_at", "preserve_run_at", "add_job", "preserve_run_at"),
    Way("add_jobs-preserve_run_at", "preserve_run_at", "add_jobs", "preserve_run_at"),
    Way("add_jobs-batch_flag", "preserve_run_at", "add_jobs", None, batch_flag=True),
    Way("add_job-unsafe_dedupe", "unsafe_dedupe", "add_job", "unsafe_dedupe"),
    Way("add_jobs-unsafe_dedupe", "unsafe_dedupe", "add_jobs", "unsafe_dedupe"),
    Way(
        "add_jobs-unsafe_dedupe-batch_flag",
        "unsafe_dedupe",
        "add_jobs",
        "unsafe_dedupe",
        batch_flag=True,
    ),
]

CELLS = [pytest.param(way, state, id=f"{way.name}-{state}") for way in WAYS for state in STATES]


def columns(row: Row) -> Row:
    """A row without its bookkeeping timestamps."""
    return {k: v for k, v in row.items() if k not in ("created_at", "updated_at")}


def job_columns(job: Job) -> Row:
    return {k: v for k, v in job.model_dump().items() if k not in ("created_at", "updated_at")}


def table_columns(db: psycopg.Connection[Any], schema: str) -> list[Row]:
    return [columns(row) for row in jobs_table(db, schema)]


def fresh_row(job_id: int, **overrides: Any) -> Row:
    """The row a keyed add of ``NEW`` inserts."""
    row: Row = {
        "id": job_id,
        **NEW_COLUMNS,
        "attempts": 0,
        "last_error": None,
        "key": KEY,
        "revision": 0,
        "locked_at": None,
        "locked_by": None,
        "is_available": True,
        "trace_context": None,  # no span was being recorded
    }
    row.update(overrides)
    return row


def arrange(
    client: Client, clock: FakeClock, db: psycopg.Connection[Any], schema: str, state: str
) -> Row | None:
    """Put a job holding ``KEY`` in ``state``; return its row as stored."""
    if state == "none":
        return None
    run_at = SCHEDULED_AT if state == "scheduled" else T0
    job = client.add_job(run_at=run_at, job_key=KEY, **OLD)
    if state == "running":
        assert [j.id for j in client.fetch_jobs(WORKER)] == [job.id]
    elif state == "retrying":
        assert [j.id for j in client.fetch_jobs(WORKER)] == [job.id]
        assert client.fail_job(job.id, "boom 1") is not None
    elif state == "failed":
        for attempt in range(1, OLD_MAX_ATTEMPTS + 1):
            clock.set(max(clock.now, job_row(db, schema, job.id)["run_at"]))
            assert [j.id for j in client.fetch_jobs(WORKER)] == [job.id]
            assert client.fail_job(job.id, f"boom {attempt}") is not None
    row = job_row(db, schema, job.id)
    expected_attempts = {"waiting": 0, "scheduled": 0, "running": 1, "retrying": 1}
    assert row["attempts"] == expected_attempts.get(state, OLD_MAX_ATTEMPTS)
    assert row["locked_by"] == (WORKER if state == "running" else None)
    assert row["key"] == KEY and row["revision"] == 0
    return row


@pytest.mark.parametrize(("way", "state"), CELLS)
def test_job_key_matrix(
    cclient: Client,
    clock: FakeClock,
    db: psycopg.Connection[Any],
    schema: str,
    way: Way,
    state: str,
) -> None:
    old = arrange(cclient, clock, db, schema, state)

    job = way.add(cclient, job_key=KEY, **NEW)

    rows = table_columns(db, schema)
    assert job_columns(job) == {k: v for k, v in rows[-1].items() if k != "is_available"}

    if old is None:
        # No job holds the key: every mode inserts.
        assert rows == [fresh_row(job.id)]
        return

    if way.mode == "unsafe_dedupe":
        # The existing row comes back unchanged in any state, revision + 1; the new
        # attributes (payload included) are discarded and no job is added.
        assert rows == [{**columns(old), "revision": 1}]
        assert job.id == old["id"]
        return

    if state in ("running", "failed"):
        # The holder keeps running (or stays failed) without its key and can never retry;
        # a new row takes the key.
        old_after = {**columns(old), "key": None, "attempts": OLD_MAX_ATTEMPTS}
        old_after["is_available"] = False
        if state == "running":
            assert old_after["locked_by"] == WORKER and old_after["locked_at"] == T0
        else:
            assert old_after["last_error"] == f"boom {OLD_MAX_ATTEMPTS}"
            assert old_after["locked_by"] is None
        assert job.id > old["id"]
        assert rows == [old_after, fresh_row(job.id)]
        return

    # waiting, scheduled or retrying: the same row, every attribute replaced, attempts and
    # last_error reset, revision + 1. preserve_run_at keeps run_at only when attempts = 0.
    keep_run_at = way.mode == "preserve_run_at" and old["attempts"] == 0
    expected = fresh_row(old["id"], revision=1)
    if keep_run_at:
        expected["run_at"] = old["run_at"]
    assert job.id == old["id"]
    assert rows == [expected]


def test_matrix_arrangement_is_what_it_claims(
    cclient: Client, clock: FakeClock, db: psycopg.Connection[Any], schema: str
) -> None:
    """The retrying and failed holders of the matrix really are in those states."""
    retrying = arrange(cclient, clock, db, schema, "retrying")
    assert retrying is not None
    assert retrying["last_error"] == "boom 1"
    assert retrying["run_at"] > T0
    assert retrying["is_available"] is True
    cclient.remove_job(KEY)
    failed = arrange(cclient, clock, db, schema, "failed")
    assert failed is not None
    assert failed["is_available"] is False
    clock.advance(365 * 24 * 3600)
    assert cclient.fetch_jobs(WORKER) == []


# -- attributes on update ----------------------------------------------------------------


def add_keyed(client: Client, api: str, identifier: str, payload: Any = None, **attrs: Any) -> Job:
    if api == "add_job":
        return client.add_job(identifier, payload, **attrs)
    [job] = client.add_jobs([JobSpec(identifier=identifier, payload=payload, **attrs)])
    return job


APIS = ["add_job", "add_jobs"]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("mode", ["replace", "preserve_run_at"])
def test_omitted_attributes_take_their_defaults_on_update(
    cclient: Client,
    clock: FakeClock,
    db: psycopg.Connection[Any],
    schema: str,
    api: str,
    mode: JobKeyMode,
) -> None:
    first = cclient.add_job(
        "task",
        {"a": 1},
        queue_name="q",
        run_at=T0 + timedelta(minutes=5),
        max_attempts=7,
        job_key=KEY,
        priority=5,
        flags=["f"],
    )
    clock.advance(60)
    job = add_keyed(cclient, api, "task", job_key=KEY, job_key_mode=mode)
    expected_run_at = first.run_at if mode == "preserve_run_at" else clock.now
    assert table_columns(db, schema) == [
        {
            "id": first.id,
            "task_identifier": "task",
            "queue_name": None,
            "payload": {},
            "priority": 0,
            "run_at": expected_run_at,
            "attempts": 0,
            "max_attempts": 25,
            "last_error": None,
            "key": KEY,
            "revision": 1,
            "flags": None,
            "locked_at": None,
            "locked_by": None,
            "is_available": True,
            "trace_context": None,
        }
    ]
    assert job.id == first.id and job.max_attempts == 25


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("mode", ["replace", "preserve_run_at"])
def test_array_payloads_are_concatenated_and_an_object_replaces_an_array(
    cclient: Client, api: str, mode: JobKeyMode
) -> None:
    first = add_keyed(cclient, api, "batch", [1, {"x": 2}], job_key=KEY, job_key_mode=mode)
    second = add_keyed(cclient, api, "batch", [3], job_key=KEY, job_key_mode=mode)
    assert (second.id, second.payload, second.revision) == (first.id, [1, {"x": 2}, 3], 1)
    third = add_keyed(cclient, api, "batch", {"o": 1}, job_key=KEY, job_key_mode=mode)
    assert (third.id, third.payload, third.revision) == (first.id, {"o": 1}, 2)
    fourth = add_keyed(cclient, api, "batch", [4], job_key=KEY, job_key_mode=mode)
    assert (fourth.id, fourth.payload, fourth.revision) == (first.id, [4], 3)
    # An omitted payload is {} (an object), which replaces the array.
    fifth = add_keyed(cclient, api, "batch", job_key=KEY, job_key_mode=mode)
    assert (fifth.id, fifth.payload, fifth.revision) == (first.id, {}, 4)


@pytest.mark.parametrize("api", APIS)
def test_array_payload_of_a_running_job_is_not_merged_into_the_new_job(
    cclient: Client, db: psycopg.Connection[Any], schema: str, api: str
) -> None:
    first = add_keyed(cclient, api, "batch", [1], job_key=KEY)
    cclient.fetch_jobs(WORKER)
    second = add_keyed(cclient, api, "batch", [2], job_key=KEY)
    assert second.id != first.id
    assert [(r["id"], r["payload"], r["key"]) for r in jobs_table(db, schema)] == [
        (first.id, [1], None),
        (second.id, [2], KEY),
    ]


@pytest.mark.parametrize("api", APIS)
def test_unsafe_dedupe_discards_the_new_payload_and_bumps_the_revision(
    cclient: Client, db: psycopg.Connection[Any], schema: str, api: str
) -> None:
    first = add_keyed(cclient, api, "task", [1], job_key=KEY, job_key_mode="unsafe_dedupe")
    assert first.revision == 0
    for revision in (1, 2, 3):
        again = add_keyed(
            cclient,
            api,
            "other_task",
            [revision + 1],
            job_key=KEY,
            job_key_mode="unsafe_dedupe",
            max_attempts=1,
            priority=9,
            queue_name="q",
        )
        assert job_columns(again) == {**job_columns(first), "revision": revision}
    assert len(jobs_table(db, schema)) == 1


@pytest.mark.parametrize("api", APIS)
def test_preserve_run_at_keeps_run_at_only_while_attempts_is_zero(
    cclient: Client, clock: FakeClock, api: str
) -> None:
    later = T0 + timedelta(hours=2)
    first = add_keyed(cclient, api, "task", job_key=KEY, run_at=T0)
    kept = add_keyed(
        cclient, api, "task", job_key=KEY, run_at=later, job_key_mode="preserve_run_at"
    )
    assert (kept.id, kept.run_at, kept.attempts) == (first.id, T0, 0)
    cclient.fetch_jobs(WORKER)
    failed = cclient.fail_job(first.id, "boom")
    assert failed is not None and failed.attempts == 1
    replaced = add_keyed(
        cclient, api, "task", job_key=KEY, run_at=later, job_key_mode="preserve_run_at"
    )
    assert (replaced.id, replaced.run_at, replaced.attempts) == (first.id, later, 0)
    assert replaced.last_error is None


@pytest.mark.parametrize("api", APIS)
def test_keys_are_global_across_task_identifiers(
    cclient: Client, db: psycopg.Connection[Any], schema: str, api: str
) -> None:
    first = add_keyed(cclient, api, "task_a", {"a": 1}, job_key=KEY)
    moved = add_keyed(cclient, api, "task_b", {"b": 2}, job_key=KEY)
    assert moved.id == first.id
    assert [
        (r["task_identifier"], r["payload"], r["revision"]) for r in jobs_table(db, schema)
    ] == [("task_b", {"b": 2}, 1)]
    assert cclient.fetch_jobs(WORKER, task_identifiers=["task_a"]) == []
    assert [j.id for j in cclient.fetch_jobs(WORKER, task_identifiers=["task_b"])] == [first.id]


def test_revision_is_not_changed_when_a_key_is_only_cleared(
    cclient: Client, db: psycopg.Connection[Any], schema: str
) -> None:
    first = cclient.add_job("task", job_key=KEY)
    cclient.add_job("task", job_key=KEY)  # revision 1
    cclient.fetch_jobs(WORKER)
    cclient.add_job("task", job_key=KEY)
    old = job_row(db, schema, first.id)
    assert (old["key"], old["revision"]) == (None, 1)


# -- batches -----------------------------------------------------------------------------


def test_add_jobs_handles_every_state_in_one_batch_and_returns_rows_in_spec_order(
    cclient: Client, clock: FakeClock, db: psycopg.Connection[Any], schema: str
) -> None:
    waiting = cclient.add_job("t", {"w": 1}, job_key="waiting")
    running = cclient.add_job("t", {"r": 1}, job_key="running", priority=-1)
    failed = cclient.add_job("t", {"f": 1}, job_key="failed", max_attempts=1, priority=-2)
    assert [j.id for j in cclient.fetch_jobs(WORKER, 2)] == [failed.id, running.id]
    assert cclient.fail_job(failed.id, "dead") is not None
    dedupe = cclient.add_job("t", {"d": 1}, job_key="dedupe")

    jobs = cclient.add_jobs(
        [
            JobSpec(identifier="u", payload={"unkeyed": 1}),
            JobSpec(identifier="n", payload={"w": 2}, job_key="waiting"),
            JobSpec(identifier="n", payload={"r": 2}, job_key="running"),
            JobSpec(identifier="u", payload={"unkeyed": 2}),
            JobSpec(identifier="n", payload={"f": 2}, job_key="failed"),
            JobSpec(
                identifier="n", payload={"d": 2}, job_key="dedupe", job_key_mode="unsafe_dedupe"
            ),
            JobSpec(identifier="n", payload={"x": 1}, job_key="brand_new"),
        ]
    )
    assert [(j.task_identifier, j.payload, j.key, j.revision) for j in jobs] == [
        ("u", {"unkeyed": 1}, None, 0),
        ("n", {"w": 2}, "waiting", 1),
        ("n", {"r": 2}, "running", 0),
        ("u", {"unkeyed": 2}, None, 0),
        ("n", {"f": 2}, "failed", 0),
        ("t", {"d": 1}, "dedupe", 1),
        ("n", {"x": 1}, "brand_new", 0),
    ]
    assert jobs[1].id == waiting.id and jobs[5].id == dedupe.id
    assert jobs[0].id < jobs[3].id
    assert {jobs[2].id, jobs[4].id}.isdisjoint({running.id, failed.id})
    old_running = job_row(db, schema, running.id)
    assert (old_running["key"], old_running["attempts"], old_running["locked_by"]) == (
        None,
        old_running["max_attempts"],
        WORKER,
    )
    old_failed = job_row(db, schema, failed.id)
    assert (old_failed["key"], old_failed["attempts"], old_failed["last_error"]) == (
        None,
        1,
        "dead",
    )
    assert len(jobs_table(db, schema)) == 2 + len(jobs)


def test_batch_flag_applies_to_specs_without_a_mode(cclient: Client) -> None:
    first = cclient.add_job("task", job_key=KEY, run_at=T0)
    later = T0 + timedelta(hours=1)
    [job] = cclient.add_jobs(
        [JobSpec(identifier="task", job_key=KEY, run_at=later)], job_key_preserve_run_at=True
    )
    assert (job.id, job.run_at, job.revision) == (first.id, T0, 1)
    [job] = cclient.add_jobs([JobSpec(identifier="task", job_key=KEY, run_at=later)])
    assert (job.id, job.run_at, job.revision) == (first.id, later, 2)
