"""``migrate()`` under load must not stall the queue: a migration that needs a table lock
held by a long transaction (here, a user's open transaction that read ``jobs``) waits at most
``MIGRATE_LOCK_TIMEOUT`` at a time, so the workers' and producers' statements queued behind
its lock request go on, and the migration is tried again until it gets the lock."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from psycopg import sql
from support.processes import DEADLINE_S, wait_sync

from trigger_compat import Client
from trigger_compat.core import migrations as migrations_module
from trigger_compat.core import sqlfiles
from trigger_compat.core.sqlfiles import Migration


def test_a_migration_waiting_for_a_lock_does_not_stall_the_queue(
    database_url: str, schema: str, db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with Client(database_url, schema=schema) as client:
        client.migrate()
        client.add_job("probe", {"n": 0})
    jobs = sql.Identifier(schema, "jobs")
    shipped = sqlfiles.migrations()
    version = shipped[-1].version + 1
    added = Migration(
        version, "needs_jobs_lock", "alter table jobs add column later text", (version,)
    )
    result: dict[str, Any] = {}

    def newer_migrate() -> None:
        try:
            with Client(database_url, schema=schema) as newer:
                result["applied"] = newer.migrate()
        except BaseException as exc:
            result["error"] = exc

    def migrate_waits() -> bool:
        row = db.execute(
            "select count(*) from pg_locks where not granted and relation = %s::regclass",
            (jobs.as_string(db),),
        ).fetchone()
        return row is not None and row[0] > 0

    with psycopg.connect(database_url) as holder, monkeypatch.context() as patch:
        holder.execute(sql.SQL("select count(*) from {}").format(jobs))  # holds jobs, open
        patch.setattr(migrations_module, "migrations", lambda: (*shipped, added))
        thread = threading.Thread(target=newer_migrate)
        thread.start()
        try:
            wait_sync(migrate_waits, "migrate to wait for its lock on jobs")
            # A producer is not stuck behind the migration's lock request while the long
            # transaction goes on (without the lock timeout it would wait for that
            # transaction's end; statement_timeout turns that into a failure, not a hang).
            with psycopg.connect(database_url, autocommit=True) as producer:
                producer.execute("set statement_timeout = '20s'")
                producer.execute(
                    sql.SQL("select {}('probe', '{{}}'::jsonb)").format(
                        sql.Identifier(schema, "add_job")
                    )
                )
            assert thread.is_alive() and "applied" not in result
        finally:
            holder.rollback()  # the long transaction ends: the migration gets its lock
            thread.join(DEADLINE_S)
    assert not thread.is_alive()
    assert result == {"applied": [version]}
    count = db.execute(sql.SQL("select count(*) from {}").format(jobs)).fetchone()
    assert count == (2,)
