"""Bounded waits, schema-qualified queries and child processes, shared by the test folders."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

ROOT = Path(__file__).parents[2]
# Hard cap on any wait of a test; a normal run of a wait takes well under a second.
DEADLINE_S = 30.0


def wait_sync(
    predicate: Callable[[], bool], what: str, *, timeout: float = DEADLINE_S, interval: float = 0.02
) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def q(schema: str, text: str) -> sql.Composed:
    """``text`` with ``{s}`` replaced by the quoted schema name."""
    return sql.SQL(text).format(s=sql.Identifier(schema))


def rows(db: psycopg.Connection[Any], query: sql.Composed, *args: Any) -> list[dict[str, Any]]:
    with db.cursor(row_factory=dict_row) as cur:
        cur.execute(query, args or None)
        return cur.fetchall()


def subprocess_env(extra_paths: Iterable[Path] = ()) -> dict[str, str]:
    """The environment of a child Python process: the repository (and ``extra_paths``) on its
    import path, unbuffered output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (*map(str, extra_paths), str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def worker_processes(
    procs: list[subprocess.Popen[bytes]],
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Stop (SIGTERM, then SIGKILL after a deadline) every process left running at the end."""
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=DEADLINE_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=DEADLINE_S)
