"""Worker events with graphile-worker's names (``job:start``, ``job:success``, …)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from ..errors import ConfigurationError

logger = logging.getLogger("trigger_compat.events")

EVENTS = frozenset(
    {
        "pool:create", "pool:listen:connecting", "pool:listen:success", "pool:listen:error",
        "pool:listen:notification", "pool:release", "pool:gracefulShutdown",
        "pool:gracefulShutdown:complete", "pool:forcefulShutdown",
        "worker:create", "worker:release", "worker:stop", "worker:getJob:start",
        "worker:getJob:error", "worker:getJob:empty", "worker:fatalError",
        "job:start", "job:success", "job:error", "job:failed", "job:complete", "job:rescued",
        "job:settle:error", "cron:schedule", "cron:scheduled", "cron:backfill",
        "cron:prematureTimer", "cron:overdueTimer",
        "stop",
    }
)  # fmt: skip

Listener = Callable[[dict[str, Any]], Any]


class EventEmitter:
    """``on(event, callback)``; callbacks may be sync or async and can never crash the worker."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = defaultdict(list)
        self._pending: set[asyncio.Task[Any]] = set()

    def on(self, event: str, callback: Listener) -> Listener:
        if event not in EVENTS:
            known = ", ".join(sorted(EVENTS))
            raise ConfigurationError(None, f"unknown event {event!r}; known events: {known}")
        self._listeners[event].append(callback)
        return callback

    def off(self, event: str, callback: Listener) -> None:
        if callback in self._listeners.get(event, []):
            self._listeners[event].remove(callback)

    def emit(self, event: str, **payload: Any) -> None:
        for callback in tuple(self._listeners.get(event, ())):
            try:
                result = callback({"event": event, **payload})
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._pending.add(task)
                    task.add_done_callback(self._done)
            except Exception:
                logger.exception("listener of %s raised; ignored", event)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("async listener raised; ignored", exc_info=task.exception())
