"""The catalog (``catalog.yaml``): workers, their tasks and recurring tasks, named queues.

The models are frozen pydantic models spelled as trigger.dev spells them (camelCase keys). The
loader reads YAML through PyYAML's node tree so that every problem carries ``file:line:column``
and the key path, and it reports **every** problem it finds, not only the first::

    catalog.yaml:42:5 workers.workerQueue.tasks.startRun.maxAttempts: must be ≥ 1 (got 0)

Shape (documented in the README)::

    databaseSchema: trigger_compat      # optional; the PostgreSQL schema every worker shares
    queues: {name: concurrency}         # optional; named queues allowed to run N jobs at once
    workers:
      <workerName>:
        concurrency / pollInterval / shutdownTimeoutInMs / onFinalFailure
        tasks:          {identifier: TaskSettings}
        recurringTasks: {name: RecurringTask}
        cleanup:        CleanupSettings
"""

from __future__ import annotations

import difflib
import importlib
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from jsonschema.protocols import Validator
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..errors import CatalogError, CatalogRequiredError, Problem, UnknownTaskError
from .cron import CronError, parse_cron
from .jobs import (
    DEFAULT_MAX_ATTEMPTS,
    MAX_ATTEMPTS_RANGE,
    MAX_IDENTIFIER_LENGTH,
    MAX_JOB_KEY_LENGTH,
    MAX_QUEUE_NAME_LENGTH,
    PRIORITY_RANGE,
)
from .payloads import check_schema, compile_schema
from .templates import Template, TemplateError, parse_template

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
    "import_handler",
    "inspect_catalog",
    "load_catalog",
    "parse_catalog",
    "require_catalog",
    "resolve_catalog",
]

CLEANUP_IDENTIFIER = "__cleanupOldJobs"

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
            raise ValueError(
                f"the schema file {self.payload_schema!r} was not read; "
                "load the catalog with load_catalog() so that schema files are resolved"
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
        problems = _duplicate_identifiers(self.workers)
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

    def worker_of(self, identifier: str) -> str | None:
        for name, worker in self.workers.items():
            if any(i == identifier for i, _ in worker.identifiers()):
                return name
        return None

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


def _duplicate_identifiers(workers: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
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
                        f"identifier {ident!r} is also defined at {_path_text(seen[ident])}; "
                        "identifiers must be unique across all workers of a catalog",
                    )
                )
            else:
                seen[ident] = path
    return out


# ---------------------------------------------------------------------------------------------
# Handlers


def import_handler(ref: str) -> Callable[..., Any]:
    """Import ``"module:function"`` (attribute paths allowed after the colon)."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ValueError(f"handler {ref!r} must be 'module:function'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"handler {ref!r}: cannot import module {module_name!r}: {exc}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(
                f"handler {ref!r}: module {module_name!r} has no attribute {attr!r}"
            ) from None
    if not callable(obj):
        raise ValueError(f"handler {ref!r} is not callable")
    return typing.cast(Callable[..., Any], obj)


# ---------------------------------------------------------------------------------------------
# Loader

Path_ = tuple[Any, ...]


@dataclass
class CatalogReport:
    """What :func:`inspect_catalog` found: the catalog (None when it has errors) and every
    problem, errors and warnings."""

    file: str
    catalog: Catalog | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


def _path_text(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.match(r"^[A-Za-z_$][\w$-]*$", str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{part}]"
    return out


class _Doc:
    """The YAML document as plain data plus the position of every key and value."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.values: dict[Path_, yaml.Mark] = {}
        self.keys: dict[Path_, yaml.Mark] = {}
        self.problems: list[Problem] = []

    def problem(
        self, mark: yaml.Mark | None, path: Path_, message: str, severity: str = "error"
    ) -> None:
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        sev: Literal["error", "warning"] = "warning" if severity == "warning" else "error"
        self.problems.append(Problem(self.file, line, column, _path_text(path), message, sev))

    def mark(self, path: Path_, *, key: bool = False) -> yaml.Mark | None:
        if key and path in self.keys:
            return self.keys[path]
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path)

    def to_data(
        self, loader: yaml.SafeLoader, node: yaml.Node, path: Path_, stack: set[int]
    ) -> Any:
        self.values[path] = node.start_mark
        if id(node) in stack:
            self.problem(node.start_mark, path, "a recursive YAML alias is not allowed")
            return None
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            stack.add(id(node))
            for knode, vnode in node.value:
                if knode.tag == "tag:yaml.org,2002:merge":
                    self.problem(knode.start_mark, path, "YAML merge keys ('<<') are not supported")
                    continue
                if not isinstance(knode, yaml.ScalarNode):
                    self.problem(knode.start_mark, path, "a key must be a plain string")
                    continue
                key = knode.value
                if key in out:
                    first = self.keys[(*path, key)]
                    self.problem(
                        knode.start_mark,
                        (*path, key),
                        f"duplicate key {key!r} (first defined at line {first.line + 1})",
                    )
                    continue
                self.keys[(*path, key)] = knode.start_mark
                out[key] = self.to_data(loader, vnode, (*path, key), stack)
            stack.discard(id(node))
            return out
        if isinstance(node, yaml.SequenceNode):
            stack.add(id(node))
            items = [self.to_data(loader, n, (*path, i), stack) for i, n in enumerate(node.value)]
            stack.discard(id(node))
            return items
        try:
            return loader.construct_object(node, deep=True)
        except ValueError as exc:  # e.g. an integer of more than 4300 digits
            self.problem(node.start_mark, path, f"cannot read this value: {exc}")
            return None


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        else:
            return annotation


def _model_at(loc: Path_) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``loc`` (for 'did you mean')."""
    current: Any = Catalog
    i = 0
    while i < len(loc):
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {(f.alias or n): f for n, f in current.model_fields.items()}
            if loc[i] not in fields:
                return None
            current = fields[loc[i]].annotation
        elif typing.get_origin(current) in (dict, tuple, list):
            current = typing.get_args(current)[-1 if typing.get_origin(current) is dict else 0]
        else:
            return None
        i += 1
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _aliases(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _message(err: Mapping[str, Any], loc: Path_) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = err.get("input")
    if kind == "missing":
        return f"{loc[-1]!r} is required" if loc else "is required"
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        accepted = _aliases(model) if model else []
        close = difflib.get_close_matches(str(loc[-1]), accepted, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listed = f" (accepted: {', '.join(accepted)})" if accepted else ""
        return f"unknown key {loc[-1]!r}{hint}{listed}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be an integer (got {_show(got)})"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number (got {_show(got)})"
    if kind in ("string_type", "string_sub_type"):
        return f"must be a string (got {_show(got)})"
    if kind == "bool_type":
        return f"must be true or false (got {_show(got)})"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return f"must be a mapping (got {_show(got)})"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list (got {_show(got)})"
    if kind == "greater_than_equal":
        return f"must be ≥ {ctx['ge']} (got {_show(got)})"
    if kind == "less_than_equal":
        return f"must be ≤ {ctx['le']} (got {_show(got)})"
    if kind == "too_short" and isinstance(got, dict):
        return "must not be empty"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters (got {len(str(got))})"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']} (got {_show(got)})"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"]))
    return str(err["msg"])


def _pydantic_problems(doc: _Doc, exc: ValidationError) -> None:
    for err in exc.errors():
        loc: Path_ = tuple(err["loc"])
        is_key = "[key]" in loc
        loc = tuple(p for p in loc if p != "[key]")
        if err["type"] == "missing":
            doc.problem(doc.mark(loc[:-1]), loc[:-1], _message(err, loc))
        elif is_key:
            doc.problem(doc.mark(loc, key=True), loc, f"the name {_message(err, loc)}")
        elif err["type"] == "extra_forbidden":
            doc.problem(doc.mark(loc, key=True), loc, _message(err, loc))
        else:
            doc.problem(doc.mark(loc), loc, _message(err, loc))


def _schema_fields(schema: Any, path: tuple[str, ...]) -> str:
    """'required', 'optional' or 'absent' for a field path in a JSON Schema (over unions)."""
    if not path:
        return "required"
    if not isinstance(schema, Mapping):
        return "required" if schema is True else "absent"
    variants = [v for key in ("oneOf", "anyOf", "allOf") for v in schema.get(key, []) or []]
    props = schema.get("properties")
    if isinstance(props, Mapping) and path[0] in props:
        here = "required" if path[0] in (schema.get("required") or []) else "optional"
        deeper = _schema_fields(props[path[0]], path[1:])
        if deeper == "absent":
            return "absent"
        return "required" if here == deeper == "required" else "optional"
    if variants:
        states = [_schema_fields(v, path) for v in variants if isinstance(v, Mapping)]
        if "allOf" in schema and "required" in states:
            return "required"
        if states and all(s == "required" for s in states):
            return "required"
        if states and all(s == "absent" for s in states):
            return "absent"
        return "optional"
    if props is None and schema.get("additionalProperties", True) is not False:
        return "optional"  # an open object: the field may be there
    return "absent"


def _read_schema_file(
    doc: _Doc, base_dir: Path, ref: str, path: Path_, read: Callable[[Path], str]
) -> Any:
    file = base_dir / ref
    try:
        text = read(file)
    except FileNotFoundError:
        doc.problem(doc.mark(path), path, f"schema file {ref!r} not found (looked for {file})")
        return None
    except OSError as exc:
        doc.problem(doc.mark(path), path, f"cannot read schema file {ref!r}: {exc}")
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        doc.problems.append(
            Problem(
                str(Path(doc.file).parent / ref) if doc.file else ref,
                exc.lineno,
                exc.colno,
                _path_text(path),
                f"schema file {ref!r} is not valid JSON: {exc.msg}",
            )
        )
        return None


def _check_tasks(
    doc: _Doc, data: Any, base_dir: Path, read: Callable[[Path], str]
) -> dict[Path_, Any]:
    """Schema files and template fields; returns the schema read for each task path."""
    schemas: dict[Path_, Any] = {}
    workers = data.get("workers") if isinstance(data, dict) else None
    if not isinstance(workers, dict):
        return schemas
    for wname, worker in workers.items():
        tasks = worker.get("tasks") if isinstance(worker, dict) else None
        if not isinstance(tasks, dict):
            continue
        for ident, task in tasks.items():
            tpath: Path_ = ("workers", wname, "tasks", ident)
            if not isinstance(task, dict):
                continue
            ref = task.get("schema")
            schema: Any = None
            spath = (*tpath, "schema")
            if isinstance(ref, str) and ref.strip():
                schema = _read_schema_file(doc, base_dir, ref, spath, read)
            elif isinstance(ref, dict):
                schema = ref
            elif ref is None:
                doc.problem(
                    doc.mark(tpath, key=True),
                    tpath,
                    "no 'schema': payloads of this task are not validated",
                    "warning",
                )
            if schema is not None:
                issues = check_schema(schema)
                for issue in issues:
                    doc.problem(doc.mark(spath), spath, issue)
                if not issues:
                    schemas[tpath] = schema
            for key in ("queueName", "jobKey"):
                value = task.get(key)
                if not isinstance(value, str):
                    continue
                try:
                    tmpl = parse_template(value)
                except TemplateError:
                    continue  # reported by the model
                for fpath in tmpl.fields:
                    if tpath not in schemas:
                        continue
                    state = _schema_fields(schemas[tpath], fpath)
                    name = ".".join(fpath)
                    kpath = (*tpath, key)
                    if state == "absent":
                        doc.problem(
                            doc.mark(kpath),
                            kpath,
                            f"the template {value!r} uses the field {name!r}, "
                            "which the task's schema does not define",
                        )
                    elif state == "optional":
                        doc.problem(
                            doc.mark(kpath),
                            kpath,
                            f"the template {value!r} uses the field {name!r}, which is optional "
                            "in the task's schema; enqueue fails when a payload lacks it",
                            "warning",
                        )
    return schemas


def _check_handlers(doc: _Doc, catalog: Catalog) -> None:
    for wname, worker in catalog.workers.items():
        entries: list[tuple[Path_, str | None]] = [
            (("workers", wname, "tasks", i, "handler"), t.handler) for i, t in worker.tasks.items()
        ]
        entries += [
            (("workers", wname, "recurringTasks", i, "handler"), t.handler)
            for i, t in worker.recurring_tasks.items()
        ]
        for path, ref in entries:
            if ref is None:
                continue
            try:
                import_handler(ref)
            except ValueError as exc:
                doc.problem(doc.mark(path), path, str(exc))
            except Exception as exc:  # an import-time error of the user's module
                doc.problem(doc.mark(path), path, f"handler {ref!r}: importing it raised {exc!r}")


def parse_catalog(
    text: str,
    file: str = "catalog.yaml",
    *,
    base_dir: Path | str | None = None,
    check_handlers: bool = False,
    read: Callable[[Path], str] | None = None,
) -> CatalogReport:
    """Check catalog YAML text; every problem is reported with ``file:line:column``.

    Schema files are read (with ``read``, by default from disk) relative to ``base_dir``
    (default: the directory of ``file``).
    """
    doc = _Doc(file)
    reader = read or (lambda p: p.read_text(encoding="utf-8"))
    base = Path(base_dir) if base_dir is not None else Path(file).parent
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # refuses characters YAML does not allow, right away
        node = loader.get_single_node()
        if node is None:
            doc.problem(None, (), "the catalog is empty; it needs at least a 'workers' section")
            return CatalogReport(file, None, doc.problems)
        data = doc.to_data(loader, node, (), set())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        doc.problem(mark, (), f"YAML syntax error: {exc.problem or exc}")
        return CatalogReport(file, None, doc.problems)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (not "marked")
        line = text.count("\n", 0, exc.position)
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1)
        doc.problems.append(
            Problem(
                file,
                line + 1,
                column + 1,
                "",
                f"YAML syntax error: character {exc.character:#06x} is not allowed in YAML",
            )
        )
        return CatalogReport(file, None, doc.problems)
    except RecursionError:
        doc.problem(None, (), "the YAML is nested too deeply to be a catalog")
        return CatalogReport(file, None, doc.problems)
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(data, dict):
        doc.problem(doc.mark(()), (), f"the catalog must be a mapping (got {_show(data)})")
        return CatalogReport(file, None, doc.problems)

    catalog: Catalog | None = None
    try:
        catalog = Catalog.model_validate(data, context={"located": True})
    except ValidationError as exc:
        _pydantic_problems(doc, exc)
    schemas = _check_tasks(doc, data, base, reader)
    if isinstance(data.get("workers"), Mapping):
        for path, message in _duplicate_identifiers(data["workers"]):
            doc.problem(doc.mark(path, key=True), path, message)
    if catalog is not None:
        for (_, wname, _, ident), schema in schemas.items():
            catalog.workers[wname].tasks[ident].attach_schema(schema)
        if check_handlers:
            _check_handlers(doc, catalog)
    doc.problems.sort(key=lambda p: (p.file != file, p.file, p.line, p.column))
    report = CatalogReport(file, catalog, doc.problems)
    if not report.ok:
        report.catalog = None
    return report


def inspect_catalog(path: str | PathLike[str], *, check_handlers: bool = False) -> CatalogReport:
    """Read and check the catalog file at ``path``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return CatalogReport(
            str(path), None, [Problem(str(path), 1, 1, "", f"cannot read the catalog: {reason}")]
        )
    except UnicodeDecodeError as exc:
        head = exc.object[: exc.start]
        line = head.count(b"\n") + 1
        column = exc.start - (head.rfind(b"\n") + 1) + 1
        return CatalogReport(
            str(path),
            None,
            [
                Problem(
                    str(path),
                    line,
                    column,
                    "",
                    f"the catalog is not UTF-8 text (byte {exc.object[exc.start]:#04x}); "
                    "save it as UTF-8",
                )
            ],
        )
    return parse_catalog(text, str(path), base_dir=p.parent, check_handlers=check_handlers)


def load_catalog(path: str | PathLike[str]) -> Catalog:
    """Load the catalog at ``path``; raise :class:`CatalogError` listing every problem."""
    report = inspect_catalog(path)
    if report.catalog is None:
        raise CatalogError(report.problems)
    return report.catalog


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
    }


def resolve_catalog(catalog: Catalog | str | PathLike[str] | None) -> Catalog | None:
    """A client's ``catalog=`` argument: a loaded catalog, the path of one, or None."""
    if catalog is None or isinstance(catalog, Catalog):
        return catalog
    if isinstance(catalog, str | PathLike):
        return load_catalog(catalog)
    raise TypeError(f"catalog must be a Catalog or a path (got {type(catalog).__name__})")


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
