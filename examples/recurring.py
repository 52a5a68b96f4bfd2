"""A recurring task: the catalog's ``purgeOldIndexings`` runs at minute 0 of every hour (UTC).

Every worker process runs the scheduler; each tick gives exactly one job however many run.

    python -m examples.recurring
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from trigger_compat import Job
from trigger_compat.runtime.zodworker import ZodWorker

from ._common import CATALOG, database_url

purged_before: list[datetime] = []


async def purge_old_indexings(payload: dict[str, Any], job: Job) -> None:
    # payload is {"ts": datetime of the tick (UTC), "backfilled": bool}
    ts: datetime = payload["ts"]
    purged_before.append(ts)


def make_worker(url: str, *, schema: str | None = None, clock: Any = None) -> ZodWorker:
    return ZodWorker(
        "workerQueue",
        CATALOG,
        database_url=url,
        schema=schema,
        handlers={"purgeOldIndexings": purge_old_indexings},
        tasks=["purgeOldIndexings"],  # this process runs only that task
        clock=clock,
    )


async def main() -> None:
    worker = make_worker(database_url())
    await worker.initialize()
    try:
        await asyncio.Event().wait()  # until Ctrl-C
    finally:
        await worker.stop()


if __name__ == "__main__":
    asyncio.run(main())
