from __future__ import annotations

import pytest

from examples.batch import start_runs
from trigger_compat import InvalidJobError
from trigger_compat.testing.plugin import TestQueue


def test_batch_enqueue(tc_queue: TestQueue) -> None:
    jobs = start_runs(tc_queue.client, ["run_1", "run_2"])
    assert [j.task_identifier for j in jobs] == ["startRun"] * 2 + ["deliverRunSubscriptions"] * 2
    tc_queue.assert_enqueued("startRun", {"id": "run_2"}, maxAttempts=4)
    tc_queue.assert_enqueued("deliverRunSubscriptions", count=2, priority=5)

    order: list[str] = []
    tc_queue.drain(
        {
            "startRun": lambda p, job: order.append(f"start {p['id']}"),
            "deliverRunSubscriptions": lambda p, job: order.append(f"deliver {p['id']}"),
        }
    )
    # priority 0 before 5, then by run_at and id: deterministic.
    assert order == ["start run_1", "start run_2", "deliver run_1", "deliver run_2"]


def test_batch_is_all_or_nothing(tc_queue: TestQueue) -> None:
    with pytest.raises(InvalidJobError):
        tc_queue.client.enqueue_many([("startRun", {"id": "ok"}), ("startRun", {"id": 42})])
    tc_queue.assert_not_enqueued("startRun")
