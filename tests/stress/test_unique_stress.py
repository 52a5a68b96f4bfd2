"""Unique jobs under concurrent adds from several processes: one job per key, whatever the
interleaving of single adds and batches (keys in any order: no deadlock), and while other
processes run and complete the jobs (keys taken over, never twice at once)."""

from __future__ import annotations

import queue
import random
import time
from collections import defaultdict
from typing import Any

import pytest

from trigger_compat import Client, JobSpec

from .test_engine_stress import process_context

pytestmark = pytest.mark.stress

PROCESSES = 6
KEYS = 25
ROUNDS = 30
DEADLINE_S = 60.0


def _adder(
    url: str, schema: str, n: int, barrier: Any, results: Any, states: list[str] | None
) -> None:
    try:
        rnd = random.Random(n)
        unique: dict[str, Any] = {"byArgs": ["k"]}
        if states:
            unique["byState"] = states
        out: list[tuple[int, int, bool]] = []
        with Client(url, schema=schema, pool_size=1) as c:
            barrier.wait()
            for _ in range(ROUNDS):
                if rnd.random() < 0.5:
                    k = rnd.randrange(KEYS)
                    j = c.add_job("u", {"k": k, "by": n}, unique=unique)
                    out.append((k, j.id, j.deduplicated))
                else:
                    keys = rnd.sample(range(KEYS), 8)
                    jobs = c.add_jobs(
                        [JobSpec(identifier="u", payload={"k": k}, unique=unique) for k in keys]
                    )
                    out.extend((k, j.id, j.deduplicated) for k, j in zip(keys, jobs, strict=True))
        results.put(("ok", n, out))
    except BaseException as exc:
        results.put(("error", n, repr(exc)))


def _completer(url: str, schema: str, n: int, barrier: Any, results: Any, stop: Any) -> None:
    try:
        done = 0
        with Client(url, schema=schema, pool_size=1) as c:
            barrier.wait()
            while not stop.is_set():
                jobs = c.fetch_jobs(f"c{n}", 5)
                done += len(c.complete_jobs([j.id for j in jobs]))
        results.put(("ok", n, done))
    except BaseException as exc:
        results.put(("error", n, repr(exc)))


def _run(
    database_url: str, schema: str, states: list[str] | None, completers: int
) -> tuple[list[tuple[int, int, bool]], int]:
    ctx = process_context()
    barrier = ctx.Barrier(PROCESSES + completers, timeout=30)
    results = ctx.Queue()
    stop = ctx.Event()
    procs = [
        ctx.Process(target=_adder, args=(database_url, schema, n, barrier, results, states))
        for n in range(PROCESSES)
    ] + [
        ctx.Process(target=_completer, args=(database_url, schema, n, barrier, results, stop))
        for n in range(completers)
    ]
    for p in procs:
        p.start()
    adds: list[tuple[int, int, bool]] = []
    completed = 0
    try:
        deadline = time.time() + DEADLINE_S
        for _ in range(PROCESSES):
            r = results.get(timeout=max(0.1, deadline - time.time()))
            assert r[0] == "ok", r
            adds.extend(r[2])
        stop.set()
        for _ in range(completers):
            r = results.get(timeout=max(0.1, deadline - time.time()))
            assert r[0] == "ok", r
            completed += r[2]
    except queue.Empty:
        pytest.fail("a process did not report in time")
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    return adds, completed


def test_one_job_per_key_under_concurrent_adds(database_url: str, schema: str, db: Any) -> None:
    Client(db, schema=schema).migrate()
    adds, _ = _run(database_url, schema, None, 0)
    ids_by_key: dict[int, set[int]] = defaultdict(set)
    inserted = [a for a in adds if not a[2]]
    for k, job_id, _ in adds:
        ids_by_key[k].add(job_id)
    assert all(len(ids) == 1 for ids in ids_by_key.values()), ids_by_key
    assert len(inserted) == len(ids_by_key)  # exactly one add per key inserted
    rows = db.execute(f'select count(*) from "{schema}".jobs').fetchone()
    assert rows[0] == len(ids_by_key)


def test_keys_are_taken_over_once_while_jobs_complete(
    database_url: str, schema: str, db: Any
) -> None:
    Client(db, schema=schema).migrate()
    adds, completed = _run(database_url, schema, ["waiting", "scheduled"], 2)
    inserted = {job_id for _, job_id, dedup in adds if not dedup}
    left = db.execute(
        f"select (payload->>'k')::int, count(*) from \"{schema}\".jobs group by 1"
    ).fetchall()
    assert all(n == 1 for _, n in left), left  # never two waiting jobs of one key
    assert len(inserted) == completed + sum(n for _, n in left)
    assert completed > 0
