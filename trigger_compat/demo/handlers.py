"""Handlers for every task of the sample catalog that log what they receive and succeed.

Use them to watch the sample catalog run: ``trigger-compat worker --embedded --catalog
catalog.yaml --app trigger_compat.demo.handlers`` (or ``--database-url URL``). ``handlers``
answers :func:`log_job` for any identifier.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..core.jobs import Job

logger = logging.getLogger("trigger_compat.demo")


async def log_job(payload: Any, job: Job) -> None:
    """Log the job and succeed."""
    logger.info(
        "ran %s #%s (attempt %s of %s): %s",
        job.task_identifier,
        job.id,
        job.attempts,
        job.max_attempts,
        payload,
    )


class _EveryTask(Mapping[str, Callable[..., Any]]):
    """A mapping that holds :func:`log_job` under every identifier."""

    def __getitem__(self, identifier: str) -> Callable[..., Any]:
        return log_job

    def __contains__(self, identifier: object) -> bool:
        return isinstance(identifier, str)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


handlers: Mapping[str, Callable[..., Any]] = _EveryTask()
