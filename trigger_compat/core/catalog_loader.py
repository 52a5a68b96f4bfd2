"""Reading a catalog file: YAML with the position of every key and value, the JSON Schema
files its tasks name, and diagnostics.

The YAML is read through PyYAML's node tree so that every problem carries ``file:line:column``
and the key path, and **every** problem found is reported, not only the first::

    catalog.yaml:42:5 workers.workerQueue.tasks.startRun.maxAttempts: must be ≥ 1 (got 0)
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import CatalogError, Problem, TemplateError
from .catalog import (
    Catalog,
    duplicate_identifiers,
    import_handler,
    mismatched_rescue_after,
    path_text,
)
from .payloads import check_schema
from .templates import parse_template

__all__ = ["CatalogReport", "inspect_catalog", "load_catalog", "parse_catalog", "resolve_catalog"]

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
        self.problems.append(Problem(self.file, line, column, path_text(path), message, sev))

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
                path_text(path),
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
        for path, message in duplicate_identifiers(data["workers"]) + mismatched_rescue_after(
            data["workers"]
        ):
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


def resolve_catalog(catalog: Catalog | str | PathLike[str] | None) -> Catalog | None:
    """A client's ``catalog=`` argument: a loaded catalog, the path of one, or None."""
    if catalog is None or isinstance(catalog, Catalog):
        return catalog
    if isinstance(catalog, str | PathLike):
        return load_catalog(catalog)
    raise TypeError(f"catalog must be a Catalog or a path (got {type(catalog).__name__})")
