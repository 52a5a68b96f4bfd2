"""Recurring tasks, pure: the cron items of a worker, which ticks are due, the backfill plan
and the ``_cron`` payload (graphile-worker's ``runCron``, minus the I/O).

A *tick* is a UTC minute (seconds and microseconds zero) at which an item's cron expression
matches. Scheduling a tick claims it in ``known_crontabs`` and adds one job whose run_at is
the tick and whose stored payload is ``{"_cron": {"ts": "<ISO-8601>", "backfilled": bool}}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .catalog import CLEANUP_IDENTIFIER, RecurringTaskOptions, WorkerSettings
from .cron import CronError, CronSchedule, parse_cron

__all__ = [
    "MINUTE",
    "REPORTER_CRON",
    "REPORTER_IDENTIFIER",
    "CronItem",
    "KnownCrontab",
    "backfill_plan",
    "ceil_minute",
    "check_cron_expressions",
    "cron_items",
    "cron_payload",
    "due_items",
    "floor_minute",
    "iso_timestamp",
]

MINUTE = timedelta(minutes=1)
REPORTER_IDENTIFIER = "__reporter"
REPORTER_CRON = "50 * * * *"


@dataclass(frozen=True)
class CronItem:
    """One recurring task as the scheduler sees it (graphile's ``ParsedCronItem``)."""

    identifier: str
    schedule: CronSchedule
    backfill_period_ms: int = 0
    queue_name: str | None = None
    max_attempts: int | None = None
    priority: int | None = None
    job_key: str | None = None
    job_key_mode: str | None = None

    @classmethod
    def from_options(
        cls, identifier: str, expression: str, options: RecurringTaskOptions | None = None
    ) -> CronItem:
        o = options or RecurringTaskOptions.model_validate({})
        return cls(
            identifier,
            parse_cron(expression),
            o.backfill_period,
            o.queue_name,
            o.max_attempts,
            o.priority,
            o.job_key,
            o.job_key_mode,
        )

    def matches(self, tick: datetime) -> bool:
        return self.schedule.matches(tick)


@dataclass(frozen=True)
class KnownCrontab:
    """A row of ``known_crontabs``."""

    identifier: str
    known_since: datetime
    last_execution: datetime | None

    @property
    def not_before(self) -> datetime:
        """The oldest tick a backfill may schedule (graphile: last_execution or known_since)."""
        return self.last_execution or self.known_since


def _cron_problem(expression: Any) -> str | None:
    try:
        parse_cron(expression)
    except CronError as exc:
        # The same words as the catalog loader (catalog validate).
        return f"invalid cron expression {expression!r}: {exc}"
    return None


def check_cron_expressions(worker: str, settings: WorkerSettings) -> list[str]:
    """Every invalid cron expression of a worker, as ``<key path>: <message>`` lines spelled
    like ``trigger-compat catalog validate`` spells them."""
    problems: list[str] = []
    if settings.cleanup is not None:
        problem = _cron_problem(settings.cleanup.frequency_expression)
        if problem:
            problems.append(f"workers.{worker}.cleanup.frequencyExpression: {problem}")
    for name, task in settings.recurring_tasks.items():
        problem = _cron_problem(task.match)
        if problem:
            problems.append(f"workers.{worker}.recurringTasks.{name}.match: {problem}")
    return problems


def cron_items(
    settings: WorkerSettings, *, reporter: bool = False, only: Iterable[str] | None = None
) -> list[CronItem]:
    """The cron items of a worker, in ZodWorker's order: cleanup, reporter, recurring tasks.
    ``only`` restricts them to those identifiers (a worker started for some tasks only)."""
    wanted = set(only) if only is not None else None
    items: list[CronItem] = []
    if settings.cleanup is not None:
        items.append(
            CronItem.from_options(
                CLEANUP_IDENTIFIER,
                settings.cleanup.frequency_expression,
                settings.cleanup.task_options,
            )
        )
    if reporter:
        items.append(CronItem.from_options(REPORTER_IDENTIFIER, REPORTER_CRON))
    for name, task in settings.recurring_tasks.items():
        items.append(CronItem.from_options(name, task.match, task.options))
    if wanted is not None:
        items = [i for i in items if i.identifier in wanted]
    return items


def floor_minute(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError("scheduling needs timezone-aware datetimes")
    return t.astimezone(UTC).replace(second=0, microsecond=0)


def ceil_minute(t: datetime) -> datetime:
    """The first minute boundary at or after ``t``."""
    floor = floor_minute(t)
    return floor if floor == t else floor + MINUTE


def due_items(items: Sequence[CronItem], tick: datetime) -> list[CronItem]:
    return [item for item in items if item.matches(tick)]


def iso_timestamp(t: datetime) -> str:
    """``Date.prototype.toISOString()``: ``2024-05-01T10:50:00.000Z``."""
    u = t.astimezone(UTC)
    return u.strftime("%Y-%m-%dT%H:%M:%S.") + f"{u.microsecond // 1000:03d}Z"


def cron_payload(tick: datetime, backfilled: bool) -> dict[str, Any]:
    """The stored payload of a recurring job."""
    return {"_cron": {"ts": iso_timestamp(tick), "backfilled": bool(backfilled)}}


def cron_payload_json(tick: datetime, backfilled: bool) -> str:
    return json.dumps(cron_payload(tick, backfilled), separators=(",", ":"))


def backfill_plan(
    items: Sequence[CronItem], known: Mapping[str, KnownCrontab], start: datetime
) -> list[tuple[datetime, list[CronItem]]]:
    """The missed ticks to schedule at start-up, oldest first, as ``(tick, items)``.

    graphile's rule: from ``start − max(backfillPeriod)`` rounded up to the minute, every
    minute before ``start``; an item is due at a minute when its own backfillPeriod reaches
    back that far, the minute is not before its ``last_execution`` (or ``known_since``, so an
    identifier registered at start gets nothing) and its expression matches. Ticks already
    scheduled are refused again by the database claim.
    """
    largest = max((i.backfill_period_ms for i in items), default=0)
    if largest <= 0:
        return []
    plan: list[tuple[datetime, list[CronItem]]] = []
    for minute in _minutes(ceil_minute(start - timedelta(milliseconds=largest)), start):
        age = start - minute
        due = [
            item
            for item in items
            if item.backfill_period_ms > 0
            and timedelta(milliseconds=item.backfill_period_ms) >= age
            and item.identifier in known
            and minute >= known[item.identifier].not_before
            and item.matches(minute)
        ]
        if due:
            plan.append((minute, due))
    return plan


def _minutes(first: datetime, before: datetime) -> Iterator[datetime]:
    minute = first
    while minute < before:
        yield minute
        minute += MINUTE
