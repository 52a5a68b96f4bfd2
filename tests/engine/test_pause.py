"""Pausing tasks and named queues: fetch_jobs hands out none of their jobs, they still take new
jobs, and resume lets them run."""

from __future__ import annotations

import pytest

from trigger_compat import Client, InvalidJobError


def _fetch_all(c: Client, tasks: list[str] | None = None) -> list[tuple[str, str | None]]:
    jobs = c.fetch_jobs("w", 50, task_identifiers=tasks)
    return sorted(
        ((j.task_identifier, j.queue_name) for j in jobs), key=lambda p: (p[0], p[1] or "")
    )


def test_pause_and_resume_a_task(cclient: Client) -> None:
    cclient.add_job("t1", {})
    cclient.add_job("t1", {}, queue_name="q")
    cclient.add_job("t2", {})
    assert cclient.pause(task="t1") == ["t1"]
    assert cclient.pause(task="t1") == []  # already paused
    assert [(p.kind, p.name) for p in cclient.paused()] == [("task", "t1")]
    cclient.add_job("t1", {})  # still enqueues
    assert _fetch_all(cclient, ["t1"]) == []
    assert _fetch_all(cclient) == [("t2", None)]
    assert cclient.resume(task="t1") == ["t1"]
    assert cclient.paused() == []
    assert _fetch_all(cclient) == [("t1", None), ("t1", None), ("t1", "q")]


def test_pause_a_queue(cclient: Client) -> None:
    cclient.add_job("t1", {}, queue_name="q")
    cclient.add_job("t1", {}, queue_name="r")
    cclient.add_job("t1", {})
    assert cclient.pause(queue=["q"]) == ["q"]
    assert _fetch_all(cclient, ["t1"]) == [("t1", None), ("t1", "r")]
    cclient.resume(queue="q")
    assert _fetch_all(cclient) == [("t1", "q")]


def test_paused_task_in_a_queue_with_a_task_list(cclient: Client) -> None:
    cclient.add_job("t1", {}, queue_name="q")
    cclient.add_job("t2", {}, queue_name="q2")
    cclient.pause(task=["t1"])
    assert _fetch_all(cclient, ["t1", "t2"]) == [("t2", "q2")]
    assert _fetch_all(cclient, ["t1"]) == []


def test_pause_arguments_are_checked(cclient: Client) -> None:
    with pytest.raises(InvalidJobError, match="exactly one"):
        cclient.pause()
    with pytest.raises(InvalidJobError, match="exactly one"):
        cclient.pause(task="a", queue="b")
    with pytest.raises(InvalidJobError):
        cclient.resume(queue="")
