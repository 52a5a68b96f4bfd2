"""The database operations of recurring tasks, cleanup and the reporter (pure, like
:mod:`.ops`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..errors import ConfigurationError
from .jobs import Job, check_aware
from .ops import Op, Row
from .schedule import CronItem, KnownCrontab, cron_payload_json


@dataclass(frozen=True)
class CleanupResult:
    found: int
    deleted: int


@dataclass(frozen=True)
class QueueMetrics:
    added_count: int
    total_count: int


def _known(rows: list[Row]) -> dict[str, KnownCrontab]:
    return {
        row["identifier"]: KnownCrontab(
            row["identifier"], row["known_since"], row["last_execution"]
        )
        for row in rows
    }


def register_crontabs(identifiers: Sequence[str], now: datetime) -> Op[dict[str, KnownCrontab]]:
    """Record unknown identifiers as known since ``now``; read every given one."""
    return Op(
        "register_crontabs",
        {"identifiers": list(identifiers), "now": check_aware("now", now)},
        _known,
    )


def schedule_cron_jobs(
    tick: datetime, backfilled: bool, items: Sequence[CronItem]
) -> Op[list[Job]]:
    """Claim ``tick`` for each item and add one job per item claimed (one transaction)."""
    names = [i.identifier for i in items]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate cron identifiers in one tick: {names}")
    return Op(
        "schedule_cron_jobs",
        {
            "ts": check_aware("ts", tick),
            "payload": cron_payload_json(tick, backfilled),
            "identifiers": names,
            "queue_names": [i.queue_name for i in items],
            "max_attempts": [i.max_attempts for i in items],
            "priorities": [i.priority for i in items],
            "job_keys": [i.job_key for i in items],
            "job_key_modes": [i.job_key_mode for i in items],
        },
        lambda rows: [Job.model_validate(row) for row in rows],
    )


def cleanup_old_jobs(expiration: datetime, max_count: int) -> Op[CleanupResult]:
    """Delete up to ``max_count`` permanently failed, unlocked jobs with run_at before
    ``expiration``."""
    return Op(
        "cleanup_old_jobs",
        {"expiration": check_aware("expiration", expiration), "max_count": int(max_count)},
        lambda rows: CleanupResult(int(rows[0]["found"]), int(rows[0]["deleted"])),
    )


def collect_job_queues(max_count: int, lock_timeout_ms: int = 100) -> Op[int]:
    """Delete up to ``max_count`` rows of ``job_queues`` whose queue has no job and the
    default concurrency; how many were deleted (-1 when the lock on job_queues was not
    granted within ``lock_timeout_ms``: adds in flight; nothing was deleted). Never loses
    the queue row of a concurrent add (see ``functions/collect_job_queues.sql``)."""
    for name, value in (("max_count", max_count), ("lock_timeout_ms", lock_timeout_ms)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigurationError(name, f"must be an integer >= 1 (got {value!r})")
    return Op(
        "collect_job_queues",
        {"max_count": max_count, "lock_timeout_ms": lock_timeout_ms},
        lambda rows: int(rows[0]["deleted"]) if rows else 0,
    )


def queue_metrics(start_at: datetime, end_at: datetime) -> Op[QueueMetrics]:
    """Jobs created in ``(start_at, end_at)`` still in the table, and all jobs."""
    return Op(
        "queue_metrics",
        {"start_at": check_aware("start_at", start_at), "end_at": check_aware("end_at", end_at)},
        lambda rows: QueueMetrics(int(rows[0]["added_count"]), int(rows[0]["total_count"])),
    )
