"""Fault injection with real processes: four worker processes run jobs whose handlers record
every execution, while workers are SIGKILLed at chosen points, their connections terminated or
dropped by a proxy, or the database restarted. After each scenario: no job lost, none completed
twice, re-runs only after a crash or a lost lease (counted), no named queue over its limit, and
nothing left locked by a dead worker once rescue_after has passed.

``TRIGGER_COMPAT_FAULT_SEED`` fixes the seed (else a random one, printed in the table)."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support.servers import restart_server

from ._harness import FaultRun
from ._proxy import DropProxy

pytestmark = pytest.mark.timeout(240)


def _seed() -> int:
    value = os.environ.get("TRIGGER_COMPAT_FAULT_SEED")
    return int(value) if value else random.SystemRandom().randrange(2**31)


def _finish(run: FaultRun, fault_table: Callable[[dict[str, Any]], None]) -> None:
    report = run.audit()
    fault_table(report.as_dict())
    assert report.lost == 0 and report.completed_twice == 0
    assert report.faults > 0


def test_sigkill_at_every_point(
    tmp_path: Path, database_url: str, schema: str, fault_table: Any
) -> None:
    """Workers kill themselves before a fetch commits, mid-handler and between the handler's
    end and the write of its outcome; the test also SIGKILLs workers at random moments."""
    plan = {"fetch": 2, "mid": 2, "after": 2}
    with FaultRun("sigkill", database_url, schema, tmp_path, seed=_seed(), fetch_hooks=True) as run:
        run.add_jobs(120, plan)
        run.run(
            [
                (25, run.kill_random_worker),
                (50, lambda: run.add_jobs(80, plan)),
                (90, run.kill_random_worker),
                (130, run.kill_random_worker),
                (130, run.kill_random_worker),
            ]
        )
        _finish(run, fault_table)
        kinds = run.report.fault_kinds
        assert kinds.get("sigkill") == 4, kinds
        # A planned kill is skipped when another fault already cut its first attempt short.
        assert all(kinds.get(point, 0) > 0 for point in plan), kinds


def test_terminate_every_worker_connection(
    tmp_path: Path, database_url: str, schema: str, db: psycopg.Connection[Any], fault_table: Any
) -> None:
    app = f"tcf_{uuid.uuid4().hex[:10]}"
    worker_url = psycopg.conninfo.make_conninfo(database_url, application_name=app)

    with FaultRun(
        "terminate", database_url, schema, tmp_path, seed=_seed(), worker_url=worker_url
    ) as run:

        def terminate() -> None:
            found = db.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where application_name = %s",
                (app,),
            ).fetchall()
            assert found, "the workers have connections"
            run.fault("terminate_backend", len(found))

        run.add_jobs(160)
        run.run(
            [
                (25, terminate),
                (60, terminate),
                (60, lambda: run.add_jobs(60)),
                (110, terminate),
                (160, terminate),
            ]
        )
        _finish(run, fault_table)


def test_proxy_drops_connections(
    tmp_path: Path, database_url: str, schema: str, fault_table: Any
) -> None:
    with DropProxy(database_url) as proxy:
        with FaultRun(
            "proxy", database_url, schema, tmp_path, seed=_seed(), worker_url=proxy.url()
        ) as run:

            def drop() -> None:
                dropped = proxy.drop_all() // 2
                assert dropped, "the workers connect through the proxy"
                run.fault("proxy_drop", dropped)

            run.add_jobs(160)
            run.run(
                [
                    (25, drop),
                    (60, drop),
                    (60, lambda: run.add_jobs(60)),
                    (110, drop),
                    (160, drop),
                ]
            )
            _finish(run, fault_table)
        assert proxy.connections > 0


def test_database_stop_and_start(tmp_path: Path, private_server: Any, fault_table: Any) -> None:
    url = str(private_server.get_uri())
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with FaultRun("restart", url, schema, tmp_path, seed=_seed()) as run:

        def restart(mode: str) -> None:
            restart_server(private_server, mode)
            run.fault(f"db_restart_{mode}")

        run.add_jobs(160)
        run.run(
            [
                (30, lambda: restart("fast")),
                (70, lambda: run.add_jobs(60)),
                (130, lambda: restart("immediate")),
            ]
        )
        _finish(run, fault_table)
