"""The catalog (``catalog.yaml``): workers, their tasks and recurring tasks, named queues.

The models are frozen pydantic models spelled as trigger.dev spells them (camelCase keys), and
the lookups over them. Reading a catalog file (YAML with the position of every problem, JSON
Schema files) is :mod:`.catalog_loader`'s; its functions are also importable from here.

Shape (documented in the README)::

    databaseSchema: trigger_compat      # optional; the PostgreSQL schema every worker shares
    queues: {name: concurrency}         # optional; named queues allowed to run N jobs at once
    workers:
      <workerName>:
        concurrency / pollInterval / shutdownTimeoutInMs / rescueAfterInMs / onFinalFailure
        tasks:          {identifier: TaskSettings}
        recurringTasks: {name: RecurringTask}
        cleanup:        CleanupSettings
"""

from __future__ import annotations

import difflib
import importlib
import math
import re
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from jsonschema.protocols import Validator
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..errors import (
    CatalogRequiredError,
    ConfigurationError,
    CronError,
    TemplateError,
    UnknownTaskError,
)
from .cron import parse_cron
from .jobs import (
    DEFAULT_MAX_ATTEMPTS,
    MAX_ATTEMPTS_RANGE,
    MAX_IDENTIFIER_LENGTH,
    MAX_JOB_KEY_LENGTH,
    MAX_QUEUE_NAME_LENGTH,
    PRIORITY_RANGE,
)
from .payloads import compile_schema
from .templates import Template, parse_template
from .unique import UniqueOpts

if TYPE_CHECKING:
    from .catalog_loader import (
        CatalogReport,
        inspect_catalog,
        load_catalog,
        parse_catalog,
        resolve_catalog,
    )

__all__ = [
    "CLEANUP_IDENTIFIER",
    "Catalog",
    "CatalogReport",
    "CleanupSettings",
    "RecurringTask",
    "RecurringTaskOptions",
    "RetrySettings",
    "TaskSettings",
    "WorkerSettings",
    "catalog_json_schema",
    "effective_settings",
    "import_handler",
    "inspect_catalog",
    "load_catalog",
    "parse_catalog",
    "require_catalog",
    "resolve_catalog",
]

# The loader's functions, importable from here too; loaded on first use (YAML is not needed
# to build a catalog in code).
_LOADER_NAMES = frozenset(
    {"CatalogReport", "inspect_catalog", "load_catalog", "parse_catalog", "resolve_catalog"}
)


def __getattr__(name: str) -> Any:
    if name not in _LOADER_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(".catalog_loader", __package__), name)
    globals()[name] = value
    return value


CLEANUP_IDENTIFIER = "__cleanupOldJobs"
DEFAULT_RESCUE_AFTER_MS = 30_000
# Heartbeats run every third of it: below a second they would be a load of their own.
MIN_RESCUE_AFTER_MS = 1_000

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=MAX_IDENTIFIER_LENGTH)]
QueueName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_QUEUE_NAME_LENGTH)]
Priority = Annotated[int, Field(ge=PRIORITY_RANGE[0], le=PRIORITY_RANGE[1])]
MaxAttempts = Annotated[int, Field(ge=MAX_ATTEMPTS_RANGE[0], le=MAX_ATTEMPTS_RANGE[1])]
Flag = Annotated[str, StringConstraints(min_length=1)]
_HANDLER = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


def _template(value: str | None, what: str, max_length: int) -> str | None:
    if value is None:
        return None
    try:
        t = parse_template(value)
    except TemplateError as exc:
        raise ValueError(str(exc)) from None
    if t.is_constant and len(value) > max_length:
        raise ValueError(f"a {what} is at most {max_length} characters (got {len(value)})")
    return value


def _cron(value: str) -> str:
    try:
        parse_cron(value)
    except CronError as exc:
        raise ValueError(f"invalid cron expression {value!r}: {exc}") from None
    return value


def _handler_ref(v: str | None) -> str | None:
    if v is not None and not _HANDLER.match(v):
        raise ValueError(f"must be 'module:function' (e.g. 'myapp.tasks:deliver'; got {v!r})")
    return v


class RetrySettings(_Model):
    """Per-task retry delay instead of the default ``exp(min(attempts, 10))`` seconds.

    The delay after the n-th failed attempt is ``min(maxTimeoutInMs, minTimeoutInMs ×
    factor^(n − 1))``, multiplied by a random number in [1, 2) when ``randomize`` is true.
    """

    factor: float = Field(2.0, ge=1)
    min_timeout_in_ms: int = Field(1000, alias="minTimeoutInMs", ge=0)
    max_timeout_in_ms: int = Field(3_600_000, alias="maxTimeoutInMs", ge=0)
    randomize: bool = False

    @field_validator("factor", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _bounds(self) -> RetrySettings:
        if self.max_timeout_in_ms < self.min_timeout_in_ms:
            raise ValueError(
                f"maxTimeoutInMs ({self.max_timeout_in_ms}) must be ≥ minTimeoutInMs "
                f"({self.min_timeout_in_ms})"
            )
        return self

    def delay_ms(self, attempts: int, random: float = 1.0) -> float:
        """The delay before the next attempt after ``attempts`` failed ones (``random`` in
        [1, 2) is used only with ``randomize``)."""
        n = max(attempts, 1) - 1
        try:
            raw = self.min_timeout_in_ms * self.factor**n
        except OverflowError:
            raw = math.inf
        delay = min(float(self.max_timeout_in_ms), raw)
        return delay * random if self.randomize else delay


class TaskSettings(_Model):
    """One task: how its jobs are added, and what runs them.

    ``queueName`` and ``jobKey`` may be templates over payload fields (``"sources:{id}"``).
    ``schema`` is a JSON Schema file (relative to the catalog file) or an inline schema.
    """

    queue_name: str | None = Field(None, alias="queueName")
    job_key: str | None = Field(None, alias="jobKey")
    job_key_mode: Literal["replace", "preserve_run_at", "unsafe_dedupe"] | None = Field(
        None, alias="jobKeyMode"
    )
    priority: Priority | None = None
    max_attempts: MaxAttempts | None = Field(None, alias="maxAttempts")
    flags: tuple[Flag, ...] | None = None
    payload_schema: Any = Field(
        None,
        alias="schema",
        json_schema_extra={
            "type": ["string", "object", "null"],
            "description": "A JSON Schema file relative to the catalog, or an inline schema.",
        },
    )
    handler: str | None = None
    timeout_in_ms: int | None = Field(None, alias="timeoutInMs", ge=1)
    retry: RetrySettings | None = None
    unique: UniqueOpts | None = None

    _resolved_schema: Any = PrivateAttr(None)
    _validator: Validator | None = PrivateAttr(None)

    @field_validator("flags", mode="before")
    @classmethod
    def _flags_list(cls, v: Any) -> Any:
        return tuple(v) if isinstance(v, list) else v

    @field_validator("queue_name")
    @classmethod
    def _queue_name(cls, v: str | None) -> str | None:
        return _template(v, "queue name", MAX_QUEUE_NAME_LENGTH)

    @field_validator("job_key")
    @classmethod
    def _job_key(cls, v: str | None) -> str | None:
        return _template(v, "job key", MAX_JOB_KEY_LENGTH)

    @field_validator("handler")
    @classmethod
    def _handler(cls, v: str | None) -> str | None:
        return _handler_ref(v)

    @field_validator("payload_schema")
    @classmethod
    def _schema(cls, v: Any) -> Any:
        if v is None or isinstance(v, str | Mapping):
            if isinstance(v, str) and not v.strip():
                raise ValueError("must name a JSON Schema file (e.g. 'schemas/startRun.json')")
            return v
        raise ValueError(
            "must be the path of a JSON Schema file (e.g. 'schemas/startRun.json') or an inline "
            f"schema mapping (got {type(v).__name__})"
        )

    @model_validator(mode="after")
    def _unique_without_key(self) -> TaskSettings:
        if self.unique is not None and self.job_key is not None:
            raise ValueError(
                "a task cannot have both jobKey and unique: a job key replaces the job holding "
                "it, a unique key keeps it; choose one"
            )
        return self

    def model_post_init(self, context: Any, /) -> None:
        if isinstance(self.payload_schema, Mapping):
            self._resolved_schema = self.payload_schema

    @property
    def queue_template(self) -> Template | None:
        return parse_template(self.queue_name) if self.queue_name else None

    @property
    def job_key_template(self) -> Template | None:
        return parse_template(self.job_key) if self.job_key else None

    @property
    def resolved_schema(self) -> Any:
        """The JSON Schema of the payload (read from its file by the loader), or None."""
        return self._resolved_schema

    def payload_validator(self) -> Validator | None:
        """The compiled validator (built once), or None when the task has no schema."""
        if self._validator is None and self._resolved_schema is not None:
            self._validator = compile_schema(self._resolved_schema)
        if self._validator is None and isinstance(self.payload_schema, str):
            raise ConfigurationError(
                None,
                f"the schema file {self.payload_schema!r} was not read; "
                "load the catalog with load_catalog() so that schema files are resolved",
            )
        return self._validator

    def attach_schema(self, schema: Any) -> None:
        """Set the schema read from ``payload_schema``'s file (used by the loader)."""
        self._resolved_schema = schema
        self._validator = None


class RecurringTaskOptions(_Model):
    """graphile's ``CronItemOptions``."""

    backfill_period: int = Field(0, alias="backfillPeriod", ge=0)
    max_attempts: MaxAttempts | None = Field(None, alias="maxAttempts")
    queue_name: QueueName | None = Field(None, alias="queueName")
    priority: Priority | None = None
    job_key: (
        Annotated[str, StringConstraints(min_length=1, max_length=MAX_JOB_KEY_LENGTH)] | None
    ) = Field(None, alias="jobKey")
    job_key_mode: Literal["replace", "preserve_run_at"] | None = Field(None, alias="jobKeyMode")


def _no_options() -> RecurringTaskOptions:
    return RecurringTaskOptions.model_validate({})


class RecurringTask(_Model):
    """A cron task: ``match`` is graphile's 5-field UTC cron expression."""

    match: str
    options: RecurringTaskOptions = Field(default_factory=lambda: _no_options())
    handler: str | None = None
    timeout_in_ms: int | None = Field(None, alias="timeoutInMs", ge=1)

    @field_validator("match")
    @classmethod
    def _match(cls, v: str) -> str:
        return _cron(v)

    @field_validator("handler")
    @classmethod
    def _handler(cls, v: str | None) -> str | None:
        return _handler_ref(v)


class CleanupSettings(_Model):
    """``__cleanupOldJobs``: delete up to ``maxCount`` permanently failed jobs older than
    ``ttl`` ms, at every tick of ``frequencyExpression``."""

    frequency_expression: str = Field(alias="frequencyExpression")
    ttl: int = Field(ge=0)
    max_count: int = Field(alias="maxCount", ge=1)
    task_options: RecurringTaskOptions = Field(
        default_factory=lambda: _no_options(), alias="taskOptions"
    )

    @field_validator("frequency_expression")
    @classmethod
    def _frequency(cls, v: str) -> str:
        return _cron(v)


class WorkerSettings(_Model):
    """One named worker: its runner settings and the task identifiers it runs."""

    concurrency: int = Field(10, ge=1)
    poll_interval: int = Field(1000, alias="pollInterval", ge=1)
    shutdown_timeout_in_ms: int = Field(60_000, alias="shutdownTimeoutInMs", ge=0)
    #: How long a worker may go without a heartbeat before the jobs it holds are released
    #: and run again elsewhere. Shorter: a crashed worker's jobs are retried sooner; but a
    #: live worker that cannot heartbeat for that long (a long GC or event-loop stall, a
    #: network partition) gets its running jobs run a second time. The same on every worker
    #: of a catalog (a worker rescues the jobs of any worker silent for its own value).
    rescue_after_in_ms: int = Field(
        DEFAULT_RESCUE_AFTER_MS, alias="rescueAfterInMs", ge=MIN_RESCUE_AFTER_MS
    )
    on_final_failure: Literal["keep", "delete"] = Field("keep", alias="onFinalFailure")
    tasks: dict[Identifier, TaskSettings] = Field(default_factory=dict)
    recurring_tasks: dict[Identifier, RecurringTask] = Field(
        default_factory=dict, alias="recurringTasks"
    )
    cleanup: CleanupSettings | None = None

    def identifiers(self) -> Iterator[tuple[str, str]]:
        """Every identifier this worker runs, with the catalog section it comes from."""
        for name in self.tasks:
            yield name, "tasks"
        for name in self.recurring_tasks:
            yield name, "recurringTasks"
        if self.cleanup is not None:
            yield CLEANUP_IDENTIFIER, "cleanup"


class Catalog(_Model):
    """The whole catalog: one database schema, named queues, and one or more workers whose
    identifiers are disjoint."""

    database_schema: str | None = Field(None, alias="databaseSchema")
    queues: dict[QueueName, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    workers: dict[Identifier, WorkerSettings] = Field(min_length=1)

    @model_validator(mode="after")
    def _disjoint(self, info: ValidationInfo) -> Catalog:
        if info.context and info.context.get("located"):
            return self  # the loader reports these with line numbers
        problems = duplicate_identifiers(self.workers) + mismatched_rescue_after(self.workers)
        if problems:
            raise ValueError("; ".join(message for _, message in problems))
        return self

    @property
    def tasks(self) -> dict[str, TaskSettings]:
        """Every task of every worker, by identifier."""
        return {i: t for w in self.workers.values() for i, t in w.tasks.items()}

    @property
    def recurring_tasks(self) -> dict[str, RecurringTask]:
        return {i: t for w in self.workers.values() for i, t in w.recurring_tasks.items()}

    def task(self, identifier: str) -> TaskSettings:
        """The task settings, or :class:`UnknownTaskError` naming close matches."""
        for worker in self.workers.values():
            if identifier in worker.tasks:
                return worker.tasks[identifier]
        known = list(self.tasks)
        close = difflib.get_close_matches(str(identifier), known, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        if identifier in self.recurring_tasks:
            hint = " (it is a recurring task: its jobs are added by the cron scheduler)"
        raise UnknownTaskError(
            "identifier",
            f"{identifier!r} is not a task of the catalog{hint} "
            f"({len(known)} tasks: add it under workers.<name>.tasks in the catalog)",
        )


def duplicate_identifiers(workers: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """Identifiers defined by more than one worker (or twice), over models or raw data."""
    seen: dict[str, tuple[str, ...]] = {}
    out: list[tuple[tuple[str, ...], str]] = []
    for wname, worker in workers.items():
        if isinstance(worker, WorkerSettings):
            entries = list(worker.identifiers())
        elif isinstance(worker, Mapping):
            entries = [
                (ident, section)
                for section in ("tasks", "recurringTasks")
                if isinstance(worker.get(section), Mapping)
                for ident in worker[section]
            ]
            if isinstance(worker.get("cleanup"), Mapping):
                entries.append((CLEANUP_IDENTIFIER, "cleanup"))
        else:
            continue
        for ident, section in entries:
            path: tuple[str, ...] = ("workers", wname, section)
            if section != "cleanup":
                path = (*path, ident)
            if ident in seen:
                out.append(
                    (
                        path,
                        f"identifier {ident!r} is also defined at {path_text(seen[ident])}; "
                        "identifiers must be unique across all workers of a catalog",
                    )
                )
            else:
                seen[ident] = path
    return out


def mismatched_rescue_after(workers: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """Workers whose rescueAfterInMs differs from the first worker's (over models or raw
    data; a value of the wrong type is reported elsewhere)."""
    values: list[tuple[str, int, bool]] = []  # (worker, value, set explicitly)
    for wname, worker in workers.items():
        if isinstance(worker, WorkerSettings):
            explicit = "rescue_after_in_ms" in worker.model_fields_set
            values.append((wname, worker.rescue_after_in_ms, explicit))
        elif isinstance(worker, Mapping):
            value = worker.get("rescueAfterInMs", DEFAULT_RESCUE_AFTER_MS)
            if isinstance(value, int) and not isinstance(value, bool):
                values.append((wname, value, "rescueAfterInMs" in worker))
    if len({value for _, value, _ in values}) <= 1:
        return []
    first, first_value, _ = values[0]
    out: list[tuple[tuple[str, ...], str]] = []
    for wname, value, explicit in values[1:]:
        if value != first_value:
            path: tuple[str, ...] = ("workers", wname)
            if explicit:
                path = (*path, "rescueAfterInMs")
            out.append(
                (
                    path,
                    f"rescueAfterInMs is {value} here but {first_value} for worker {first!r}; "
                    "set the same rescueAfterInMs on every worker (a worker rescues the jobs "
                    "of any worker silent for its own rescueAfterInMs, so the shorter one "
                    "would run the jobs of a live worker with a longer one twice)",
                )
            )
    return out


def path_text(path: tuple[Any, ...]) -> str:
    """A key path as the catalog's messages spell it: ``workers.main.tasks[my task]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.match(r"^[A-Za-z_$][\w$-]*$", str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{part}]"
    return out


# ---------------------------------------------------------------------------------------------
# Handlers


def import_handler(ref: str) -> Callable[..., Any]:
    """Import ``"module:function"`` (attribute paths allowed after the colon)."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ConfigurationError(None, f"handler {ref!r} must be 'module:function'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            None, f"handler {ref!r}: cannot import module {module_name!r}: {exc}"
        ) from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigurationError(
                None, f"handler {ref!r}: module {module_name!r} has no attribute {attr!r}"
            ) from None
    if not callable(obj):
        raise ConfigurationError(None, f"handler {ref!r} is not callable")
    return typing.cast(Callable[..., Any], obj)


def effective_settings(identifier: str, task: TaskSettings) -> dict[str, Any]:
    """What ``enqueue`` uses for this task when the call gives no options."""
    return {
        "identifier": identifier,
        "queueName": task.queue_name,
        "jobKey": task.job_key,
        "jobKeyMode": task.job_key_mode or "replace",
        "priority": task.priority if task.priority is not None else 0,
        "maxAttempts": task.max_attempts if task.max_attempts is not None else DEFAULT_MAX_ATTEMPTS,
        "flags": list(task.flags) if task.flags else [],
        "schema": task.payload_schema
        if isinstance(task.payload_schema, str)
        else ("inline" if task.payload_schema is not None else None),
        "handler": task.handler,
        "timeoutInMs": task.timeout_in_ms,
        "retry": task.retry.model_dump(by_alias=True) if task.retry else None,
        "unique": task.unique.model_dump(by_alias=True, exclude_none=True) if task.unique else None,
    }


def require_catalog(catalog: Catalog | None) -> Catalog:
    if catalog is None:
        raise CatalogRequiredError(
            "enqueue needs a catalog: build the client with catalog='catalog.yaml' "
            "(or a Catalog from load_catalog()); add_job works without one"
        )
    return catalog


def catalog_json_schema() -> dict[str, Any]:
    """The JSON Schema of a catalog file (shipped as ``schemas/catalog.schema.json``)."""
    schema = Catalog.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "trigger-compat catalog",
        **{k: v for k, v in schema.items() if k != "title"},
    }
