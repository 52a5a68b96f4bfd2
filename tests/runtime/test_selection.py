"""Which tasks of a worker a process handles: one rule for ZodWorker, the worker command and
the test queue's drain()."""

from __future__ import annotations

from typing import Any

import pytest

from trigger_compat.cli.worker import _build
from trigger_compat.core.catalog import Catalog
from trigger_compat.core.selection import select_tasks
from trigger_compat.demo.handlers import handlers as every_task
from trigger_compat.errors import WorkerConfigError
from trigger_compat.runtime.zodworker import ZodWorker

WORKER = {
    "tasks": {
        "given": {},
        "imported": {"handler": "trigger_compat.demo.handlers:log_job"},
        "neither": {},
    },
    "recurringTasks": {
        "tick": {"match": "* * * * *"},
        "tock": {"match": "*/5 * * * *", "handler": "trigger_compat.demo.handlers:log_job"},
    },
    "cleanup": {"frequencyExpression": "0 * * * *", "ttl": 1000, "maxCount": 10},
}


async def handler(payload: Any, job: Any) -> None:
    return None


def settings(**changes: Any) -> Any:
    return Catalog.model_validate({"workers": {"w": {**WORKER, **changes}}}).workers["w"]


def test_a_task_is_handled_by_a_given_handler_or_the_catalogs() -> None:
    s = select_tasks(settings(), {"given": handler, "tick": handler, "elsewhere": handler})
    assert s.handled == ("given", "imported", "tick", "tock")
    assert s.unhandled == ("neither",)
    assert s.handlers == {"given": handler, "tick": handler}
    assert s.refs == {
        "imported": "trigger_compat.demo.handlers:log_job",
        "tock": "trigger_compat.demo.handlers:log_job",
    }
    assert s.internal == ("__cleanupOldJobs",)
    assert s.identifiers == ("given", "imported", "tick", "tock", "__cleanupOldJobs")


def test_a_given_handler_wins_over_the_catalogs() -> None:
    s = select_tasks(settings(), {"imported": handler})
    assert s.handlers == {"imported": handler}
    assert "imported" not in s.refs


def test_only_restricts_every_kind_and_the_reporter_is_internal() -> None:
    s = select_tasks(
        settings(), {"given": handler}, only=["given", "neither", "__reporter"], reporter=True
    )
    assert s.handled == ("given",)
    assert s.unhandled == ("neither",)
    assert s.internal == ("__reporter",)
    assert select_tasks(settings(cleanup=None), {}).internal == ()


def test_a_mapping_that_answers_every_identifier() -> None:
    s = select_tasks(settings(), every_task)
    assert s.handled == ("given", "imported", "neither", "tick", "tock")
    assert s.unhandled == () and s.refs == {}


def test_the_worker_command_skips_a_worker_without_handlers_and_names_the_unhandled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    catalog = Catalog.model_validate({"workers": {"w": WORKER, "other": {"tasks": {"x": {}}}}})
    workers = _build(catalog, (), {"given": handler}, "postgresql://unused", True, None, ())
    assert [w.name for w in workers] == ["w"]
    assert {"given", "imported", "tock"} <= set(workers[0].build_tasks())
    warned = [r.getMessage() for r in caplog.records]
    assert "worker w: no handler for neither, tick; their jobs are left for other processes" in (
        warned
    )


def test_a_zodworker_names_every_task_without_a_handler() -> None:
    catalog = Catalog.model_validate({"workers": {"w": WORKER}})
    worker = ZodWorker("w", catalog, handlers={"given": handler}, database_url="unused")
    with pytest.raises(WorkerConfigError) as caught:
        worker.build_tasks()
    message = str(caught.value)
    assert "task 'neither' of worker 'w' has no handler" in message
    assert "task 'tick' of worker 'w' has no handler" in message
    assert "'given'" not in message and "'imported'" not in message


def test_the_worker_command_runs_the_cleanup_task_of_a_worker_with_cleanup() -> None:
    catalog = Catalog.model_validate({"workers": {"w": WORKER}})
    workers = _build(catalog, (), {"given": handler}, "postgresql://unused", True, None, ())
    assert "__cleanupOldJobs" in workers[0].build_tasks()
    only_given = _build(
        catalog, (), {"given": handler}, "postgresql://unused", True, None, ("given",)
    )
    assert set(only_given[0].build_tasks()) == {"given"}
