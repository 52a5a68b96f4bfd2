"""The Python side of the cut-over example: a handler per task of examples/cutover/catalog.yaml.

Each records what it ran in ``ran`` (an application would do its work here); the worker
command takes them with ``--app examples.cutover.handlers``.
"""

from __future__ import annotations

from typing import Any

from trigger_compat import Job

#: (task identifier, payload, job id, attempt) of every run, in order.
ran: list[tuple[str, Any, int, int]] = []


def _record(identifier: str) -> Any:
    async def handler(payload: Any, job: Job) -> None:
        ran.append((identifier, payload, job.id, job.attempts))

    handler.__name__ = identifier.replace(".", "_")
    return handler


TASKS = (
    "deliverEvent",
    "deliverWebhookRequest",
    "scheduleEmail",
    "processCallbackTimeout",
    "events.deliverScheduled",
    "probeEndpoint",
    "startRun",
    "purgeOldIndexings",
)

handlers = {identifier: _record(identifier) for identifier in TASKS}
