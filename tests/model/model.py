"""A pure-Python model of the engine's job semantics (``compat-decisions.md``, the engine
section): add_job / add_jobs with job keys and their modes, remove_job, fetch_jobs with named
queues and their limits, complete_jobs and fail_job, all at an explicit ``now``.

Row ids follow the database's identity column: every insert attempt takes the next id, even
one that ends in a key conflict (an ``unsafe_dedupe`` add of an existing key)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

DEFAULT_MAX_ATTEMPTS = 25
FIELDS = (
    "id",
    "task_identifier",
    "queue_name",
    "payload",
    "priority",
    "run_at",
    "attempts",
    "max_attempts",
    "last_error",
    "key",
    "revision",
    "flags",
    "locked_at",
    "locked_by",
)


@dataclass(frozen=True)
class Row:
    id: int
    task_identifier: str
    queue_name: str | None
    payload: Any
    priority: int
    run_at: datetime
    attempts: int = 0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    last_error: str | None = None
    key: str | None = None
    revision: int = 0
    flags: dict[str, bool] | None = None
    locked_at: datetime | None = None
    locked_by: str | None = None

    @property
    def available(self) -> bool:
        return self.locked_at is None and self.attempts < self.max_attempts

    def observed(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


@dataclass(frozen=True)
class Add:
    """The arguments of one add (``add_job``, or one spec of ``add_jobs``)."""

    identifier: str
    payload: Any = None
    queue_name: str | None = None
    run_at: datetime | None = None
    max_attempts: int | None = None
    job_key: str | None = None
    job_key_mode: str | None = None
    priority: int | None = None
    flags: tuple[str, ...] | None = None


def backoff(attempts: int) -> timedelta:
    """``exp(least(attempts, 10)) * interval '1 second'`` (PostgreSQL rounds to µs)."""
    return timedelta(microseconds=round(math.exp(min(attempts, 10)) * 1_000_000))


def _flags(flags: tuple[str, ...] | None) -> dict[str, bool] | None:
    return {f: True for f in flags} if flags else None


@dataclass
class Model:
    rows: dict[int, Row] = field(default_factory=dict)
    queues: dict[str, int] = field(default_factory=dict)
    next_id: int = 1
    # How often each branch of the semantics was taken (to see what a run explored).
    events: Counter[str] = field(default_factory=Counter)

    # -- adding ------------------------------------------------------------------------

    def _insert(self, spec: Add, run_at: datetime) -> Row:
        row = Row(
            id=self.next_id,
            task_identifier=spec.identifier,
            queue_name=spec.queue_name,
            payload={} if spec.payload is None else spec.payload,
            priority=spec.priority or 0,
            run_at=run_at,
            max_attempts=spec.max_attempts or DEFAULT_MAX_ATTEMPTS,
            key=spec.job_key,
            flags=_flags(spec.flags),
        )
        self.next_id += 1
        self.rows[row.id] = row
        return row

    def _by_key(self, key: str) -> Row | None:
        return next((r for r in self.rows.values() if r.key == key), None)

    def _add_row(self, spec: Add, now: datetime) -> Row:
        mode = spec.job_key_mode or "replace"
        run_at = spec.run_at or now
        if spec.queue_name is not None:
            self.queues.setdefault(spec.queue_name, 1)
        if spec.job_key is None:
            return self._insert(spec, run_at)
        existing = self._by_key(spec.job_key)
        if mode == "unsafe_dedupe":
            if existing is None:
                return self._insert(spec, run_at)
            self.next_id += 1  # the conflicting insert took an id
            self.events["key: unsafe_dedupe kept the existing job"] += 1
            updated = replace(existing, revision=existing.revision + 1)
            self.rows[updated.id] = updated
            return updated
        if existing is not None and existing.available:
            new_payload = {} if spec.payload is None else spec.payload
            if isinstance(existing.payload, list) and isinstance(new_payload, list):
                new_payload = existing.payload + new_payload
            keep_run_at = mode == "preserve_run_at" and existing.attempts == 0
            self.events[f"key: {mode} updated a waiting job"] += 1
            if isinstance(existing.payload, list) and isinstance(spec.payload, list):
                self.events["key: array payloads concatenated"] += 1
            updated = replace(
                existing,
                task_identifier=spec.identifier,
                payload=new_payload,
                queue_name=spec.queue_name,
                run_at=existing.run_at if keep_run_at else run_at,
                max_attempts=spec.max_attempts or DEFAULT_MAX_ATTEMPTS,
                priority=spec.priority or 0,
                flags=_flags(spec.flags),
                attempts=0,
                last_error=None,
                revision=existing.revision + 1,
            )
            self.rows[updated.id] = updated
            return updated
        if existing is not None:
            # Running or permanently failed: it keeps running (or stays failed) without its
            # key and can no longer retry.
            state = "running" if existing.locked_at is not None else "failed"
            self.events[f"key: {mode} replaced a {state} job"] += 1
            self.rows[existing.id] = replace(existing, key=None, attempts=existing.max_attempts)
        return self._insert(spec, run_at)

    def add_job(self, spec: Add, now: datetime) -> Row:
        return self._add_row(spec, now)

    def add_jobs(self, specs: list[Add], now: datetime, preserve_run_at: bool) -> list[Row]:
        """First every replace / preserve_run_at spec whose key a job holds: updated in place
        when available, else that job loses its key (no ids used). Then every other spec in
        spec order, each inserted with the next id (an unsafe_dedupe spec whose key a job
        holds keeps that job, and its insert still uses up an id). Returns the rows in the
        order of ``specs``."""
        for spec in specs:
            if spec.queue_name is not None:
                self.queues.setdefault(spec.queue_name, 1)
        settled: list[Add] = []
        for spec in specs:
            mode = spec.job_key_mode or "replace"
            if mode == "replace" and preserve_run_at:
                mode = "preserve_run_at"
            settled.append(replace(spec, run_at=spec.run_at or now, job_key_mode=mode))
        out: dict[int, Row] = {}
        for i, spec in enumerate(settled):
            if spec.job_key is None or spec.job_key_mode == "unsafe_dedupe":
                continue
            existing = self._by_key(spec.job_key)
            if existing is not None and existing.available:
                out[i] = self._add_row(spec, now)  # the in-place update
            elif existing is not None:
                state = "running" if existing.locked_at is not None else "failed"
                self.events[f"key: {spec.job_key_mode} replaced a {state} job"] += 1
                self.rows[existing.id] = replace(existing, key=None, attempts=existing.max_attempts)
        for i, spec in enumerate(settled):
            if i not in out:
                out[i] = self._add_row(spec, now)
        return [out[i] for i in range(len(specs))]

    # -- the rest of the API -----------------------------------------------------------

    def remove_job(self, key: str) -> Row | None:
        row = self._by_key(key)
        if row is None:
            return None
        if row.locked_at is None:
            del self.rows[row.id]
            self.events["remove: deleted"] += 1
            return row
        self.events["remove: running job lost its key"] += 1
        updated = replace(row, key=None, attempts=row.max_attempts)
        self.rows[row.id] = updated
        return updated

    def set_queue_concurrency(self, queue: str, concurrency: int) -> None:
        self.queues[queue] = concurrency

    def fetch_jobs(
        self,
        worker_id: str,
        limit: int,
        now: datetime,
        task_identifiers: list[str] | None = None,
        forbidden_flags: list[str] | None = None,
    ) -> list[Row]:
        def ready(r: Row) -> bool:
            return (
                r.available
                and r.run_at <= now
                and (task_identifiers is None or r.task_identifier in task_identifiers)
                and (
                    not forbidden_flags
                    or r.flags is None
                    or not any(f in r.flags for f in forbidden_flags)
                )
            )

        def order(r: Row) -> tuple[int, datetime, int]:
            return (r.priority, r.run_at, r.id)

        candidates = sorted(
            (r for r in self.rows.values() if ready(r) and r.queue_name is None), key=order
        )[:limit]
        for queue, concurrency in self.queues.items():
            running = sum(
                1 for r in self.rows.values() if r.queue_name == queue and r.locked_at is not None
            )
            waiting = sorted(
                (r for r in self.rows.values() if r.queue_name == queue and ready(r)), key=order
            )
            room = max(0, min(concurrency - running, limit))
            if waiting and len(waiting) > room:
                self.events["fetch: a named queue held jobs back"] += 1
            candidates += waiting[:room]
        chosen = sorted(candidates, key=order)[:limit]
        self.events[f"fetch: {len(chosen)} job(s)"] += 1
        fetched = []
        for r in chosen:
            updated = replace(r, attempts=r.attempts + 1, locked_by=worker_id, locked_at=now)
            self.rows[r.id] = updated
            fetched.append(updated)
        return fetched

    def complete_jobs(self, ids: list[int], worker_id: str | None) -> list[int]:
        done = sorted(
            i
            for i in set(ids)
            if i in self.rows and (worker_id is None or self.rows[i].locked_by == worker_id)
        )
        for i in done:
            del self.rows[i]
        return done

    def fail_job(
        self,
        job_id: int,
        error: str,
        now: datetime,
        worker_id: str | None = None,
        run_at: datetime | None = None,
    ) -> Row | None:
        row = self.rows.get(job_id)
        if row is None or row.locked_at is None:
            return None
        if worker_id is not None and row.locked_by != worker_id:
            return None
        updated = replace(
            row,
            last_error=error,
            run_at=run_at or max(now, row.run_at) + backoff(row.attempts),
            locked_at=None,
            locked_by=None,
        )
        self.rows[job_id] = updated
        final = updated.attempts >= updated.max_attempts
        self.events["fail: final attempt" if final else "fail: will retry"] += 1
        return updated

    def table(self) -> list[dict[str, Any]]:
        return [self.rows[i].observed() for i in sorted(self.rows)]
