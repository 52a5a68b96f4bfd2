"""Pausing tasks and named queues (pure): the operations behind ``pause``, ``resume`` and the
paused list of ``status``.

A paused task or queue keeps taking jobs (enqueue is unaffected), but ``fetch_jobs`` hands out
none of its jobs, to any worker, from the moment the pause commits (see
``sql/functions/pause_jobs.sql``). Jobs already running finish. Pausing a queue pauses its jobs
of every task; pausing a task pauses its jobs in every queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ..errors import InvalidJobError
from .jobs import MAX_IDENTIFIER_LENGTH, MAX_QUEUE_NAME_LENGTH, check_text
from .ops import Op, Row

PauseKind = Literal["task", "queue"]


@dataclass(frozen=True)
class PausedRow:
    kind: PauseKind
    name: str
    paused_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "paused_at": self.paused_at.isoformat()}


def _target(
    task: str | Sequence[str] | None, queue: str | Sequence[str] | None
) -> tuple[PauseKind, list[str]]:
    if (task is None) == (queue is None):
        raise InvalidJobError("task", "give exactly one of task= or queue=")
    kind: PauseKind = "task" if task is not None else "queue"
    value = task if task is not None else queue
    names = [value] if isinstance(value, str) else list(value or ())
    if not names:
        raise InvalidJobError(kind, "name at least one")
    limit = MAX_IDENTIFIER_LENGTH if kind == "task" else MAX_QUEUE_NAME_LENGTH
    for i, name in enumerate(names):
        if check_text(f"{kind}[{i}]", name, limit, f"name the {kind}") is None:
            raise InvalidJobError(f"{kind}[{i}]", "must be a non-empty string")
    return kind, names


def set_paused(
    pause: bool,
    task: str | Sequence[str] | None = None,
    queue: str | Sequence[str] | None = None,
) -> Op[list[str]]:
    """Pause (or resume) tasks or queues; the result is the names whose state changed."""
    kind, names = _target(task, queue)
    return Op(
        "pause_jobs",
        {"kind": kind, "names": names, "pause": pause},
        lambda rows: [str(r["name"]) for r in rows],
    )


def _paused(rows: list[Row]) -> list[PausedRow]:
    return [PausedRow(r["kind"], r["name"], r["paused_at"]) for r in rows]


def paused() -> Op[list[PausedRow]]:
    """Every paused task and queue, oldest pause first."""
    return Op("admin_paused", {}, _paused)
