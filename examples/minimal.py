"""The smallest program: enqueue a job and run it with a worker.

python -m examples.minimal
"""

from __future__ import annotations

import asyncio
from typing import Any

from trigger_compat import Job
from trigger_compat.runtime.zodworker import ZodWorker

from ._common import CATALOG, database_url


async def run(url: str, *, schema: str | None = None) -> list[str]:
    ran: list[str] = []
    done = asyncio.Event()

    worker = ZodWorker("workerQueue", CATALOG, database_url=url, schema=schema, tasks=["startRun"])

    @worker.task("startRun")
    async def start_run(payload: dict[str, Any], job: Job) -> None:
        ran.append(payload["id"])
        done.set()

    await worker.initialize()  # migrates the schema, then runs jobs in the background
    try:
        await worker.enqueue("startRun", {"id": "run_1"})
        await asyncio.wait_for(done.wait(), timeout=30)
    finally:
        await worker.stop()
    return ran


if __name__ == "__main__":
    print(asyncio.run(run(database_url())))
