"""The pytest plugin's queue with unique jobs and pause/resume."""

from __future__ import annotations

from typing import Any

import pytest

from trigger_compat.testing.plugin import TestQueue


@pytest.fixture()
def tc_catalog() -> None:
    return None


def test_unique_jobs_in_the_test_queue(tc_queue: TestQueue) -> None:
    first = tc_queue.client.add_job("sync", {"org": 1}, unique={"byArgs": True, "byPeriod": "1h"})
    again = tc_queue.client.add_job("sync", {"org": 1}, unique={"byArgs": True, "byPeriod": "1h"})
    assert again.deduplicated and again.id == first.id
    tc_queue.assert_enqueued("sync", {"org": 1}, count=1)
    ran: list[Any] = []
    tc_queue.drain({"sync": lambda payload, job: ran.append(payload)})
    assert ran == [{"org": 1}]
    # Within the hour the key still holds after the job completed.
    assert tc_queue.client.add_job(
        "sync", {"org": 1}, unique={"byPeriod": "1h", "byArgs": True}
    ).deduplicated
    tc_queue.advance(minutes=60)
    assert not tc_queue.client.add_job(
        "sync", {"org": 1}, unique={"byPeriod": "1h", "byArgs": True}
    ).deduplicated


def test_drain_skips_paused_tasks(tc_queue: TestQueue) -> None:
    tc_queue.client.add_job("a", {})
    tc_queue.client.add_job("b", {})
    assert tc_queue.pause(task="a") == ["a"]
    ran: list[str] = []
    handlers = {"a": lambda p, job: ran.append("a"), "b": lambda p, job: ran.append("b")}
    tc_queue.drain(handlers)
    assert ran == ["b"]
    tc_queue.resume(task="a")
    tc_queue.drain(handlers)
    assert ran == ["b", "a"]
