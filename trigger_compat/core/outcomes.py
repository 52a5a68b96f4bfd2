"""What happens to a job after its handler ran (pure).

Handlers signal outcomes other than success or failure by raising :class:`JobCancel` (fail
for good, now) or :class:`JobSnooze` (run again later without using an attempt).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from ..errors import TriggerCompatError
from .jobs import Job
from .tracebacks import error_message as error_message
from .tracebacks import error_with_traceback

Outcome = Literal["complete", "retry", "cancel", "snooze", "delete", "release"]
OnFinalFailure = Literal["keep", "delete"]


class JobCancel(TriggerCompatError):
    """Raise from a handler to fail the job permanently, now, whatever attempts remain."""


class JobSnooze(TriggerCompatError):
    """Raise from a handler to run the job again after ``seconds``, without using an attempt."""

    def __init__(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("JobSnooze: seconds must be ≥ 0")
        self.seconds = seconds
        super().__init__(f"snoozed for {seconds} s")


class JobTimeoutError(TriggerCompatError, TimeoutError):
    """The handler ran longer than its task's timeout."""


@dataclass(frozen=True)
class Settlement:
    """The outcome of one run of one job, as ``settle_jobs`` takes it."""

    job_id: int
    outcome: Outcome
    error: str | None = None
    run_at: datetime | None = None


def is_final_attempt(job: Job) -> bool:
    return job.attempts >= job.max_attempts


def settle_failure(
    job: Job,
    exc: BaseException,
    now: datetime,
    *,
    retry_at: datetime | None = None,
    on_final_failure: OnFinalFailure = "keep",
    swallowable: bool = True,
) -> Settlement:
    """The settlement of a handler that raised ``exc``.

    ``retry_at`` is the task's own retry time (None = the default backoff).
    ``on_final_failure="delete"`` removes a job whose final attempt failed (trigger.dev's
    2024 behaviour) unless ``swallowable`` is False (payload validation errors and recurring
    tasks are never swallowed).

    The settlement's error is the message followed by the traceback, bounded
    (:func:`~trigger_compat.core.tracebacks.error_with_traceback`).
    """
    if isinstance(exc, JobSnooze):
        return Settlement(job.id, "snooze", None, now + timedelta(seconds=exc.seconds))
    message = error_with_traceback(exc)
    if isinstance(exc, JobCancel):
        return Settlement(job.id, "cancel", message)
    if is_final_attempt(job) and on_final_failure == "delete" and swallowable:
        return Settlement(job.id, "delete", message)
    return Settlement(job.id, "retry", message, retry_at)
