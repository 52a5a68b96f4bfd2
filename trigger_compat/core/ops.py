"""Each client method as a pure operation: which query, with which parameters, and how to
read its rows. ``Client`` and ``AsyncClient`` only execute these."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from ..errors import InvalidJobError
from .jobs import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    LONE_SURROGATE,
    Job,
    JobParams,
    JobSpec,
    batch_result,
    check_aware,
    flags_object,
    has_lone_surrogate,
    validate_job,
    validate_spec,
    validate_specs,
)

T = TypeVar("T")
Row = dict[str, Any]


@dataclass(frozen=True)
class Op(Generic[T]):
    query: str
    params: dict[str, Any]
    parse: Callable[[list[Row]], T]


def _jobs(rows: list[Row]) -> list[Job]:
    return [Job.model_validate(row) for row in rows]


def _first_job(rows: list[Row]) -> Job | None:
    return Job.model_validate(rows[0]) if rows and rows[0].get("id") is not None else None


def _added(params: JobParams) -> Callable[[list[Row]], Job]:
    """The parser of add_job's row (sparse, like add_jobs' rows)."""

    def parse(rows: list[Row]) -> Job:
        if not rows:  # add_job always returns a row
            raise RuntimeError("add_job returned no row")
        return batch_result([params], rows)[0]

    return parse


def _ids(field: str, ids: Iterable[int]) -> list[int]:
    out = list(ids)
    for i, value in enumerate(out):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidJobError(f"{field}[{i}]", f"must be an integer job id (got {value!r})")
        if not -(2**63) <= value <= 2**63 - 1:
            raise InvalidJobError(
                f"{field}[{i}]", f"must fit a bigint, as job ids do (got {value})"
            )
    return out


def plain_text(field: str, value: str) -> str:
    """``value`` if PostgreSQL can store it as text (no NUL, valid UTF-8), else raise."""
    if "\x00" in value:
        raise InvalidJobError(field, "must not contain NUL characters")
    if has_lone_surrogate(value):
        raise InvalidJobError(field, LONE_SURROGATE)
    return value


def error_text(message: str) -> str:
    """An error message as PostgreSQL text can hold it: a diagnostic, so NUL characters and
    lone surrogates (e.g. from a handler's exception) are replaced rather than refused."""
    if "\x00" in message:
        message = message.replace("\x00", "\\x00")
    if has_lone_surrogate(message):
        message = message.encode("utf-8", "replace").decode("utf-8")
    return message


def _worker_id(worker_id: object) -> str:
    if not isinstance(worker_id, str) or not worker_id:
        raise InvalidJobError("worker_id", "must be a non-empty string identifying the worker")
    return plain_text("worker_id", worker_id)


def _texts(field: str, values: Sequence[str] | None) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        raise InvalidJobError(field, "must be a list of strings, not a single string")
    out = list(values)
    for i, value in enumerate(out):
        if not isinstance(value, str):
            raise InvalidJobError(f"{field}[{i}]", f"must be a string (got {value!r})")
        plain_text(f"{field}[{i}]", value)
    return out


def _unique_jobs(params: Sequence[JobParams]) -> Callable[[list[Row]], list[Job]]:
    """The parser of add_unique_jobs' rows: a matched job comes whole; a new one is built from
    its spec, as add_jobs' unkeyed jobs are (:func:`batch_result`)."""

    def parse(rows: list[Row]) -> list[Job]:
        if len(rows) != len(params):
            raise RuntimeError("add_unique_jobs returned one row per spec")
        new = [(p, r) for p, r in zip(params, rows, strict=True) if not r["deduplicated"]]
        built = iter(
            batch_result(
                [p for p, _ in new],
                [
                    {
                        "ids": [r["job_id"] for _, r in new],
                        "created_at": rows[0]["created_at"] if rows else None,
                        "default_run_at": rows[0]["default_run_at"] if rows else None,
                    }
                ],
            )
        )
        return [
            Job.model_validate({**r["job"], "deduplicated": True})
            if r["deduplicated"]
            else next(built)
            for r in rows
        ]

    return parse


def _add_unique(now: datetime | None, params: Sequence[JobParams]) -> Op[list[Job]]:
    """``add_unique_jobs``: a batch with unique jobs (see :mod:`trigger_compat.core.unique`)."""
    for i, p in enumerate(params):
        if p.job_key is not None:
            raise InvalidJobError(
                f"specs[{i}].job_key",
                "a batch with unique jobs cannot also have keyed jobs; add them in two calls",
            )
    return Op(
        "add_unique_jobs",
        {
            "identifiers": [p.identifier for p in params],
            "payloads": "[" + ",".join(p.payload or "null" for p in params) + "]",
            "queue_names": [p.queue_name for p in params],
            "run_ats": [p.run_at for p in params],
            "max_attempts": [p.max_attempts for p in params],
            "priorities": [p.priority for p in params],
            "flags": [flags_object(p.flags) for p in params],
            "unique_keys": [p.unique_key for p in params],
            "unique_periods": [p.unique_period for p in params],
            "unique_states": [p.unique_states for p in params],
            "now": now,
        },
        _unique_jobs(params),
    )


def _single(op: Op[list[Job]]) -> Op[Job]:
    return Op(op.query, op.params, lambda rows: op.parse(rows)[0])


def add_job(
    now: datetime | None,
    identifier: str,
    payload: Any = None,
    *,
    max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
    **options: Any,
) -> Op[Job]:
    p = validate_job(identifier, payload, max_payload_bytes=max_payload_bytes, **options)
    if p.unique_key is not None:
        return _single(_add_unique(now, [p]))
    return Op("add_job", {**p.as_params(), "now": now}, _added(p))


def add_spec(
    now: datetime | None, spec: JobSpec, max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES
) -> Op[Job]:
    """``add_job`` for a :class:`JobSpec` (what ``enqueue`` plans)."""
    p = validate_spec(spec, max_payload_bytes=max_payload_bytes)
    if p.unique_key is not None:
        return _single(_add_unique(now, [p]))
    return Op("add_job", {**p.as_params(), "now": now}, _added(p))


def _column(values: list[T | None]) -> list[T | None] | None:
    """An optional column of a batch: None (a null array) when no spec sets it. The SQL
    function unnests its arrays side by side, which pads a shorter (or null) one with
    nulls, so a null array reads as every element null, without sending 1,000 of them."""
    for value in values:
        if value is not None:
            return values
    return None


def add_jobs(
    now: datetime | None,
    specs: Sequence[JobSpec],
    job_key_preserve_run_at: bool,
    max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
) -> Op[list[Job]]:
    params = validate_specs(specs, max_payload_bytes)
    if any(p.unique_key is not None for p in params):
        return _add_unique(now, params)
    return Op(
        "add_jobs",
        {
            "identifiers": [p.identifier for p in params],
            "payloads": "[" + ",".join(p.payload or "null" for p in params) + "]",
            "queue_names": _column([p.queue_name for p in params]),
            "run_ats": _column([p.run_at for p in params]),
            "max_attempts": _column([p.max_attempts for p in params]),
            "job_keys": _column([p.job_key for p in params]),
            "priorities": _column([p.priority for p in params]),
            "flags": _column([flags_object(p.flags) for p in params]),
            "modes": _column([p.job_key_mode for p in params]),
            "job_key_preserve_run_at": bool(job_key_preserve_run_at),
            "now": now,
        },
        lambda rows: batch_result(params, rows),
    )


def remove_job(job_key: str) -> Op[Job | None]:
    p = validate_job("remove_job", job_key=job_key)
    if p.job_key is None:
        raise InvalidJobError("job_key", "is required")
    return Op("remove_job", {"job_key": p.job_key}, _first_job)


def get_job(job_id: int) -> Op[Job | None]:
    return Op("get_job", {"job_id": _ids("job_id", [job_id])[0]}, _first_job)


def fetch_jobs(
    now: datetime | None,
    worker_id: str,
    limit: int,
    task_identifiers: Sequence[str] | None,
    forbidden_flags: Sequence[str] | None,
) -> Op[list[Job]]:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidJobError("limit", f"must be a positive integer (got {limit!r})")
    return Op(
        "fetch_jobs",
        {
            "worker_id": _worker_id(worker_id),
            "max_jobs": limit,
            "task_identifiers": _texts("task_identifiers", task_identifiers),
            "forbidden_flags": _texts("forbidden_flags", forbidden_flags),
            "now": now,
        },
        lambda rows: sorted(_jobs(rows), key=lambda j: (j.priority, j.run_at, j.id)),
    )


def complete_jobs(job_ids: Iterable[int], worker_id: str | None) -> Op[list[int]]:
    return Op(
        "complete_jobs",
        {
            "job_ids": _ids("job_ids", job_ids),
            "worker_id": None if worker_id is None else _worker_id(worker_id),
        },
        lambda rows: sorted(row["complete_jobs"] for row in rows),
    )


def fail_job(
    now: datetime | None,
    job_id: int,
    error: str,
    worker_id: str | None,
    run_at: datetime | None,
) -> Op[Job | None]:
    if not isinstance(error, str):
        raise InvalidJobError("error", f"must be a string (got {type(error).__name__})")
    return Op(
        "fail_job",
        {
            "job_id": _ids("job_id", [job_id])[0],
            "error_message": error_text(error),
            "worker_id": None if worker_id is None else _worker_id(worker_id),
            "run_at": check_aware("run_at", run_at),
            "now": now,
        },
        _first_job,
    )


def permanently_fail_jobs(job_ids: Iterable[int], message: str | None) -> Op[list[Job]]:
    if message is not None:
        if not isinstance(message, str):
            raise InvalidJobError("message", f"must be a string (got {type(message).__name__})")
        message = error_text(message)
    return Op(
        "permanently_fail_jobs",
        {"job_ids": _ids("job_ids", job_ids), "error_message": message},
        _jobs,
    )


def reschedule_jobs(
    job_ids: Iterable[int],
    run_at: datetime | None,
    priority: int | None,
    attempts: int | None,
    max_attempts: int | None,
) -> Op[list[Job]]:
    checked = validate_job("reschedule_jobs", max_attempts=max_attempts, priority=priority)
    if attempts is not None and (
        isinstance(attempts, bool) or not isinstance(attempts, int) or not 0 <= attempts <= 32767
    ):
        raise InvalidJobError(
            "attempts", f"must be an integer between 0 and 32767 (got {attempts!r})"
        )
    return Op(
        "reschedule_jobs",
        {
            "job_ids": _ids("job_ids", job_ids),
            "run_at": check_aware("run_at", run_at),
            "priority": checked.priority,
            "attempts": attempts,
            "max_attempts": checked.max_attempts,
        },
        _jobs,
    )


def force_unlock_workers(worker_ids: Sequence[str]) -> Op[list[Job]]:
    ids = _texts("worker_ids", worker_ids) or []
    return Op("force_unlock_workers", {"worker_ids": ids}, _jobs)


def set_queue_concurrency(queue_name: str, concurrency: int) -> Op[None]:
    p = validate_job("set_queue_concurrency", queue_name=queue_name)
    if p.queue_name is None:
        raise InvalidJobError("queue_name", "is required")
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not 1 <= concurrency <= 2**31 - 1
    ):
        raise InvalidJobError(
            "concurrency",
            f"must be a positive integer (got {concurrency!r}); 1 runs the queue serially",
        )
    return Op(
        "set_queue_concurrency",
        {"queue_name": p.queue_name, "concurrency": concurrency},
        lambda rows: None,
    )


def canceller() -> str:
    """Who cancels, as recorded in a cancelled job's ``last_error``: ``user@host (pid N)``."""
    import getpass
    import os
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # no login name (e.g. a container's uid without a passwd entry)
        user = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()} (pid {os.getpid()})"


def cancel_message(by: str | None = None, reason: str | None = None) -> str:
    """The ``last_error`` of a cancelled job: ``cancelled by <by>[: <reason>]`` (``by``
    defaults to :func:`canceller`)."""
    for field, value in (("by", by), ("reason", reason)):
        if value is not None and not isinstance(value, str):
            raise InvalidJobError(field, f"must be a string (got {type(value).__name__})")
    text = f"cancelled by {by or canceller()}"
    return error_text(f"{text}: {reason}" if reason else text)


def cancel_jobs(job_ids: Iterable[int], message: str) -> Op[list[Job]]:
    """Fail jobs for good now, running ones included (their worker is told; see
    ``sql/functions/cancel_jobs.sql``). Returns the jobs cancelled; jobs that do not exist
    or had already failed for good are not among them."""
    return Op(
        "cancel_jobs",
        {"job_ids": _ids("job_ids", job_ids), "reason": error_text(message)},
        _jobs,
    )


def payload_value(payload: Any) -> Any:
    """A payload as stored: a pydantic model instance becomes its JSON data,
    ``model_dump(mode="json", by_alias=True, exclude_unset=True)``: the fields the caller set
    (defaults included when set explicitly), under their aliases, as JSON types. Fields left
    unset are left out, as a JavaScript caller leaves an optional key out: a catalog schema
    whose optional field is not nullable accepts that, where a ``null`` would fail it, and the
    handler's model fills the default in. Anything else is returned as it is."""
    from pydantic import BaseModel

    if isinstance(payload, BaseModel):
        return payload.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return payload


def payload_values(items: Sequence[Any]) -> list[Any]:
    """``enqueue_many``'s items with :func:`payload_value` applied to each payload (an item
    that is not a tuple of 2 or 3 is passed on as it is, for the planner to refuse)."""
    out: list[Any] = []
    for item in items:
        if isinstance(item, tuple) and len(item) in (2, 3):
            out.append((item[0], payload_value(item[1]), *item[2:]))
        else:
            out.append(item)
    return out
