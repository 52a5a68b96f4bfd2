"""Job rows, job specifications and their validation (pure: no I/O)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import DuplicateJobKeyError, InvalidJobError
from .unique import UniqueOpts, parse_unique, unique_key

JobKeyMode = Literal["replace", "preserve_run_at", "unsafe_dedupe"]
JOB_KEY_MODES: tuple[str, ...] = get_args(JobKeyMode)

MAX_IDENTIFIER_LENGTH = 128
MAX_QUEUE_NAME_LENGTH = 128
MAX_JOB_KEY_LENGTH = 512
MAX_ATTEMPTS_RANGE = (1, 32767)
PRIORITY_RANGE = (-32768, 32767)
DEFAULT_MAX_ATTEMPTS = 25
# The largest payload (its JSON text, in UTF-8 bytes) a client accepts unless told otherwise.
DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024


class Job(BaseModel):
    """A row of ``<schema>.jobs``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: int
    task_identifier: str
    queue_name: str | None
    payload: Any
    priority: int
    run_at: datetime
    attempts: int
    max_attempts: int
    last_error: str | None
    key: str | None
    revision: int
    flags: dict[str, bool] | None
    locked_at: datetime | None
    locked_by: str | None
    created_at: datetime
    updated_at: datetime
    # The trace context of the span that added the job (see trigger_compat.tracing).
    trace_context: dict[str, str] | None = None
    # True when this add was a unique job that matched an existing one: nothing was
    # inserted and this is that job (see core.unique). Not a column: left out of model_dump().
    deduplicated: bool = Field(False, exclude=True)


class JobSpec(BaseModel):
    """One job to add: the identifier, the payload and the options of ``add_job``."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    identifier: str
    payload: Any = None
    queue_name: str | None = None
    run_at: datetime | None = None
    max_attempts: int | None = None
    job_key: str | None = None
    job_key_mode: JobKeyMode | None = None
    priority: int | None = None
    flags: Sequence[str] | None = None
    unique: UniqueOpts | None = None

    if not TYPE_CHECKING:  # type checkers keep the signature synthesised from the fields

        def __init__(self, **data: Any) -> None:
            # A bad field raises InvalidJobError (a TriggerCompatError), not pydantic's error.
            try:
                super().__init__(**data)
            except ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(part) for part in first["loc"]) or "JobSpec"
                got = first.get("input")
                raise InvalidJobError(field, f"{first['msg']} (got {got!r})") from None


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs ~3 µs a job
class JobParams:
    """A validated job specification, as the SQL functions take it (treat it as read-only)."""

    identifier: str
    payload: str | None  # JSON text
    queue_name: str | None
    run_at: datetime | None
    max_attempts: int | None
    job_key: str | None
    job_key_mode: str | None
    priority: int | None
    flags: list[str] | None
    # The payload as the server will store it, when that is known without parsing the JSON
    # text (a flat object: a shallow copy); batch_result builds unkeyed Jobs from it.
    stored_payload: dict[str, Any] | None = None
    # A unique job (core.unique): its key before the period, the period in seconds, and the
    # states that block a new job (comma-separated); all None for a job that is not unique.
    unique_key: str | None = None
    unique_period: int | None = None
    unique_states: str | None = None

    def as_params(self) -> dict[str, Any]:
        return {
            "identifier": self.identifier,
            "payload": self.payload,
            "queue_name": self.queue_name,
            "run_at": self.run_at,
            "max_attempts": self.max_attempts,
            "job_key": self.job_key,
            "job_key_mode": self.job_key_mode,
            "priority": self.priority,
            "flags": self.flags,
        }


def has_lone_surrogate(text: str) -> bool:
    """True when ``text`` cannot be sent to PostgreSQL as UTF-8 (e.g. an argv byte that was
    not UTF-8, decoded by Python as a lone surrogate)."""
    if text.isascii():  # the common case, answered by a flag of the str
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


LONE_SURROGATE = (
    "must be valid Unicode text (it contains a lone surrogate, e.g. from bytes that were not UTF-8)"
)


def check_text(field: str, value: object, max_length: int, fix: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidJobError(field, f"must be a string (got {type(value).__name__}); {fix}")
    if value == "":
        raise InvalidJobError(field, f"must not be empty; {fix}")
    if len(value) > max_length:
        raise InvalidJobError(
            field, f"must be at most {max_length} characters (got {len(value)}); {fix}"
        )
    if "\x00" in value:
        raise InvalidJobError(field, f"must not contain NUL characters; {fix}")
    if has_lone_surrogate(value):
        raise InvalidJobError(field, f"{LONE_SURROGATE}; {fix}")
    return value


def _check_int(field: str, value: object, bounds: tuple[int, int]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidJobError(field, f"must be an integer (got {type(value).__name__})")
    low, high = bounds
    if not low <= value <= high:
        raise InvalidJobError(field, f"must be between {low} and {high} (got {value})")
    return value


def check_aware(field: str, value: object) -> datetime | None:
    """Return ``value`` if it is None or a timezone-aware datetime, else raise."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidJobError(field, f"must be a datetime (got {type(value).__name__})")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidJobError(
            field,
            "must be timezone-aware (got a naive datetime); "
            "use e.g. datetime.now(timezone.utc) or dt.replace(tzinfo=timezone.utc)",
        )
    return value


# An escaped NUL (\u0000) in JSON text, i.e. one not preceded by an escaped backslash.
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _reject_non_json(value: object) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


# One encoder for every payload (json.dumps with options builds a new one per call).
_PAYLOAD_ENCODER = json.JSONEncoder(
    allow_nan=False, ensure_ascii=False, separators=(",", ":"), default=_reject_non_json
)


def check_max_payload_bytes(value: object) -> int | None:
    """``value`` if it is None (no limit of ours) or a positive integer, else raise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidJobError(
            "max_payload_bytes", f"must be a positive integer or None (got {value!r})"
        )
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})


def is_flat_object(payload: object) -> bool:
    """Whether ``payload`` is a dict of string keys and plain scalar values (exact types
    str, int, float, bool, None): the common payload, for which a shallow copy equals what
    a JSON round trip would give back."""
    return type(payload) is dict and all(
        type(key) is str and type(value) in _SCALARS for key, value in payload.items()
    )


def _non_str_key(payload: object) -> str | None:
    """The JSON path of the first dict key that is not a string, if any (json.dumps would
    silently turn 1, 1.5, True or None into "1", "1.5", "true" or "null")."""
    stack: list[tuple[str, object]] = [("$", payload)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    return f"{path}[{key!r}]"
                if isinstance(item, dict | list | tuple):
                    stack.append((f"{path}.{key}", item))
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if isinstance(item, dict | list | tuple):
                    stack.append((f"{path}[{i}]", item))
    return None


def payload_json(
    field: str,
    payload: object,
    max_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
    *,
    flat: bool | None = None,
) -> str | None:
    """Serialise a payload to JSON text, refusing anything that is not plain JSON, and any
    payload whose JSON text is longer than ``max_bytes`` UTF-8 bytes (None: no limit).
    ``flat``: :func:`is_flat_object` of the payload, when the caller knows it already."""
    if payload is None:
        return None
    fix = (
        "convert the value first (e.g. a datetime to an ISO string, a set to a list, "
        "bytes to base64 text)"
    )
    try:
        text = _PAYLOAD_ENCODER.encode(payload)
    except RecursionError:
        raise InvalidJobError(field, "is nested too deeply to be JSON") from None
    except (TypeError, ValueError) as exc:
        message = str(exc)
        if isinstance(exc, TypeError) or "Circular" in message:
            reason = message
        elif "float" in message:
            reason = "NaN and Infinity are not JSON"
        elif "digits" in message:
            reason = "an integer has too many digits to be written as JSON"
        else:
            reason = message
        raise InvalidJobError(
            field,
            f"must be JSON (dict, list, str, int, float, bool or None): {reason}; {fix}",
        ) from None
    if "\\u0000" in text and _JSON_NUL.search(text):  # the substring test is cheap
        raise InvalidJobError(
            field,
            "must not contain NUL characters (PostgreSQL jsonb refuses them); "
            "remove them, or encode binary data first (e.g. as base64)",
        )
    if text.isascii():  # one byte a character, and no surrogate (a flag of the str: O(1))
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidJobError(
                field,
                "contains a lone surrogate character, which is not valid Unicode; "
                "decode the text properly (e.g. bytes.decode('utf-8', 'replace')) or remove it",
            ) from None
    if max_bytes is not None and size > max_bytes:
        raise InvalidJobError(
            field,
            f"is {size:,} bytes as JSON, over the limit of {max_bytes:,} bytes "
            "(max_payload_bytes of the client); store large data elsewhere and pass a "
            "reference, or raise max_payload_bytes",
        )
    if flat is None:
        flat = is_flat_object(payload)
    bad_key = None if flat else _non_str_key(payload)
    if bad_key is not None:
        raise InvalidJobError(
            field,
            f"has a non-string object key at {bad_key}; JSON object keys are strings — "
            "convert the key (e.g. str(key)) so the stored payload is the one you passed",
        )
    return text


def _check_flags(field: str, flags: object) -> list[str] | None:
    if flags is None:
        return None
    if isinstance(flags, str) or not isinstance(flags, Sequence):
        raise InvalidJobError(field, "must be a list of strings (e.g. ['rl:org:1'])")
    out = []
    for i, flag in enumerate(flags):
        if not isinstance(flag, str) or flag == "":
            raise InvalidJobError(f"{field}[{i}]", "must be a non-empty string")
        if "\x00" in flag or has_lone_surrogate(flag):
            raise InvalidJobError(f"{field}[{i}]", f"must not contain NUL; {LONE_SURROGATE}")
        out.append(flag)
    return out or None


def validate_job(
    identifier: object,
    payload: object = None,
    *,
    queue_name: object = None,
    run_at: object = None,
    max_attempts: object = None,
    job_key: object = None,
    job_key_mode: object = None,
    priority: object = None,
    flags: object = None,
    unique: object = None,
    prefix: str = "",
    max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
) -> JobParams:
    """Check every argument of ``add_job`` and return the SQL parameters.

    Raises :class:`InvalidJobError` naming the field (prefixed by ``prefix``) and the fix.
    """
    # Arguments left as None are the common case: they skip their checker (and the field
    # name, which only an error needs, is formatted only for a value that is checked).
    ident = check_text(
        f"{prefix}identifier", identifier, MAX_IDENTIFIER_LENGTH, "name the task to run"
    )
    if ident is None:
        raise InvalidJobError(f"{prefix}identifier", "is required")
    if job_key_mode is not None and job_key_mode not in JOB_KEY_MODES:
        raise InvalidJobError(
            f"{prefix}job_key_mode",
            f"must be one of {', '.join(JOB_KEY_MODES)} (got {job_key_mode!r})",
        )
    if max_attempts is not None:
        if (
            isinstance(max_attempts, float)
            and math.isfinite(max_attempts)
            and max_attempts.is_integer()
        ):
            max_attempts = int(max_attempts)
        max_attempts = _check_int(f"{prefix}max_attempts", max_attempts, MAX_ATTEMPTS_RANGE)
    flat = is_flat_object(payload)
    params = JobParams(
        identifier=ident,
        payload=(
            None
            if payload is None
            else payload_json(f"{prefix}payload", payload, max_payload_bytes, flat=flat)
        ),
        queue_name=(
            None
            if queue_name is None
            else check_text(
                f"{prefix}queue_name",
                queue_name,
                MAX_QUEUE_NAME_LENGTH,
                "pass None for a job without a named queue",
            )
        ),
        run_at=None if run_at is None else check_aware(f"{prefix}run_at", run_at),
        max_attempts=max_attempts,  # checked above
        job_key=(
            None
            if job_key is None
            else check_text(
                f"{prefix}job_key", job_key, MAX_JOB_KEY_LENGTH, "pass None for a job without a key"
            )
        ),
        job_key_mode=None if job_key_mode is None else str(job_key_mode),
        priority=(
            None if priority is None else _check_int(f"{prefix}priority", priority, PRIORITY_RANGE)
        ),
        flags=None if flags is None else _check_flags(f"{prefix}flags", flags),
        stored_payload=dict(cast("dict[str, Any]", payload)) if flat else None,
    )
    if unique is not None:
        _set_unique(params, unique, prefix)
    return params


def _set_unique(params: JobParams, unique: object, prefix: str) -> None:
    try:
        opts = parse_unique(unique, f"{prefix}unique")
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        errors = getattr(exc, "errors", None)
        if callable(errors):
            first = errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidJobError(
                f"{prefix}unique" + (f".{where}" if where else ""), first["msg"]
            ) from None
        raise InvalidJobError(f"{prefix}unique", str(exc)) from None
    if opts is None:
        return
    if params.job_key is not None:
        raise InvalidJobError(
            f"{prefix}unique",
            "a job cannot have both a job key and unique options: a job key replaces the "
            "job holding it, a unique key keeps it; choose one",
        )
    params.unique_key = unique_key(opts, params.identifier, params.queue_name, params.payload)
    params.unique_period = opts.period_seconds
    params.unique_states = ",".join(opts.states)


def validate_spec(
    spec: JobSpec, prefix: str = "", max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES
) -> JobParams:
    return validate_job(
        spec.identifier,
        spec.payload,
        queue_name=spec.queue_name,
        run_at=spec.run_at,
        max_attempts=spec.max_attempts,
        job_key=spec.job_key,
        job_key_mode=spec.job_key_mode,
        priority=spec.priority,
        flags=spec.flags,
        unique=spec.unique,
        prefix=prefix,
        max_payload_bytes=max_payload_bytes,
    )


def _plain_spec(
    spec: JobSpec, checked_identifiers: set[str], max_payload_bytes: int | None
) -> JobParams:
    """:func:`validate_spec` of a spec that sets only an identifier, a payload and perhaps a
    job key (most specs of a batch), with the same checks and result, minus the branches of
    the options it leaves unset; an identifier already checked in the batch is not checked
    again."""
    identifier = spec.identifier
    if identifier not in checked_identifiers:
        if check_text("identifier", identifier, MAX_IDENTIFIER_LENGTH, "") is None:
            raise InvalidJobError("identifier", "is required")
        checked_identifiers.add(identifier)
    payload = spec.payload
    flat = is_flat_object(payload)
    job_key = spec.job_key
    return JobParams(
        identifier=identifier,
        payload=(
            None
            if payload is None
            else payload_json("payload", payload, max_payload_bytes, flat=flat)
        ),
        queue_name=None,
        run_at=None,
        max_attempts=None,
        job_key=(
            None if job_key is None else check_text("job_key", job_key, MAX_JOB_KEY_LENGTH, "")
        ),
        job_key_mode=None,
        priority=None,
        flags=None,
        stored_payload=dict(cast("dict[str, Any]", payload)) if flat else None,
    )


def validate_specs(
    specs: Sequence[JobSpec | dict[str, Any]],
    max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
) -> list[JobParams]:
    """Validate a batch; also refuses the same job key twice."""
    params: list[JobParams] = []
    seen: dict[str, int] = {}
    checked_identifiers: set[str] = set()
    for i, raw in enumerate(specs):
        if type(raw) is JobSpec:
            spec = raw
        elif isinstance(raw, dict):
            try:
                spec = JobSpec.model_validate(raw)
            except Exception as exc:  # pydantic.ValidationError
                raise InvalidJobError(f"specs[{i}]", str(exc)) from None
        elif isinstance(raw, JobSpec):
            spec = raw
        else:
            raise InvalidJobError(f"specs[{i}]", f"must be a JobSpec (got {type(raw).__name__})")
        try:
            p: JobParams | None = (
                _plain_spec(spec, checked_identifiers, max_payload_bytes)
                if spec.queue_name is None
                and spec.run_at is None
                and spec.max_attempts is None
                and spec.job_key_mode is None
                and spec.priority is None
                and spec.flags is None
                and spec.unique is None
                else validate_spec(spec, "", max_payload_bytes)
            )
        except InvalidJobError:
            p = None
        if p is None:
            # Again with the field names of the batch (specs[i].…), which are formatted only
            # for an error: the checks are deterministic, so this raises the error, named.
            p = validate_spec(spec, f"specs[{i}].", max_payload_bytes)
        if p.job_key is not None:
            if p.job_key in seen:
                raise DuplicateJobKeyError(
                    f"specs[{i}].job_key",
                    f"{p.job_key!r} is also the key of specs[{seen[p.job_key]}]; "
                    "a batch may use each job key once — merge the two jobs or add them separately",
                )
            seen[p.job_key] = i
        params.append(p)
    return params


def flags_dict(flags: Sequence[str] | None) -> dict[str, bool] | None:
    """The stored form of flags, {flag: True}, or None when there are none."""
    return {flag: True for flag in flags} if flags else None


def flags_object(flags: list[str] | None) -> str | None:
    """:func:`flags_dict` as JSON text (what the SQL functions take)."""
    stored = flags_dict(flags)
    return None if stored is None else json.dumps(stored, ensure_ascii=False)


def batch_result(params: Sequence[JobParams], rows: Sequence[Mapping[str, Any]]) -> list[Job]:
    """The jobs ``add_job``/``add_jobs`` made, in the order of the specs.

    Their queries return one row: ``ids``, the ids of the unkeyed jobs (inserted in spec
    order, so ascending); ``new_keys`` and ``new_key_ids`` (add_jobs only), the keyed jobs
    inserted new (revision 0), key by key; ``full``, each other keyed job whole, as JSON (an
    existing job updated or kept: its stored values may differ from its spec: a kept run_at,
    a concatenated payload, a bumped revision); ``trace_context`` (add_jobs only), what the
    column default gave the new rows; and the two instants the function gave the new rows:
    ``created_at`` (the transaction's now(), the column default of created_at and
    updated_at) and ``default_run_at`` (for a spec without run_at). A new job is stored
    exactly as specified, defaults applied, so its Job is built from the spec; its payload
    is the flat copy made at validation, else read back from the JSON text that was sent
    (equal to the stored one; jsonb may order keys differently).
    """
    row = rows[0] if rows else {}
    by_key: dict[str, Job] = {}
    for full in row.get("full") or ():
        job = Job.model_validate(full)
        by_key[str(job.key)] = job
    new_key_ids = dict(zip(row.get("new_keys") or (), row.get("new_key_ids") or (), strict=True))
    ids = iter(sorted(row.get("ids") or ()))
    created_at: datetime | None = row.get("created_at")
    default_run_at: datetime | None = row.get("default_run_at")
    trace_context: dict[str, str] | None = row.get("trace_context")
    out: list[Job] = []
    for p in params:
        if p.job_key is not None:
            if p.job_key not in new_key_ids:
                out.append(by_key[p.job_key])
                continue
            job_id = new_key_ids[p.job_key]
        else:
            job_id = next(ids)
        out.append(
            Job.model_validate(
                {
                    "id": job_id,
                    "task_identifier": p.identifier,
                    "queue_name": p.queue_name,
                    "payload": (
                        {}
                        if p.payload is None
                        else p.stored_payload
                        if p.stored_payload is not None
                        else json.loads(p.payload)
                    ),
                    "priority": 0 if p.priority is None else p.priority,
                    # As the database gives timestamps back: in the session's time zone.
                    "run_at": (
                        default_run_at
                        if p.run_at is None or default_run_at is None
                        else p.run_at.astimezone(default_run_at.tzinfo)
                    ),
                    "attempts": 0,
                    "max_attempts": (
                        DEFAULT_MAX_ATTEMPTS if p.max_attempts is None else p.max_attempts
                    ),
                    "last_error": None,
                    "key": p.job_key,
                    "revision": 0,
                    "flags": flags_dict(p.flags),
                    "locked_at": None,
                    "locked_by": None,
                    "created_at": created_at,
                    "updated_at": created_at,
                    "trace_context": trace_context,
                }
            )
        )
    return out
