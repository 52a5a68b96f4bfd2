"""The fault-injection harness: a schema with instrumented side tables, four worker processes
(``procs/fault_worker.py``) that are restarted whenever they die, progress-triggered faults, and
the final audit of every job (see :meth:`FaultRun.audit`)."""

from __future__ import annotations

import itertools
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from support.processes import DEADLINE_S, q, subprocess_env, wait_sync

from trigger_compat import Client, JobSpec

PROCS = Path(__file__).parent / "procs"
WORKERS = 4
RESCUE_AFTER_S = 2.0
# A dead worker's jobs must be released within rescue_after (+ one heartbeat interval, as its
# last heartbeat may be that old) plus this margin for a loaded machine, counted from when a
# live worker (which does the rescuing) exists: all four may be dead at once.
RELEASE_MARGIN_S = 8.0
# The queues of the run and their limits.
QUEUES = {"serial": 1, "pair": 2}
DRAIN_TIMEOUT_S = 90.0

SIDE_TABLES = """
create table {s}.procs (
    pid integer primary key, worker_id text not null, name text not null,
    started_at timestamptz not null default clock_timestamp());
create table {s}.starts (
    p integer not null, attempt integer not null, token text not null, job_id bigint not null,
    pid integer not null, worker_id text not null, queue_name text, last_error text,
    at timestamptz not null default clock_timestamp(), primary key (p, attempt));
create table {s}.ends (
    p integer not null, attempt integer not null, token text not null, pid integer not null,
    outcome text not null, at timestamptz not null default clock_timestamp(),
    primary key (p, attempt));
create table {s}.duplicates (
    id bigserial primary key, p integer, attempt integer, what text, pid integer);
create table {s}.faults (
    id bigserial primary key, kind text not null, p integer, pid integer,
    at timestamptz not null default clock_timestamp(), unique (kind, p));
create table {s}.completions (
    id bigserial primary key, p integer, job_id bigint not null, attempts integer,
    locked_by text, at timestamptz not null default clock_timestamp());
create table {s}.over_limit (
    id bigserial primary key, queue_name text, running integer, concurrency integer,
    at timestamptz not null default clock_timestamp());

-- Every deleted job row (a success: the runs here never delete otherwise).
create function {s}.tc_completed() returns trigger language plpgsql as $$
begin
    insert into {s}.completions (p, job_id, attempts, locked_by)
    values ((old.payload->>'p')::integer, old.id, old.attempts, old.locked_by);
    return null;
end $$;
create trigger tc_completed after delete on {s}.jobs
    for each row execute function {s}.tc_completed();

-- Whenever a job of a named queue is locked: how many of that queue are locked now.
create function {s}.tc_queue_limit() returns trigger language plpgsql as $$
declare
    v_running integer;
    v_limit   integer;
begin
    if new.queue_name is not null and new.locked_at is not null and old.locked_at is null then
        select count(*) into v_running from {s}.jobs
         where queue_name = new.queue_name and locked_at is not null;
        select concurrency into v_limit from {s}.job_queues where queue_name = new.queue_name;
        if v_running > v_limit then
            insert into {s}.over_limit (queue_name, running, concurrency)
            values (new.queue_name, v_running, v_limit);
        end if;
    end if;
    return null;
end $$;
create trigger tc_queue_limit after update on {s}.jobs
    for each row execute function {s}.tc_queue_limit();
"""


@dataclass
class Report:
    """One line of the fault table."""

    scenario: str
    seed: int
    faults: int = 0
    accepted: int = 0
    succeeded: int = 0
    failed: int = 0
    pending: int = 0
    lost: int = 0
    completed_twice: int = 0
    reruns_after_crash: int = 0
    reruns_after_lost_lease: int = 0
    max_release_s: float = 0.0
    fault_kinds: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Probe:
    """The test's own connection for looking at the database; it reconnects after an outage."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[Any] | None = None

    def rows(self, text: str, schema: str, *args: Any) -> list[dict[str, Any]]:
        end = time.monotonic() + DEADLINE_S
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
                with self._conn.cursor(row_factory=dict_row) as cur:
                    cur.execute(q(schema, text), args or None)
                    return cur.fetchall() if cur.description is not None else []
            except psycopg.OperationalError:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)  # back off while the database is away

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


@dataclass
class Dead:
    worker_id: str | None
    killed_at: float
    released_after: float | None = None
    rescuer_since: float | None = None


class FaultRun:
    """One scenario: ``url`` is the direct connection string (setup, side tables, audit),
    ``worker_url`` the workers' (through a proxy, or with an application_name to terminate)."""

    def __init__(
        self,
        name: str,
        url: str,
        schema: str,
        tmp_path: Path,
        *,
        seed: int,
        worker_url: str | None = None,
        fetch_hooks: bool = False,
    ) -> None:
        self.name = name
        self.url = url
        self.schema = schema
        self.tmp_path = tmp_path
        self.rng = random.Random(seed)
        self.report = Report(name, seed)
        self.worker_url = worker_url or url
        self.fetch_hooks = fetch_hooks
        self.probe = Probe(url)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.dead: list[Dead] = []
        self.killed_pids: set[int] = set()
        self.accepted: set[int] = set()
        self.kinds: dict[int, str] = {}
        self.next_p = 0
        self.outside_faults: dict[str, int] = defaultdict(int)
        self._incarnation = 0

    # -- set-up ------------------------------------------------------------------------

    def __enter__(self) -> FaultRun:
        with self._client() as client:
            client.migrate()
            self.probe.rows(SIDE_TABLES, self.schema)
            for queue, limit in QUEUES.items():
                client.set_queue_concurrency(queue, limit)
        for _ in range(WORKERS):
            self._spawn()
        wait_sync(lambda: self._count("procs") >= WORKERS, "the worker processes to register")
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=DEADLINE_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=DEADLINE_S)
        self.probe.close()

    def _client(self) -> Client:
        return Client(self.url, schema=self.schema)

    def _spawn(self) -> None:
        self._incarnation += 1
        name = f"w{self._incarnation}"
        args = [
            sys.executable,
            str(PROCS / "fault_worker.py"),
            self.worker_url,
            self.url,
            self.schema,
            "--name",
            name,
            "--rescue-after",
            str(RESCUE_AFTER_S),
        ]
        if self.fetch_hooks:
            args.append("--fetch-hooks")
        log = open(self.tmp_path / f"{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(args, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs[proc.pid] = proc

    def _count(self, table: str) -> int:
        return int(self.probe.rows(f"select count(*) as n from {{s}}.{table}", self.schema)[0]["n"])

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
            for p in sorted(self.tmp_path.glob("w*.log"))
        )

    # -- jobs --------------------------------------------------------------------------

    def add_jobs(self, count: int, kill_plan: dict[str, int] | None = None) -> None:
        """Add ``count`` jobs of random kinds and queues; ``kill_plan`` {point: n} makes n of
        them kill their worker at that point of their first attempt."""
        points = [pt for pt, n in (kill_plan or {}).items() for _ in range(n)]
        specs = []
        for i in range(count):
            p = self.next_p
            self.next_p += 1
            roll = self.rng.random()
            kind = "fail" if roll < 0.05 else "flaky" if roll < 0.2 else "ok"
            queue = self.rng.choice([None, None, None, None, "serial", "pair"])
            payload: dict[str, Any] = {"p": p, "kind": kind, "ms": self.rng.choice([1, 2, 5, 30])}
            if i < len(points):
                payload["kill"] = {"at": points[i], "attempt": 1}
                kind = "ok" if kind == "fail" else kind
                payload["kind"] = kind
            self.kinds[p] = kind
            specs.append(
                JobSpec(
                    identifier="probe",
                    payload=payload,
                    queue_name=queue,
                    max_attempts=2 if kind == "fail" else 25,
                )
            )
        self.rng.shuffle(specs)
        with self._client() as client:  # a fresh pool: the last one may predate an outage
            client.add_jobs(specs)
        self.accepted.update(spec.payload["p"] for spec in specs)

    def progress(self) -> int:
        return self._count("ends")

    # -- faults ------------------------------------------------------------------------

    def kill_random_worker(self) -> None:
        """SIGKILL one live worker process, chosen by the seeded RNG."""
        alive = sorted(pid for pid, p in self.procs.items() if p.poll() is None)
        pid = self.rng.choice(alive)
        self.procs[pid].send_signal(signal.SIGKILL)
        self.procs[pid].wait(DEADLINE_S)
        self.probe.rows(
            "insert into {s}.faults (kind, pid) values ('sigkill', %s)", self.schema, pid
        )

    def fault(self, kind: str, count: int = 1) -> None:
        """Count a fault injected from outside the workers (a restart, a dropped connection…)."""
        self.outside_faults[kind] += count

    def tend(self) -> None:
        """Restart dead workers; check that what dead workers held is released in time."""
        for pid, proc in list(self.procs.items()):
            if proc.poll() is not None and pid not in self.killed_pids:
                assert proc.returncode == -signal.SIGKILL, (proc.returncode, self.logs())
                self.killed_pids.add(pid)
                found = self.probe.rows(
                    "select worker_id from {s}.procs where pid = %s", self.schema, pid
                )
                self.dead.append(Dead(found[0]["worker_id"] if found else None, time.monotonic()))
                self._spawn()
        waiting = [d for d in self.dead if d.released_after is None and d.worker_id]
        if not waiting:
            return
        registered = {r["pid"] for r in self.probe.rows("select pid from {s}.procs", self.schema)}
        rescuer = any(
            p.poll() is None and pid in registered and pid not in self.killed_pids
            for pid, p in self.procs.items()
        )
        held = {
            r["locked_by"]
            for r in self.probe.rows(
                "select distinct locked_by from {s}.jobs where locked_at is not null", self.schema
            )
        }
        now = time.monotonic()
        for d in waiting:
            if rescuer and d.rescuer_since is None:
                d.rescuer_since = now
            if d.worker_id not in held:
                d.released_after = now - d.killed_at
            elif (
                d.rescuer_since is not None
                and now - d.rescuer_since > RESCUE_AFTER_S * 4 / 3 + RELEASE_MARGIN_S
            ):
                raise AssertionError(
                    f"jobs still locked by dead worker {d.worker_id} "
                    f"{now - d.killed_at:.1f} s after it was killed\n{self.logs()}"
                )

    def run(self, triggers: list[tuple[int, Callable[[], None]]]) -> None:
        """Call each trigger once ``progress()`` reaches its threshold (in order), restarting
        dead workers meanwhile; then wait until every job is settled."""
        pending = sorted(triggers, key=lambda t: t[0])
        end = time.monotonic() + DRAIN_TIMEOUT_S
        while True:
            self.tend()
            done = self.progress()
            while pending and done >= pending[0][0]:
                pending.pop(0)[1]()
                self.tend()
            if not pending and self._drained():
                break
            if time.monotonic() > end:
                raise AssertionError(f"the run did not drain in {DRAIN_TIMEOUT_S} s\n{self.logs()}")
            time.sleep(0.05)  # poll interval of the supervision loop
        # Every dead worker's jobs were released (checked in tend()).
        wait_sync(self._all_released, "the jobs of every dead worker to be released")

    def _all_released(self) -> bool:
        self.tend()
        return all(d.released_after is not None for d in self.dead if d.worker_id)

    def _drained(self) -> bool:
        left = self.probe.rows(
            "select count(*) as n from {s}.jobs where locked_at is not null "
            "or attempts < max_attempts",
            self.schema,
        )
        return int(left[0]["n"]) == 0

    # -- audit -------------------------------------------------------------------------

    def audit(self) -> Report:
        """Check every invariant of the run and return its line of the table."""
        s, r = self.schema, self.report
        jobs = self.probe.rows("select * from {s}.jobs", s)
        completions = self.probe.rows("select * from {s}.completions", s)
        starts = self.probe.rows("select * from {s}.starts order by p, attempt", s)
        ends = {(e["p"], e["attempt"]): e for e in self.probe.rows("select * from {s}.ends", s)}
        faults = self.probe.rows("select * from {s}.faults", s)
        duplicates = self.probe.rows("select * from {s}.duplicates", s)
        over_limit = self.probe.rows("select * from {s}.over_limit", s)
        logs = self.logs

        kinds: dict[str, int] = defaultdict(int)
        for f in faults:
            kinds[f["kind"]] += 1
        for kind, n in self.outside_faults.items():
            kinds[kind] += n
        r.fault_kinds = dict(sorted(kinds.items()))
        r.faults = sum(kinds.values())
        r.accepted = len(self.accepted)

        done: dict[int, int] = defaultdict(int)
        for c in completions:
            done[c["p"]] += 1
        succeeded = set(done)
        failed = {j["payload"]["p"] for j in jobs if j["attempts"] >= j["max_attempts"]}
        pending = {j["payload"]["p"] for j in jobs} - failed
        r.succeeded, r.failed, r.pending = len(succeeded), len(failed), len(pending)
        r.completed_twice = sum(1 for n in done.values() if n > 1)
        lost = self.accepted - succeeded - failed - pending
        r.lost = len(lost)
        assert not lost, f"jobs lost: {sorted(lost)}\n{logs()}"
        assert r.completed_twice == 0, (dict(done), logs())
        assert len(jobs) == len({j["payload"]["p"] for j in jobs}), "a job row was duplicated"
        assert not succeeded & (failed | pending), "a completed job is still in the table"
        assert succeeded | failed | pending <= self.accepted
        assert not duplicates, f"an attempt ran twice: {duplicates}"
        assert not over_limit, f"a named queue went over its limit: {over_limit}"
        assert not [j for j in jobs if j["locked_at"] is not None], "jobs still locked"
        for p in succeeded:
            assert self.kinds[p] != "fail", f"payload {p} should never succeed"
            (c,) = [c for c in completions if c["p"] == p]
            end = ends.get((p, c["attempts"]))
            assert end is not None and end["outcome"] == "ok", (p, c, end)
        for p in failed:
            assert self.kinds[p] == "fail" or any(
                "was lost" in (j["last_error"] or "") for j in jobs if j["payload"]["p"] == p
            ), f"payload {p} failed for good without a reason"

        # Re-runs: a run that neither failed nor had its outcome written, run again.
        by_p: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for st in starts:
            by_p[st["p"]].append(st)
        lease_lost_runs: set[tuple[int, int]] = set()
        for p, runs in by_p.items():
            for run, nxt in itertools.pairwise(runs):
                end = ends.get((p, run["attempt"]))
                if end is not None and end["outcome"] == "error":
                    continue  # an ordinary failed attempt and its retry
                if run["pid"] in self.killed_pids:
                    r.reruns_after_crash += 1
                elif "was lost" in (nxt["last_error"] or ""):
                    # The worker lived but could not reach the database for longer than
                    # rescue_after: its job was rescued and run again.
                    r.reruns_after_lost_lease += 1
                    lease_lost_runs.add((p, run["attempt"]))
                else:
                    raise AssertionError(f"payload {p} re-ran without a crash: {runs}\n{logs()}")
        self._check_queue_overlap(starts, ends, faults, lease_lost_runs)
        r.max_release_s = round(max((d.released_after or 0.0 for d in self.dead), default=0.0), 2)
        return r

    def _check_queue_overlap(
        self,
        starts: list[dict[str, Any]],
        ends: dict[tuple[int, int], dict[str, Any]],
        faults: list[dict[str, Any]],
        exempt: set[tuple[int, int]],
    ) -> None:
        """At no moment did more handlers of a named queue run than its limit (a run of a
        killed process ends, at the latest, when its kill was recorded)."""
        killed_at: dict[int, datetime] = {}
        for f in faults:
            if f["pid"] is not None:
                killed_at[f["pid"]] = min(f["at"], killed_at.get(f["pid"], f["at"]))
        intervals: dict[str, list[tuple[datetime, datetime | None]]] = defaultdict(list)
        for st in starts:
            if st["queue_name"] is None or (st["p"], st["attempt"]) in exempt:
                continue
            end = ends.get((st["p"], st["attempt"]))
            stop = end["at"] if end is not None else killed_at.get(st["pid"])
            intervals[st["queue_name"]].append((st["at"], stop))
        for queue, spans in intervals.items():
            for begin, _ in spans:
                running = [1 for b, e in spans if b <= begin and (e is None or begin < e)]
                assert len(running) <= QUEUES[queue], (
                    f"{len(running)} handlers of queue {queue!r} ran at once at {begin}"
                )
