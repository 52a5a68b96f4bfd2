"""A ZodWorker catalog read from TypeScript, as ``catalog.yaml`` data (pure).

``trigger_compat/tsconvert/extract.mjs`` reads a ``worker.server.ts`` with the TypeScript
compiler API and prints what each ``new ZodWorker({...})`` declares (see
:func:`catalog_from_extract` for the shape). This module turns that into the dict of a
catalog file, plus the list of everything that could not be translated: a setting that is not
a literal (``env.WORKER_CONCURRENCY``), a ``queueName``/``jobKey`` function that is more than a
template over payload fields, a rate limiter, a reporter, a payload schema that could not be
evaluated (left open, ``{}``), the TypeScript handlers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Conversion", "catalog_from_extract"]

# ZodWorker task settings with a catalog field of the same name.
_TASK_VALUES = ("priority", "maxAttempts", "jobKeyMode", "flags")
_TEMPLATED = ("queueName", "jobKey")
_RECURRING_OPTIONS = (
    "backfillPeriod",
    "maxAttempts",
    "queueName",
    "priority",
    "jobKey",
    "jobKeyMode",
)
_RUNNER = {"concurrency": "concurrency", "pollInterval": "pollInterval"}
# runnerOptions that trigger-compat takes elsewhere (or does not need): noted, not translated.
_RUNNER_ELSEWHERE = {
    "connectionString": "pass --database-url / DATABASE_URL",
    "maxPoolSize": "Client(pool_size=) / AsyncClient(pool_size=)",
    "noPreparedStatements": "see the guide's PgBouncer notes",
}
_OTHER_NOTES = {
    "rateLimiter": "use ZodWorker(forbidden_flags=...) and raise JobSnooze(seconds) in handlers",
    "reporter": "pass ZodWorker(reporter=fn)",
    "logger": "logging goes through the `logging` module",
    "verboseLogging": "DEBUG level of the `trigger_compat.*` loggers",
    "replica": "not needed",
}
_SILENT = {"prisma"}  # the client trigger-compat does not need


@dataclass
class Conversion:
    """The catalog (``catalog.yaml`` data), the payload schema of each task, and notes."""

    catalog: dict[str, Any]
    schemas: dict[str, dict[str, Any]]
    untranslated: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    open_schemas: dict[str, list[str]] = field(
        default_factory=lambda: defaultdict(list), repr=False
    )  # reason -> identifiers whose payload schema is left open


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _show(setting: dict[str, Any]) -> str:
    for key in ("expression", "function"):
        if key in setting:
            text = " ".join(str(setting[key]).split())
            return f"`{text[:160]}{'…' if len(text) > 160 else ''}`"
    return repr(setting.get("value"))


def _literal(
    setting: dict[str, Any], where: str, conv: Conversion, what: str = ""
) -> tuple[bool, Any]:
    if "value" in setting:
        if setting.get("env"):
            conv.warnings.append(
                f"{where}: `{setting['env']}` = {setting['value']!r}, from the env file's "
                "default (a deployment may set another value)"
            )
        return True, setting["value"]
    conv.untranslated.append(f"{where}: {_show(setting)} is not a literal{what}")
    return False, None


def _template(setting: dict[str, Any], where: str, conv: Conversion) -> str | None:
    if "value" in setting:
        value = setting["value"]
        if isinstance(value, str):
            return _escape(value) if value else None
        conv.untranslated.append(f"{where}: {_show(setting)} is not a string")
        return None
    if "function" in setting:
        if setting.get("template"):
            return str(setting["template"])
        conv.untranslated.append(
            f"{where}: the function {_show(setting)} is not a template over payload fields "
            "(`(p) => `x:${p.id}``); compute the value at the call site and pass it per call"
        )
        return None
    conv.untranslated.append(f"{where}: {_show(setting)} is not a literal")
    return None


def _options(
    settings: dict[str, Any], names: tuple[str, ...], where: str, conv: Conversion
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, setting in settings.items():
        here = f"{where}.{name}"
        if name in _TEMPLATED:
            value = _template(setting, here, conv)
            if value is not None:
                out[name] = value
        elif name in names:
            ok, value = _literal(setting, here, conv)
            if ok and value is not None:
                out[name] = value
        else:
            conv.untranslated.append(f"{here}: {_show(setting)} has no catalog equivalent")
    return out


def _worker(worker: dict[str, Any], conv: Conversion, schemas_of: dict[str, Any]) -> dict[str, Any]:
    name = str(worker["name"])
    where = f"workers.{name}"
    out: dict[str, Any] = {}

    runner = worker.get("runnerOptions") or {}
    if "expression" in runner and len(runner) == 1:
        conv.untranslated.append(f"{where}.runnerOptions: {_show(runner)} is not an object literal")
        runner = {}
    for key, setting in runner.items():
        here = f"{where}.runnerOptions.{key}"
        if key in _RUNNER:
            ok, value = _literal(setting, here, conv, "; the catalog default applies")
            if ok:
                out[_RUNNER[key]] = value
        elif key == "schema":
            conv.warnings.append(
                f"{here}: {_show(setting)} is graphile-worker's schema; trigger-compat keeps its "
                "own tables in `databaseSchema` (default trigger_compat), so both can run side "
                "by side during the move"
            )
        elif key in _RUNNER_ELSEWHERE:
            conv.warnings.append(f"{here}: not in the catalog ({_RUNNER_ELSEWHERE[key]})")
        else:
            conv.untranslated.append(f"{here}: {_show(setting)} has no catalog equivalent")

    for key, setting in (worker.get("settings") or {}).items():
        ok, value = _literal(setting, f"{where}.{key}", conv, "; the catalog default applies")
        if ok:
            out[key] = value

    for key, setting in (worker.get("other") or {}).items():
        if key in _SILENT:
            continue
        note = _OTHER_NOTES.get(key, "no catalog equivalent")
        conv.untranslated.append(f"{where}.{key}: {_show(setting)} ({note})")

    catalog_entries: dict[str, Any] = dict((worker.get("schema") or {}).get("entries") or {})
    if worker.get("schema") and worker["schema"].get("expression"):
        conv.untranslated.append(
            f"{where}.schema: {_show(worker['schema'])} is not an object literal; "
            "payload schemas left open"
        )

    handlers = 0
    tasks: dict[str, Any] = {}
    for identifier, task in (worker.get("tasks") or {}).items():
        here = f"{where}.tasks.{identifier}"
        entry = _options(task.get("settings") or {}, _TASK_VALUES, here, conv)
        if task.get("handler"):
            handlers += 1
        schema = catalog_entries.pop(identifier, None)
        if schema is None:
            conv.warnings.append(f"{here}: no entry in the worker's zod catalog; schema left open")
            schemas_of[identifier] = {}
        elif "jsonSchema" in schema:
            schemas_of[identifier] = dict(schema["jsonSchema"])
        else:
            schemas_of[identifier] = {}
            conv.open_schemas[str(schema.get("error"))].append(identifier)
        entry["schema"] = identifier  # replaced by the caller with a file or the inline schema
        tasks[identifier] = entry
    for identifier in catalog_entries:
        conv.warnings.append(
            f"{where}.schema.{identifier}: in the zod catalog but not in tasks (ZodWorker could "
            "not enqueue it); left out"
        )
    if tasks:
        out["tasks"] = tasks

    recurring: dict[str, Any] = {}
    for identifier, task in (worker.get("recurringTasks") or {}).items():
        here = f"{where}.recurringTasks.{identifier}"
        settings = dict(task.get("settings") or {})
        if task.get("handler"):
            handlers += 1
        match = settings.pop("match", None) or settings.pop("pattern", None)
        settings.pop("pattern", None)
        if match is None:
            conv.untranslated.append(f"{here}: no match/pattern; left out")
            continue
        ok, value = _literal(match, f"{here}.match", conv, "; left out")
        if not ok:
            continue
        entry = {"match": value}
        for key, setting in settings.items():
            conv.untranslated.append(f"{here}.{key}: {_show(setting)} has no catalog equivalent")
        options = task.get("options")
        if options:
            if "expression" in options and len(options) == 1:
                conv.untranslated.append(f"{here}.options: {_show(options)} is not an object")
            else:
                opts = _options(options, _RECURRING_OPTIONS, f"{here}.options", conv)
                if opts:
                    entry["options"] = opts
        recurring[identifier] = entry
    if recurring:
        out["recurringTasks"] = recurring

    cleanup = worker.get("cleanup")
    if cleanup:
        if "expression" in cleanup and len(cleanup) == 1:
            conv.untranslated.append(f"{where}.cleanup: {_show(cleanup)} is not an object literal")
        else:
            cl: dict[str, Any] = {}
            for key in ("frequencyExpression", "ttl", "maxCount"):
                if key in cleanup:
                    ok, value = _literal(cleanup[key], f"{where}.cleanup.{key}", conv)
                    if ok:
                        cl[key] = value
            task_options = cleanup.get("taskOptions")
            if task_options and "object" in task_options:
                opts = _options(
                    task_options["object"], _RECURRING_OPTIONS, f"{where}.cleanup.taskOptions", conv
                )
                if opts:
                    cl["taskOptions"] = opts
            elif task_options:
                conv.untranslated.append(f"{where}.cleanup.taskOptions: {_show(task_options)}")
            for key, setting in cleanup.items():
                if key not in ("frequencyExpression", "ttl", "maxCount", "taskOptions"):
                    conv.untranslated.append(f"{where}.cleanup.{key}: {_show(setting)}")
            if {"frequencyExpression", "ttl", "maxCount"} <= cl.keys():
                out["cleanup"] = cl
            else:
                conv.untranslated.append(f"{where}.cleanup: incomplete; left out")
    if handlers:
        conv.warnings.append(
            f"{where}: {handlers} TypeScript handler(s) not translated; register Python "
            "handlers (handlers=, @worker.task or handler: 'module:function')"
        )
    return out


def catalog_from_extract(data: dict[str, Any]) -> Conversion:
    """Turn extract.mjs's JSON into catalog data.

    ``data["workers"]`` is a list of ``{name, settings, runnerOptions, other, schema: {entries:
    {identifier: {text, jsonSchema | error}}}, tasks: {identifier: {settings, handler}},
    recurringTasks: {identifier: {settings, options, handler}}, cleanup}``, where each setting
    is ``{"value": literal}``, ``{"expression": source}`` or ``{"function": source,
    "template": "x:{id}" | null}``. ``data["problems"]`` lists what the reader itself skipped.
    """
    conv = Conversion(catalog={}, schemas={})
    workers: dict[str, Any] = {}
    for worker in data.get("workers") or []:
        name = str(worker["name"])
        if name in workers:
            conv.untranslated.append(f"workers.{name}: a second ZodWorker of that name; left out")
            continue
        workers[name] = _worker(worker, conv, conv.schemas)
    for problem in data.get("problems") or []:
        conv.untranslated.append(
            f"{problem.get('where')} (line {problem.get('line')}): {problem.get('reason')}: "
            f"`{' '.join(str(problem.get('text', '')).split())[:160]}`"
        )
    for reason, identifiers in conv.open_schemas.items():
        shown = ", ".join(identifiers[:8]) + (
            f" and {len(identifiers) - 8} more" if len(identifiers) > 8 else ""
        )
        conv.warnings.append(
            f"payload schema left open ({{}}) for {len(identifiers)} task(s) ({shown}): {reason}"
        )
    catalog: dict[str, Any] = {}
    catalog["workers"] = workers
    conv.catalog = catalog
    return conv
