"""Which tasks of a catalog worker a process handles, pure: the one rule that ``ZodWorker``,
the ``worker`` command and the test queue's ``drain()`` share.

A task or recurring task is *handled* when a handler is given for it, or when the catalog
names one (``handler: module:function``); the internal recurring tasks (``__cleanupOldJobs``
when the worker has ``cleanup``, ``__reporter`` when a reporter is given) are run by the
worker itself. ``only`` restricts all of them to some identifiers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .catalog import CLEANUP_IDENTIFIER, WorkerSettings
from .schedule import REPORTER_IDENTIFIER

__all__ = ["TaskSelection", "select_tasks"]


@dataclass(frozen=True)
class TaskSelection:
    """The tasks of one worker that a process handles."""

    handlers: dict[str, Callable[..., Any]]
    """The given handlers of the chosen tasks and recurring tasks."""
    refs: dict[str, str]
    """``module:function`` of the chosen ones handled by the catalog's ``handler:`` only."""
    handled: tuple[str, ...]
    """Chosen tasks, then recurring tasks, that have a handler, in catalog order."""
    unhandled: tuple[str, ...]
    """Chosen tasks and recurring tasks without a handler (their jobs are left to others)."""
    internal: tuple[str, ...]
    """Chosen internal recurring tasks: ``__cleanupOldJobs``, ``__reporter``."""

    @property
    def identifiers(self) -> tuple[str, ...]:
        """Every identifier the process runs: the handled ones, then the internal ones."""
        return (*self.handled, *self.internal)


def select_tasks(
    settings: WorkerSettings,
    handlers: Mapping[str, Callable[..., Any]],
    *,
    only: Iterable[str] | None = None,
    reporter: bool = False,
) -> TaskSelection:
    """The tasks of ``settings`` handled with ``handlers`` (any mapping: only the worker's
    identifiers are looked up in it), restricted to ``only`` when given."""
    wanted = set(only) if only is not None else None

    def chosen(identifier: str) -> bool:
        return wanted is None or identifier in wanted

    catalog_refs: dict[str, str | None] = {
        **{i: t.handler for i, t in settings.tasks.items()},
        **{i: r.handler for i, r in settings.recurring_tasks.items()},
    }
    identifiers = [i for i in catalog_refs if chosen(i)]
    given = {i: handlers[i] for i in identifiers if i in handlers}
    refs = {i: ref for i in identifiers if i not in given and (ref := catalog_refs[i])}
    internal = [CLEANUP_IDENTIFIER] if settings.cleanup is not None else []
    if reporter:
        internal.append(REPORTER_IDENTIFIER)
    return TaskSelection(
        handlers=given,
        refs=refs,
        handled=tuple(i for i in identifiers if i in given or i in refs),
        unhandled=tuple(i for i in identifiers if i not in given and i not in refs),
        internal=tuple(i for i in internal if chosen(i)),
    )
