"""Per-call enqueue options and the one merge of catalog settings with them (pure).

The merge follows ZodWorker (catalog task settings, then per-call options on top), with these
rules:

* a per-call option beats the catalog; a per-call ``None`` means "not given" and never overrides;
* a **templated** catalog ``queueName`` (``"sources:{id}"``) always wins over a per-call one;
* a **templated** catalog ``jobKey`` wins over a per-call one when it renders non-empty;
* a **constant** catalog ``jobKey`` is a default (a per-call ``jobKey`` wins);
* an empty ``jobKey`` / ``queueName`` means none (a per-call ``""`` clears the catalog's);
* ``maxAttempts`` ≤ 0 and a naive ``runAt`` are errors;
* ``unique`` (per call: options, ``True`` or ``False``) replaces the catalog's; a job with both
  a job key and unique options is an error (see :mod:`trigger_compat.core.unique`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    field_validator,
)

from ..errors import InvalidJobError
from .catalog import Catalog, TaskSettings
from .jobs import (
    MAX_ATTEMPTS_RANGE,
    MAX_JOB_KEY_LENGTH,
    MAX_QUEUE_NAME_LENGTH,
    PRIORITY_RANGE,
    JobSpec,
    check_aware,
    check_text,
)
from .payloads import enqueue_payload
from .templates import TemplateError
from .unique import NO_CRITERIA, UniqueOpts

__all__ = ["JobOptions", "merge_job_spec", "parse_options", "plan_enqueue"]

StrictInt = Annotated[int, Strict()]


class JobOptions(BaseModel):
    """Per-call options of ``enqueue``, in trigger.dev spelling (``runAt``, ``jobKey``, …) or
    snake_case. ``None`` means "not given"."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    run_at: datetime | None = Field(None, alias="runAt")
    job_key: Annotated[str, Strict()] | None = Field(None, alias="jobKey")
    job_key_mode: Literal["replace", "preserve_run_at", "unsafe_dedupe"] | None = Field(
        None, alias="jobKeyMode"
    )
    max_attempts: StrictInt | None = Field(None, alias="maxAttempts")
    queue_name: Annotated[str, Strict()] | None = Field(None, alias="queueName")
    priority: StrictInt | None = None
    flags: tuple[Annotated[str, Strict(), StringConstraints(min_length=1)], ...] | None = None
    # Unique options (core.unique); True = unique by task alone, False = not unique even when
    # the catalog says so.
    unique: UniqueOpts | Annotated[bool, Strict()] | None = None

    @field_validator("flags", mode="before")
    @classmethod
    def _flags(cls, v: Any) -> Any:
        if isinstance(v, str):
            raise ValueError("must be a list of strings, not a single string")
        return tuple(v) if isinstance(v, list) else v


_ACCEPTED = ", ".join(
    f"{f.alias} / {name}" if f.alias else name for name, f in JobOptions.model_fields.items()
)


_NO_OPTIONS = JobOptions.model_validate({})


def parse_options(
    options: JobOptions | Mapping[str, Any] | None, field: str = "options"
) -> JobOptions:
    """A :class:`JobOptions` from a model, a dict (either spelling) or None."""
    if options is None:
        return _NO_OPTIONS
    if isinstance(options, JobOptions):
        return options
    if not isinstance(options, Mapping):
        raise InvalidJobError(
            field, f"must be a JobOptions or a dict (got {type(options).__name__})"
        )
    if "tx" in options:
        raise InvalidJobError(
            f"{field}.tx", "pass the transaction as the keyword argument tx=, not as an option"
        )
    try:
        return JobOptions.model_validate(dict(options))
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            raise InvalidJobError(
                f"{field}.{name}", f"unknown option {name!r}; accepted: {_ACCEPTED}"
            ) from None
        raise InvalidJobError(f"{field}.{name}", err["msg"]) from None


def _given(value: Any) -> bool:
    return value is not None


def merge_job_spec(
    task: TaskSettings,
    identifier: str,
    payload: Any,
    options: JobOptions | Mapping[str, Any] | None = None,
    *,
    field: str = "options",
) -> JobSpec:
    """The job to add: the catalog task settings with the per-call options on top."""
    opts = parse_options(options, field)

    def pick(call: Any, catalog: Any) -> Any:
        return call if _given(call) else catalog

    if opts.max_attempts is not None and opts.max_attempts <= 0:
        raise InvalidJobError(
            f"{field}.maxAttempts",
            f"must be ≥ 1 (got {opts.max_attempts}); leave it out to use the catalog's value",
        )
    if opts.max_attempts is not None and opts.max_attempts > MAX_ATTEMPTS_RANGE[1]:
        raise InvalidJobError(
            f"{field}.maxAttempts",
            f"must be at most {MAX_ATTEMPTS_RANGE[1]} (got {opts.max_attempts})",
        )
    if opts.priority is not None and not PRIORITY_RANGE[0] <= opts.priority <= PRIORITY_RANGE[1]:
        raise InvalidJobError(
            f"{field}.priority",
            f"must be between {PRIORITY_RANGE[0]} and {PRIORITY_RANGE[1]} (got {opts.priority});"
            " smaller runs first",
        )
    run_at = check_aware(f"{field}.runAt", opts.run_at)
    # queueName: a templated catalog value always wins.
    qt = task.queue_template
    try:
        if qt is not None and not qt.is_constant:
            queue_name: str | None = qt.render(payload)
        else:
            queue_name = pick(opts.queue_name, task.queue_name)
        # jobKey: a templated catalog value wins when it renders non-empty; a constant is a default.
        kt = task.job_key_template
        job_key: str | None = None
        key_rendered = False
        if kt is not None and not kt.is_constant:
            rendered = kt.render(payload)
            key_rendered = bool(rendered)
            job_key = rendered or opts.job_key
        else:
            job_key = pick(opts.job_key, task.job_key)
    except TemplateError as exc:
        raise InvalidJobError("payload", f"{identifier!r}: {exc}") from None
    # Checked here so that the error names where the value came from (the option, or the
    # payload through the catalog's template), not the job column.
    queue_rendered = qt is not None and not qt.is_constant
    for value, from_template, option, limit, fix in (
        (queue_name, queue_rendered, "queueName", MAX_QUEUE_NAME_LENGTH, "shorten the queue name"),
        (job_key, key_rendered, "jobKey", MAX_JOB_KEY_LENGTH, "shorten the job key"),
    ):
        if value:
            source = (
                f"payload (through the catalog's {option} template)"
                if from_template
                else f"{field}.{option}"
            )
            check_text(source, value, limit, fix)
    flags = pick(opts.flags, task.flags)
    unique = task.unique if opts.unique is None else opts.unique
    if isinstance(unique, bool):
        unique = NO_CRITERIA if unique else None
    if unique is not None and job_key:
        raise InvalidJobError(
            f"{field}.unique",
            f"{identifier!r}: a job cannot have both a job key and unique options (a job key "
            "replaces the job holding it, a unique key keeps it); pass unique=False or no jobKey",
        )
    return JobSpec(
        identifier=identifier,
        payload=payload,
        queue_name=queue_name or None,
        run_at=run_at,
        max_attempts=pick(opts.max_attempts, task.max_attempts),
        job_key=job_key or None,
        job_key_mode=pick(opts.job_key_mode, task.job_key_mode),
        priority=pick(opts.priority, task.priority),
        flags=list(flags) if flags else None,
        unique=unique,
    )


def plan_enqueue(
    catalog: Catalog,
    identifier: str,
    payload: Any,
    options: JobOptions | Mapping[str, Any] | None = None,
    *,
    prefix: str = "",
) -> JobSpec:
    """Look the task up, check the payload against its schema, and merge the options.

    Raises :class:`UnknownTaskError`, :class:`PayloadValidationError` or
    :class:`InvalidJobError`; nothing is written in any case.
    """
    try:
        task = catalog.task(identifier)
    except InvalidJobError as exc:
        if not prefix:
            raise
        message = str(exc).removeprefix(f"{exc.field}: ")
        raise type(exc)(f"{prefix}{exc.field}", message) from None
    opts = parse_options(options, f"{prefix}options")
    try:
        validator = task.payload_validator()
    except ValueError as exc:
        raise InvalidJobError(f"{prefix}payload", str(exc)) from None
    if validator is not None:
        payload = enqueue_payload(validator, identifier, payload, f"{prefix}payload")
    return merge_job_spec(task, identifier, payload, opts, field=f"{prefix}options")


def plan_enqueue_many(
    catalog: Catalog,
    items: Sequence[tuple[str, Any] | tuple[str, Any, JobOptions | Mapping[str, Any] | None]],
) -> list[JobSpec]:
    """:func:`plan_enqueue` for each ``(identifier, payload[, options])``."""
    specs: list[JobSpec] = []
    for i, item in enumerate(items):
        if not isinstance(item, tuple | list) or len(item) not in (2, 3):
            raise InvalidJobError(
                f"items[{i}]", "must be (identifier, payload) or (identifier, payload, options)"
            )
        identifier, payload = item[0], item[1]
        options = item[2] if len(item) == 3 else None
        specs.append(plan_enqueue(catalog, identifier, payload, options, prefix=f"items[{i}]."))
    return specs
