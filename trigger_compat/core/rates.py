"""Rates for ``trigger-compat status --watch`` (pure): jobs added, finished and failed per
second between two samples of the schema.

Finished jobs leave the table, so they are counted indirectly: every job added since the last
sample either is still in the table or finished (completed, or removed), hence
``finished = added - (jobs now - jobs then)``. ``added`` comes from the job id sequence, which
counts every job ever added (an id taken by a rolled-back insert counts too: a slight
overestimate at worst).
"""

from __future__ import annotations

from dataclasses import dataclass

from .ops import Op, Row


@dataclass(frozen=True)
class Sample:
    """What one refresh saw: when (seconds, monotonic), the last job id handed out, the jobs
    in the table and the permanently failed ones among them."""

    at: float
    last_id: int
    jobs: int
    failed: int


@dataclass(frozen=True)
class Rates:
    """Per second, between two samples."""

    added: float
    finished: float
    failed: float
    seconds: float


def rates(before: Sample, after: Sample) -> Rates | None:
    """The rates from ``before`` to ``after``; None when no time passed between them."""
    seconds = after.at - before.at
    if seconds <= 0:
        return None
    added = max(0, after.last_id - before.last_id)
    finished = max(0, added - (after.jobs - before.jobs))
    failed = max(0, after.failed - before.failed)
    return Rates(added / seconds, finished / seconds, failed / seconds, seconds)


def _last_id(rows: list[Row]) -> int:
    value = rows[0]["last_id"] if rows else None
    return 0 if value is None else int(value)


def last_job_id(schema: str) -> Op[int]:
    """The last job id the schema's sequence handed out (0 before the first job)."""
    return Op("admin_last_job_id", {"schema_name": schema}, _last_id)
