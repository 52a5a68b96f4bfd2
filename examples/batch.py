"""Enqueue many jobs in one round trip, all or nothing.

python -m examples.batch
"""

from __future__ import annotations

from collections.abc import Sequence

from trigger_compat import Client, Job

from ._common import CATALOG, database_url


def start_runs(queue: Client, run_ids: Sequence[str]) -> list[Job]:
    """One ``startRun`` job per run, plus a subscription delivery for each, in one call."""
    items = [("startRun", {"id": run_id}) for run_id in run_ids]
    items += [("deliverRunSubscriptions", {"id": run_id}, {"priority": 5}) for run_id in run_ids]
    return queue.enqueue_many(items)


if __name__ == "__main__":
    with Client(database_url(), catalog=CATALOG) as queue:
        queue.migrate()
        print([job.id for job in start_runs(queue, ["run_1", "run_2", "run_3"])])
