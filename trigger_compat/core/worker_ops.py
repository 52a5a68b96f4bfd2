"""The operations a worker process runs besides fetching: heartbeats, settling outcomes in
batches and rescuing the jobs of lost workers (pure, like :mod:`.ops`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .jobs import Job
from .ops import Op, Row, error_text, fetch_jobs
from .outcomes import Settlement


@dataclass(frozen=True)
class Beat:
    """What a heartbeat answers: the seconds until the oldest heartbeat of another worker is
    ``timeout`` old (None when there is no other worker), and the ids of this worker's jobs
    that were cancelled (``cancel_jobs``)."""

    seconds: float | None
    cancelled: tuple[int, ...] = ()


def beat(
    worker_id: str,
    name: str,
    hostname: str,
    pid: int,
    task_identifiers: Sequence[str] | None,
    timeout: timedelta = timedelta(seconds=30),
) -> Op[Beat]:
    """Record a heartbeat; returns a :class:`Beat`."""

    def parse(rows: list[Row]) -> Beat:
        if not rows:
            return Beat(None)
        value = rows[0]["seconds"]
        cancelled = tuple(int(i) for i in rows[0].get("cancelled") or ())
        return Beat(None if value is None else float(value), cancelled)

    op = heartbeat(worker_id, name, hostname, pid, task_identifiers, timeout)
    return Op(op.query, op.params, parse)


def heartbeat(
    worker_id: str,
    name: str,
    hostname: str,
    pid: int,
    task_identifiers: Sequence[str] | None,
    timeout: timedelta = timedelta(seconds=30),
) -> Op[float | None]:
    """Record a heartbeat; returns the seconds until the oldest heartbeat of another worker
    is ``timeout`` old (None when there is no other worker): when a rescue is due."""

    def parse(rows: list[Row]) -> float | None:
        value = rows[0]["seconds"] if rows else None
        return None if value is None else float(value)

    return Op(
        "heartbeat",
        {
            "worker_id": worker_id,
            "name": name,
            "hostname": hostname,
            "pid": pid,
            "task_identifiers": None if task_identifiers is None else list(task_identifiers),
            "timeout": timeout,
        },
        parse,
    )


def unregister_worker(worker_id: str) -> Op[int]:
    return Op("unregister_worker", {"worker_id": worker_id}, lambda rows: int(rows[0]["released"]))


def settle_jobs(
    worker_id: str, settlements: Sequence[Settlement], now: datetime | None
) -> Op[list[int]]:
    return Op(
        "settle_jobs",
        {
            "worker_id": worker_id,
            "job_ids": [s.job_id for s in settlements],
            "outcomes": [s.outcome for s in settlements],
            "errors": [None if s.error is None else error_text(s.error) for s in settlements],
            "run_ats": [s.run_at for s in settlements],
            "now": now,
        },
        lambda rows: [int(row["settle_jobs"]) for row in rows],
    )


def settle_and_fetch(
    worker_id: str,
    settlements: Sequence[Settlement],
    now: datetime | None,
    limit: int,
    task_identifiers: Sequence[str] | None,
    forbidden_flags: Sequence[str] | None,
) -> Op[list[Job]]:
    """Write ``settlements`` and fetch up to ``limit`` jobs, in one statement."""
    fetch = fetch_jobs(now, worker_id, limit, task_identifiers, forbidden_flags)
    settle = settle_jobs(worker_id, settlements, now)
    return Op("settle_and_fetch", {**settle.params, **fetch.params}, fetch.parse)


def _jobs(rows: list[Row]) -> list[Job]:
    return [Job.model_validate(row) for row in rows]


def rescue_jobs(timeout: timedelta) -> Op[list[Job]]:
    return Op("rescue_jobs", {"timeout": timeout}, _jobs)


def release_unknown_jobs(worker_id: str, known: Sequence[int]) -> Op[list[int]]:
    return Op(
        "release_unknown_jobs",
        {"worker_id": worker_id, "known": list(known)},
        lambda rows: [int(row["id"]) for row in rows],
    )


#: The notification payload that tells listening workers to reload their catalog.
RELOAD_NOTIFICATION = "catalog"
CANCEL_PREFIX = "cancel:"


def cancelled_ids(payload: str) -> list[int] | None:
    """The job ids of a ``cancel:<id>,<id>,...`` notification (``cancel_jobs``), or None for
    any other notification (new jobs: a count)."""
    if not payload.startswith(CANCEL_PREFIX):
        return None
    ids = []
    for part in payload[len(CANCEL_PREFIX) :].split(","):
        part = part.strip()
        if part.lstrip("-").isdigit():
            ids.append(int(part))
    return ids


def record_throughput(worker_id: str, minute: datetime, completed: int, failed: int) -> Op[None]:
    """Add a worker's settled runs of one minute to the ``job_stats`` table (the dashboard's
    throughput chart): one additive upsert per worker per minute."""
    return Op(
        "record_throughput",
        {"worker_id": worker_id, "minute": minute, "completed": completed, "failed": failed},
        lambda rows: None,
    )
