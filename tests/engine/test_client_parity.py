"""One behaviour, two clients: the same script of calls gives the same results through ``Client``
and ``AsyncClient`` (each in a schema of its own, on the same clock), and ``client.py`` is the
current output of its generator."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from trigger_compat import AsyncClient, Client, InvalidJobError, JobSpec
from trigger_compat.core.jobs import Job

from ._support import T0, FakeClock

ROOT = Path(__file__).resolve().parents[2]

# A step: (method name, positional arguments, keyword arguments). Ids in arguments are the ids
# of earlier results, found by position: ("$id", step, index) stands for that job's id.
Step = tuple[str, tuple[Any, ...], dict[str, Any]]

SCRIPT: list[Step] = [
    ("add_job", ("email", {"to": "a@example.com"}), {}),
    ("add_job", ("email", {"to": "b@example.com"}), {"job_key": "k1", "priority": 2}),
    ("add_job", ("email", {"to": "c@example.com"}), {"job_key": "k1"}),  # replaces in place
    ("add_job", ("sync", [1]), {"queue_name": "q", "run_at": T0, "flags": ["slow"]}),
    (
        "add_jobs",
        (
            [
                JobSpec(identifier="sync", payload=[2], job_key="batch", queue_name="q"),
                JobSpec(identifier="email", payload={"n": 3}, max_attempts=2),
            ],
        ),
        {},
    ),
    ("add_job", ("x",), {"max_attempts": 0}),  # refused: nothing written
    ("fetch_jobs", ("w1", 2), {}),
    ("complete_jobs", ([("$id", 6, 0)],), {"worker_id": "w1"}),
    ("fail_job", (("$id", 6, 1), "boom"), {"worker_id": "w1"}),
    ("get_job", (("$id", 6, 1),), {}),
    ("reschedule_jobs", ([("$id", 6, 1)],), {"run_at": T0, "attempts": 0}),
    ("fetch_jobs", ("w2", 10), {"forbidden_flags": ["slow"]}),
    ("permanently_fail_jobs", ([("$id", 11, 0)], "stop"), {}),
    ("force_unlock_workers", (["w2"],), {}),
    ("set_queue_concurrency", ("q", 3), {}),
    ("remove_job", ("k1",), {}),
    ("remove_job", ("missing",), {}),
    ("fetch_jobs", ("w3", 10), {"task_identifiers": ["sync"]}),
]


def _resolve(value: Any, results: list[Any]) -> Any:
    if isinstance(value, tuple) and len(value) == 3 and value[0] == "$id":
        return results[value[1]][value[2]].id
    if isinstance(value, list):
        return [_resolve(v, results) for v in value]
    if isinstance(value, tuple):
        return tuple(_resolve(v, results) for v in value)
    return value


def _observable(result: Any) -> Any:
    """What a caller sees, minus the instants the database's own clock gives."""
    if isinstance(result, Job):
        fields = result.model_dump()
        for name in ("created_at", "updated_at", "locked_at"):
            fields[name] = fields[name] is not None
        return fields
    if isinstance(result, list):
        return [_observable(r) for r in result]
    if isinstance(result, BaseException):
        return (type(result).__name__, str(result))
    return result


def _steps(call: Callable[[str, tuple[Any, ...], dict[str, Any]], Any]) -> Iterator[Any]:
    results: list[Any] = []
    for name, args, kwargs in SCRIPT:
        try:
            result = call(name, _resolve(args, results), _resolve(kwargs, results))
        except InvalidJobError as exc:
            result = exc
        results.append(result)
        yield result


@pytest.fixture()
def two_schemas(database_url: str) -> Iterator[tuple[str, str]]:
    names = (f"t_{uuid.uuid4().hex[:12]}", f"t_{uuid.uuid4().hex[:12]}")
    yield names
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(name)))


async def test_the_same_script_gives_the_same_results(
    database_url: str, two_schemas: tuple[str, str]
) -> None:
    sync_schema, async_schema = two_schemas
    with Client(database_url, schema=sync_schema, clock=FakeClock()) as client:
        assert client.migrate()
        sync_results = [_observable(r) for r in _steps(lambda n, a, k: getattr(client, n)(*a, **k))]

    async_results = []
    async with AsyncClient(database_url, schema=async_schema, clock=FakeClock()) as aclient:
        assert await aclient.migrate()
        results: list[Any] = []
        for name, args, kwargs in SCRIPT:
            try:
                method = getattr(aclient, name)
                result = await method(*_resolve(args, results), **_resolve(kwargs, results))
            except InvalidJobError as exc:
                result = exc
            results.append(result)
            async_results.append(_observable(result))

    assert len(sync_results) == len(SCRIPT)
    assert sync_results == async_results
    # The script did exercise both sides of each branch: a refusal, fetched jobs, a removal.
    assert sync_results[5][0] == "InvalidJobError"
    assert len(sync_results[6]) == 2
    assert sync_results[16] is None and sync_results[15] is not None


def test_client_py_is_the_current_output_of_its_generator() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_sync_client.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
