"""A rolling upgrade: workers of the previous release keep running while this version migrates
their schema, then workers of this version take over.

The previous release is :data:`PREVIOUS_RELEASE`, extracted with ``git archive`` from the
repository's history (the test skips, saying why, when the history is not there). Its
processes run its package from the extracted tree on ``PYTHONPATH``, with this interpreter's
dependencies (psycopg, psycopg_pool, pydantic...): installing it into a virtualenv of its own
would cost CI more than the test itself, and what is tested is its SQL and its worker, not its
installation.

What this version's ``migrate()`` applies here is more than its shipped files: it also
applies a change of the kind a later release may make while old workers run (see
ARCHITECTURE.md, "Changing the schema while old workers run"), so that the test proves today
that such changes are safe:

* a migration adding a column with a default to ``job_queues``, and a table (not a column of
  ``jobs``: the previous release's workers do not survive that, see ``test_stale_plans.py``);
* ``settle_and_fetch``, the statement every old worker runs in a loop, given a new optional
  argument and a new body: a new overload is created and the old one dropped, mid-flight;
* ``heartbeat`` with a parameter renamed: PostgreSQL cannot replace it, so it is dropped and
  created again.

The run: old workers drain a steady stream of jobs added by an old and a new producer; the new
code migrates; the old workers must go on running jobs; new workers start; one old worker is
SIGKILLed while it runs jobs, the others get SIGTERM. Then no job may be lost, a job may have
run twice only if one of its runs was in the killed process, and the old workers that were
stopped must have logged nothing at WARNING or above.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from support.processes import DEADLINE_S, ROOT, wait_sync

from trigger_compat import Client
from trigger_compat.core import migrations as migrations_module

from ._changes import future_release

# The previous release: the last commit that landed before this version's work.
PREVIOUS_RELEASE = "05be50b"
PROC = Path(__file__).parent / "procs" / "upgrade_proc.py"
# How long a crashed worker's jobs stay locked before another worker rescues them.
RESCUE_AFTER_S = 2.0


@pytest.fixture(scope="module")
def old_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package of the previous release, extracted from git."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("the rolling-upgrade test needs git to extract the previous release")
    found = subprocess.run(
        [git, "-C", str(ROOT), "cat-file", "-e", f"{PREVIOUS_RELEASE}^{{commit}}"],
        capture_output=True,
    )
    if found.returncode != 0:
        pytest.skip(
            f"the previous release {PREVIOUS_RELEASE} is not in this clone's history "
            "(a shallow clone?): fetch the full history (git fetch --unshallow) to run the "
            "rolling-upgrade test"
        )
    target = tmp_path_factory.mktemp("previous-release")
    archive = subprocess.run(
        [git, "-C", str(ROOT), "archive", "--format=tar", PREVIOUS_RELEASE, "trigger_compat"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


@pytest.fixture()
def side(database_url: str, schema: str) -> Iterator[str]:
    """A schema of its own for what the processes record: the jobs added, the runs."""
    name = f"{schema}_side"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("create table {}.enqueued (n integer primary key, version text)").format(
                sql.Identifier(name)
            )
        )
        conn.execute(
            sql.SQL(
                "create table {}.runs (id bigserial primary key, n integer not null, "
                "pid integer not null, version text not null, worker text not null, "
                "ended boolean not null default false)"
            ).format(sql.Identifier(name))
        )
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(name)))


class Procs:
    """The child processes of one run, each with its stderr in a file; all stopped at the end."""

    def __init__(self, base: Path, old_tree: Path) -> None:
        self.base = base
        self.old_tree = old_tree
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, version: str, name: str, *args: str) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        tree = self.old_tree if version == "old" else ROOT
        env["PYTHONPATH"] = os.pathsep.join([str(tree), str(ROOT / "tests")])
        env["PYTHONUNBUFFERED"] = "1"
        env["UPGRADE_VERSION_LABEL"] = version
        out = (self.base / f"{name}.out").open("wb")
        err = (self.base / f"{name}.err").open("wb")
        proc = subprocess.Popen(
            [sys.executable, str(PROC), *args], env=env, stdout=out, stderr=err, cwd=self.base
        )
        out.close()
        err.close()
        self.procs[name] = proc
        return proc

    def run(self, version: str, name: str, *args: str) -> str:
        proc = self.start(version, name, *args)
        assert proc.wait(timeout=DEADLINE_S) == 0, self.stderr(name)
        return (self.base / f"{name}.out").read_text()

    def stderr(self, name: str) -> str:
        return (self.base / f"{name}.err").read_text(errors="replace")

    def stop(self, name: str) -> int:
        proc = self.procs[name]
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=DEADLINE_S)

    def dump_tasks(self) -> None:
        """Ask every live process where its tasks wait (SIGUSR1): shown with a failure."""
        live = [name for name, proc in self.procs.items() if proc.poll() is None]
        for name in live:
            self.procs[name].send_signal(signal.SIGUSR1)
        with contextlib.suppress(AssertionError):  # the report goes on without them
            wait_sync(
                lambda: all("task " in self.stderr(name) for name in live),
                "the task dumps",
                timeout=5,
            )

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=DEADLINE_S)


def _one(conn: psycopg.Connection[Any], text: str, *ids: str, params: tuple[Any, ...] = ()) -> Any:
    """The one value of ``text``, its ``{}`` filled with the quoted ``ids``."""
    row = conn.execute(sql.SQL(text).format(*map(sql.Identifier, ids)), params).fetchone()
    assert row is not None
    return row[0]


def test_rolling_upgrade(
    old_tree: Path,
    database_url: str,
    schema: str,
    side: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    procs = Procs(tmp_path, old_tree)
    db = psycopg.connect(database_url, autocommit=True)
    try:
        _run(procs, db, database_url, schema, side, monkeypatch)
    except BaseException:
        procs.dump_tasks()
        for name in procs.procs:  # shown with the failure
            print(f"--- stderr of {name}:\n{procs.stderr(name)}")
        left = db.execute(
            sql.SQL(
                "select id, payload, attempts, locked_by, run_at - now(), last_error "
                "from {}.jobs order by id limit 20"
            ).format(sql.Identifier(schema))
        ).fetchall()
        print("--- jobs left:", *left, sep="\n")
        waiting = db.execute(
            "select pid, state, wait_event_type, wait_event, pg_blocking_pids(pid), "
            "left(query, 120) from pg_stat_activity where state <> 'idle' "
            "and pid <> pg_backend_pid() and datname = current_database()"
        ).fetchall()
        print("--- sessions not idle:", *waiting, sep="\n")
        raise
    finally:
        procs.close()
        db.close()


def _run(
    procs: Procs,
    db: psycopg.Connection[Any],
    url: str,
    schema: str,
    side: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def ended(version: str, above: int = -1) -> int:
        return int(
            _one(
                db,
                "select count(*) from {}.runs where ended and version = %s and n > %s",
                side,
                params=(version, above),
            )
        )

    # The previous release makes the schema, and its workers start draining.
    applied = procs.run("old", "old-migrate", "migrate", url, schema)
    assert re.fullmatch(r"\[1(, \d+)*\]\n", applied), applied
    known = {int(v) for v in applied.strip("[]\n").split(", ")}
    olds = ["old-1", "old-2", "old-3"]
    for name in olds:
        procs.start(
            "old",
            name,
            "work",
            url,
            schema,
            side,
            "--name",
            name,
            "--rescue-after",
            str(RESCUE_AFTER_S),
        )
    procs.start("old", "old-producer", "produce", url, schema, side, "--first", "1", "--step", "2")
    procs.start("new", "new-producer", "produce", url, schema, side, "--first", "0", "--step", "2")
    wait_sync(lambda: ended("old") >= 40, "the old workers to run jobs")

    # This version migrates the same schema under the running old workers, with a change of
    # the kind a later release makes (see future_release).
    shipped, functions = future_release()
    with monkeypatch.context() as patch:
        patch.setattr(migrations_module, "migrations", lambda: shipped)
        patch.setattr(migrations_module, "functions", lambda: functions)
        started = time.monotonic()
        with Client(url, schema=schema) as client:
            assert client.migrate() == [m.version for m in shipped if m.version not in known]
        migrate_s = time.monotonic() - started
    cut = int(_one(db, "select max(n) from {}.enqueued", side))
    # The old settle_and_fetch was dropped: only the new one, with its optional argument, is left.
    overloads = db.execute(
        "select pronargs from pg_proc where proname = 'settle_and_fetch' "
        "and pronamespace = to_regnamespace(quote_ident(%s))",
        (schema,),
    ).fetchall()
    assert overloads == [(10,)]
    # The old workers go on running jobs added after the migration.
    wait_sync(lambda: ended("old", cut) >= 20, "the old workers to run jobs after the migration")

    # New workers start; one old worker is killed mid-run, the others stopped.
    news = ["new-1", "new-2"]
    for name in news:
        procs.start(
            "new",
            name,
            "work",
            url,
            schema,
            side,
            "--name",
            name,
            "--rescue-after",
            str(RESCUE_AFTER_S),
        )
    wait_sync(lambda: ended("new") >= 20, "the new workers to run jobs")
    killed = procs.procs["old-1"]
    wait_sync(
        lambda: bool(
            _one(
                db,
                "select count(*) from {}.runs where not ended and pid = %s",
                side,
                params=(killed.pid,),
            )
        ),
        "old-1 to be running a job",
        interval=0.002,
    )
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=DEADLINE_S)
    for name in olds[1:]:
        assert procs.stop(name) == 0, procs.stderr(name)
    assert procs.stop("old-producer") == 0, procs.stderr("old-producer")
    assert procs.stop("new-producer") == 0, procs.stderr("new-producer")

    # Everything added runs to its end, on the new workers (the killed worker's jobs once
    # they are rescued).
    def drained() -> bool:
        left = _one(db, "select count(*) from {}.jobs", schema)
        missing = _one(
            db,
            "select count(*) from {}.enqueued e where not exists "
            "(select from {}.runs r where r.n = e.n and r.ended)",
            side,
            side,
        )
        return left == 0 and missing == 0

    wait_sync(drained, "every job to run", timeout=DEADLINE_S + RESCUE_AFTER_S * 3)
    for name in news:
        assert procs.stop(name) == 0, procs.stderr(name)

    total = int(_one(db, "select count(*) from {}.enqueued", side))
    by_version = dict(
        db.execute(
            sql.SQL("select version, count(*) from {}.enqueued group by version").format(
                sql.Identifier(side)
            )
        ).fetchall()
    )
    assert by_version.get("old", 0) > 0 and by_version.get("new", 0) > 0, by_version
    twice = db.execute(
        sql.SQL(
            "select n, array_agg(pid order by id), array_agg(ended order by id) from {}.runs "
            "group by n having count(*) > 1"
        ).format(sql.Identifier(side))
    ).fetchall()
    assert all(len(row[1]) == 2 for row in twice), twice
    unexplained = [row for row in twice if killed.pid not in row[1]]
    assert unexplained == [], f"jobs run twice outside the SIGKILL window: {unexplained}"
    # The stopped old workers kept working without a complaint.
    for name in olds[1:]:
        assert procs.stderr(name) == "", f"{name} logged:\n{procs.stderr(name)}"
    print(
        f"\nrolling upgrade: {total} jobs ({by_version}), migrate under load {migrate_s:.2f} s, "
        f"{len(twice)} run twice (all in the killed worker), old runs {ended('old')}, "
        f"new runs {ended('new')}"
    )
