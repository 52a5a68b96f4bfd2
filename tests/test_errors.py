"""One error family: every exception the package raises on purpose derives from
TriggerCompatError, and every class of the family is exported from the package."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from types import ModuleType

import pytest

import trigger_compat
from trigger_compat import errors
from trigger_compat.errors import TriggerCompatError

# Python's own exceptions for a mistake in the calling program, as the standard library raises
# them: an argument of the wrong type; a missing attribute of a lazily loading module.
PROGRAMMING_ERRORS = {"builtins.TypeError", "builtins.AttributeError"}

# The commands report usage and their own failures with click's exceptions (message, exit code).
CLI = "trigger_compat.cli."

# The raise sites outside the family, each with why: (module, function) -> exception classes.
OUTSIDE_THE_FAMILY: dict[tuple[str, str], set[str]] = {
    # pydantic validators: pydantic turns these into its ValidationError, which the catalog
    # loader reports as a CatalogError problem and the options parser as an InvalidJobError.
    **{
        ("trigger_compat.core.catalog", f): {"builtins.ValueError"}
        for f in (
            "_template",
            "_cron",
            "_handler_ref",
            "RetrySettings._bounds",
            "TaskSettings._schema",
            "Catalog._disjoint",
            "TaskSettings._unique_without_key",
        )
    },
    **{
        ("trigger_compat.core.unique", f): {"builtins.ValueError"}
        for f in ("parse_duration", "UniqueOpts._args", "UniqueOpts._states", "parse_unique")
    },
    ("trigger_compat.core.options", "JobOptions._flags"): {"builtins.ValueError"},
    # A mistake in the calling program: a naive datetime where cron needs UTC, a negative
    # snooze, a test clock moved backwards.
    ("trigger_compat.core.cron", "CronSchedule.matches"): {"builtins.ValueError"},
    ("trigger_compat.core.schedule", "floor_minute"): {"builtins.ValueError"},
    ("trigger_compat.core.outcomes", "JobSnooze.__init__"): {"builtins.ValueError"},
    ("trigger_compat.testing.clock", "FakeClock.__init__"): {"builtins.ValueError"},
    ("trigger_compat.testing.clock", "FakeClock.advance"): {"builtins.ValueError"},
    ("trigger_compat.testing.clock", "FakeClock.set"): {"builtins.ValueError"},
    # The test helpers' assertions fail a test as pytest expects.
    ("trigger_compat.testing.plugin", "TestQueue.assert_enqueued"): {"builtins.AssertionError"},
    ("trigger_compat.testing.plugin", "TestQueue.assert_not_enqueued"): {"builtins.AssertionError"},
    ("trigger_compat.testing.plugin", "TestQueue.adrain"): {"builtins.AssertionError"},
    ("trigger_compat.testing.plugin", "TestQueue._cron_items"): {"builtins.ValueError"},
    # Never reach a caller: recorded as the job's error, or caught to reconnect.
    ("trigger_compat.runtime.worker", "Worker._run_job"): {
        "builtins.LookupError",
        "trigger_compat.runtime.worker._PayloadError",
    },
    ("trigger_compat.runtime.worker", "Worker._relay_notifications"): {"psycopg.OperationalError"},
    ("trigger_compat.runtime.zodworker", "_cron_payload"): {"builtins.ValueError"},
    ("trigger_compat.demo.runner", "_handlers.flaky"): {"builtins.RuntimeError"},
    # Broken invariants of the package itself (a bug of ours, not a caller's mistake).
    ("trigger_compat.core.ops", "_added.parse"): {"builtins.RuntimeError"},
    ("trigger_compat.core.ops", "_unique_jobs.parse"): {"builtins.RuntimeError"},
    # A limit too small to hold the marker of a cut: a mistake in the calling program.
    ("trigger_compat.core.tracebacks", "bound_text"): {"builtins.ValueError"},
    ("trigger_compat.core.cron_ops", "schedule_cron_jobs"): {"builtins.ValueError"},
    ("trigger_compat.core.sqlfiles", "dependency_order.place"): {"builtins.ValueError"},
}


def _modules() -> Iterator[ModuleType]:
    yield trigger_compat
    for info in pkgutil.walk_packages(trigger_compat.__path__, "trigger_compat."):
        yield importlib.import_module(info.name)


def _raised(module: ModuleType) -> Iterator[tuple[str, int, type[BaseException] | None]]:
    """(enclosing function, line, class raised) of every ``raise X(...)`` / ``raise X`` in
    ``module`` where X names a class; None where X is not a class (a re-raise of a value)."""
    tree = ast.parse(inspect.getsource(module))

    def visit(node: ast.AST, scope: str) -> Iterator[tuple[str, int, type[BaseException] | None]]:
        for child in ast.iter_child_nodes(node):
            inner = scope
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                inner = f"{scope}.{child.name}" if scope else child.name
            if isinstance(child, ast.Raise) and child.exc is not None:
                target = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                found: object = None
                if isinstance(target, ast.Name):
                    found = getattr(module, target.id, getattr(builtins, target.id, None))
                elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                    found = getattr(getattr(module, target.value.id, None), target.attr, None)
                cls = (
                    found if isinstance(found, type) and issubclass(found, BaseException) else None
                )
                yield inner, child.lineno, cls
            yield from visit(child, inner)

    yield from visit(tree, "")


def _name(cls: type[BaseException]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def test_every_raise_site_raises_a_trigger_compat_error() -> None:
    outside: list[str] = []
    for module in _modules():
        for scope, line, cls in _raised(module):
            if cls is None or issubclass(cls, TriggerCompatError):
                continue
            name = _name(cls)
            if name in PROGRAMMING_ERRORS:
                continue
            if module.__name__.startswith(CLI) and name.startswith("click."):
                continue
            if name not in OUTSIDE_THE_FAMILY.get((module.__name__, scope), set()):
                outside.append(f"{module.__name__}:{line} ({scope}) raises {name}")
    assert outside == [], "raise a TriggerCompatError subclass (trigger_compat.errors)"


def _family() -> list[type[BaseException]]:
    return [
        value
        for value in vars(errors).values()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    ]


def test_every_error_class_is_in_the_family_and_exported() -> None:
    family = _family()
    assert len(family) >= 15
    for cls in family:
        assert issubclass(cls, TriggerCompatError), cls
        assert getattr(trigger_compat, cls.__name__) is cls, cls
        assert cls.__name__ in trigger_compat.__all__, cls


@pytest.mark.parametrize("name", sorted(trigger_compat.__all__))
def test_every_exported_exception_is_in_the_family(name: str) -> None:
    value = getattr(trigger_compat, name)
    if isinstance(value, type) and issubclass(value, BaseException):
        assert issubclass(value, TriggerCompatError)


def test_the_kinds_a_caller_catches() -> None:
    """Each kind has its own class; the ones that were ValueErrors still are."""
    from trigger_compat.core.cron import parse_cron
    from trigger_compat.core.sqlfiles import check_schema_name, grant_sql
    from trigger_compat.core.templates import parse_template

    with pytest.raises(trigger_compat.CronError) as cron:
        parse_cron("61 * * * *")
    assert isinstance(cron.value, ValueError)
    with pytest.raises(trigger_compat.TemplateError) as template:
        parse_template("sources:{id")
    assert isinstance(template.value, ValueError)
    with pytest.raises(trigger_compat.ConfigurationError, match=r"^schema: ") as schema:
        check_schema_name("x" * 64)
    assert schema.value.field == "schema"
    assert not isinstance(schema.value, trigger_compat.InvalidJobError)
    with pytest.raises(trigger_compat.ConfigurationError, match=r"^role: "):
        grant_sql("app", "producer", "")
    assert issubclass(trigger_compat.WorkerConfigError, trigger_compat.ConfigurationError)
    assert issubclass(trigger_compat.InvalidArgumentError, trigger_compat.InvalidJobError)
