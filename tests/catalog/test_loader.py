"""Every validation rule of the catalog loader: a broken fixture, its message and its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from trigger_compat.core.catalog_loader import inspect_catalog, load_catalog, parse_catalog
from trigger_compat.errors import CatalogError

FIXTURES = Path(__file__).parent / "fixtures"

# (fixture, line, column, key path, message fragment)
RULES = [
    ("yaml_syntax.yaml", 5, 12, "", "YAML syntax error: expected ',' or '}'"),
    (
        "unknown_key.yaml",
        6,
        9,
        "workers.main.tasks.hello.maxAtempts",
        "unknown key 'maxAtempts'; did you mean 'maxAttempts'?",
    ),
    ("missing_key.yaml", 5, 9, "workers.main.recurringTasks.tick", "'match' is required"),
    ("missing_workers.yaml", 1, 1, "", "'workers' is required"),
    (
        "wrong_type.yaml",
        6,
        19,
        "workers.main.tasks.hello.priority",
        "must be an integer (got 'high')",
    ),
    ("range.yaml", 7, 22, "workers.main.tasks.hello.maxAttempts", "must be ≥ 1 (got 0)"),
    (
        "bad_job_key_mode.yaml",
        6,
        21,
        "workers.main.tasks.hello.jobKeyMode",
        "must be one of 'replace', 'preserve_run_at' or 'unsafe_dedupe' (got 'upsert')",
    ),
    (
        "bad_cron.yaml",
        5,
        16,
        "workers.main.recurringTasks.tick.match",
        "weekday names are not supported ('MON')",
    ),
    (
        "bad_cleanup_cron.yaml",
        4,
        28,
        "workers.main.cleanup.frequencyExpression",
        "a step on a range or value ('a-b/n') is not supported",
    ),
    (
        "template_missing_field.yaml",
        6,
        17,
        "workers.main.tasks.hello.jobKey",
        "uses the field 'userId', which the task's schema does not define",
    ),
    (
        "template_syntax.yaml",
        6,
        20,
        "workers.main.tasks.hello.queueName",
        "unclosed '{' in 'sources:{id'",
    ),
    (
        "schema_missing.yaml",
        5,
        17,
        "workers.main.tasks.hello.schema",
        "schema file 'schemas/nope.json' not found",
    ),
    (
        "schema_invalid.yaml",
        5,
        17,
        "workers.main.tasks.hello.schema",
        "not a valid JSON Schema at $.type",
    ),
    (
        "duplicate_identifier.yaml",
        10,
        7,
        "workers.second.tasks.hello",
        "identifier 'hello' is also defined at workers.first.tasks.hello",
    ),
    (
        "duplicate_key.yaml",
        6,
        7,
        "workers.main.tasks.hello",
        "duplicate key 'hello' (first defined at line 4)",
    ),
    ("queue_concurrency.yaml", 3, 9, "queues.pool", "must be ≥ 1 (got 0)"),
    (
        "bad_handler.yaml",
        6,
        18,
        "workers.main.tasks.hello.handler",
        "must be 'module:function'",
    ),
]


@pytest.mark.parametrize(
    ("fixture", "line", "column", "path", "message"), RULES, ids=[r[0] for r in RULES]
)
def test_rule(fixture: str, line: int, column: int, path: str, message: str) -> None:
    report = inspect_catalog(FIXTURES / fixture)
    assert not report.ok and report.catalog is None
    [problem] = report.errors
    assert message in problem.message
    assert (problem.line, problem.column, problem.path) == (line, column, path)
    assert problem.file == str(FIXTURES / fixture)
    assert str(problem).startswith(f"{FIXTURES / fixture}:{line}:{column} {path}".rstrip())


def test_schema_file_with_bad_json_points_into_the_schema_file() -> None:
    report = inspect_catalog(FIXTURES / "schema_bad_json.yaml")
    [problem] = report.errors
    assert problem.file == str(FIXTURES / "schemas" / "broken.json")
    assert (problem.line, problem.column) == (3, 43)
    assert problem.path == "workers.main.tasks.hello.schema"
    assert "is not valid JSON" in problem.message


def test_optional_template_field_is_a_warning() -> None:
    report = inspect_catalog(FIXTURES / "template_optional_field.yaml")
    assert report.ok and report.catalog is not None
    [warning] = report.warnings
    assert warning.severity == "warning" and warning.line == 6
    assert "uses the field 'note', which is optional" in warning.message
    assert "warning: " in str(warning)


def test_every_problem_is_reported() -> None:
    report = inspect_catalog(FIXTURES / "many_problems.yaml")
    got = [(p.line, p.path) for p in report.errors]
    assert got == [
        (2, "queues.pool"),
        (5, "workers.main.concurrency"),
        (9, "workers.main.tasks.hello.maxAttempts"),
        (10, "workers.main.tasks.hello.prority"),
        (13, "workers.main.recurringTasks.tick.match"),
    ]


def test_handlers_are_resolved_on_request() -> None:
    assert inspect_catalog(FIXTURES / "unresolved_handler.yaml").ok
    report = inspect_catalog(FIXTURES / "unresolved_handler.yaml", check_handlers=True)
    [problem] = report.errors
    assert (problem.line, problem.path) == (6, "workers.main.tasks.hello.handler")
    assert "has no attribute 'no_such_function'" in problem.message


def test_load_catalog_raises_with_every_problem() -> None:
    with pytest.raises(CatalogError) as info:
        load_catalog(FIXTURES / "many_problems.yaml")
    assert len(info.value.problems) == 5
    assert "many_problems.yaml:9:22 workers.main.tasks.hello.maxAttempts" in str(info.value)


def test_valid_fixture_loads_with_schema_attached() -> None:
    catalog = load_catalog(FIXTURES / "valid.yaml")
    task = catalog.task("hello")
    assert task.resolved_schema["required"] == ["id"]
    assert task.payload_validator() is task.payload_validator()  # compiled once
    assert catalog.queues == {"serial": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the catalog is empty"),
        ("- a\n- b\n", "must be a mapping"),
        ("workers: {}\n", "workers: must not be empty"),
        ("workers:\n  w:\n    tasks:\n      ? [a]\n      : {}\n", "a key must be a plain string"),
        ("base: &b {concurrency: 1}\nworkers:\n  w:\n    <<: *b\n", "merge keys"),
        ("workers:\n  w:\n    onFinalFailure: drop\n", "must be one of 'keep' or 'delete'"),
        (
            "workers:\n  w:\n    tasks:\n      t:\n"
            "        retry: {minTimeoutInMs: 10, maxTimeoutInMs: 5}\n",
            "maxTimeoutInMs (5) must be ≥ minTimeoutInMs (10)",
        ),
        ("workers:\n  w:\n    tasks:\n      t:\n        flags: [a, '']\n", "must not be empty"),
        ("workers:\n  w:\n    tasks:\n      t:\n        schema: 5\n", "path of a JSON Schema"),
        ("workers:\n  w:\n    bogus: 1\n", "unknown key 'bogus'"),
    ],
)
def test_other_problems(text: str, message: str) -> None:
    report = parse_catalog(text, "c.yaml", base_dir=FIXTURES)
    assert not report.ok
    assert any(message in str(p) for p in report.errors), [str(p) for p in report.problems]


def test_shipped_catalog_is_valid() -> None:
    report = inspect_catalog(Path(__file__).parents[2] / "catalog.yaml")
    assert report.problems == []
    assert report.catalog is not None
