"""Mutated catalogs: parse_catalog returns located problems, load_catalog raises CatalogError
and ``trigger-compat catalog validate`` exits 1 listing them — never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from trigger_compat.cli import main
from trigger_compat.core.catalog import Catalog, load_catalog, parse_catalog
from trigger_compat.errors import CatalogError, Problem

BASE = """\
databaseSchema: app_jobs
queues:
  serial: 1
  wide: 4
workers:
  main:
    concurrency: 5
    pollInterval: 1000
    onFinalFailure: keep
    tasks:
      sendEmail:
        maxAttempts: 3
        priority: 5
        jobKeyMode: replace
        flags: [rl:email]
        timeoutInMs: 30000
        retry:
          minTimeout: 1000
          factor: 2
        schema:
          type: object
          properties:
            to: {type: string}
          required: [to]
      deliverEvent:
        queueName: "events:{id}"
        jobKey: "event:{id}"
    recurringTasks:
      nightly:
        match: "0 3 * * *"
        options:
          backfillPeriod: 0
    cleanup:
      frequencyExpression: "*/10 * * * *"
      ttl: 86400000
      maxCount: 1000
"""
LINES = BASE.splitlines()

hostile_scalars = st.sampled_from(
    [
        "",
        "~",
        "null",
        "true",
        "-1",
        "0",
        "1e309",
        "-1e309",
        ".nan",
        ".inf",
        "10" * 200,
        "99999999999999999999999999999",
        "0x7fffffff",
        "1_000",
        "[]",
        "{}",
        "[1, [2, [3]]]",
        '"\\u0000"',
        '"\\ud800"',
        "'\U0001f600'",
        "\u202e\u200b",
        "!!binary aGVsbG8=",
        "!!python/object:os.system",
        "&a [*a]",
        "*undefined",
        "{a: 1, a: 2}",
        "? [1]\n: 2",
        '"{id"',
        '"{}"',
        '"a:{"',
        '"* * * *"',
        '"61 * * * *"',
        '"@reboot"',
        '"0 0 31 2 *"',
        '"*/0 * * * *"',
        '"1-99999 * * * *"',
        '"* * * * * * *"',
        "|\n  multi\n  line",
        "2024-01-01",
        "2024-13-45",
        '"%s"',
        '"{schema}"',
        "'; drop table jobs; --'",
    ]
)
keys = st.sampled_from(
    [
        "unknownKey",
        "tasks",
        "workers",
        "queueName",
        "jobKey",
        "maxAttempts",
        "match",
        "schema",
        "retry",
        "cleanup",
        "\u00e9t\u00e9",
        "a b",
        "'quoted'",
        "[list]",
        "? x",
        "<<",
        "1",
        "null",
        "",
    ]
)
junk = st.text(st.characters(codec=None, categories=None), max_size=12)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        indent = len(line) - len(line.lstrip(" "))
        kind = draw(
            st.sampled_from(
                ["value", "key", "unknown", "indent", "delete", "dup", "junk", "cron", "tab"]
            )
        )
        if kind == "value" and ":" in line:
            head = line.split(":", 1)[0]
            lines[i] = f"{head}: {draw(hostile_scalars)}"
        elif kind == "key" and ":" in line:
            lines[i] = " " * indent + draw(keys) + ":" + line.split(":", 1)[1]
        elif kind == "unknown":
            lines.insert(i, " " * indent + f"{draw(keys)}: {draw(hostile_scalars)}")
        elif kind == "indent":
            lines[i] = " " * draw(st.integers(0, 9)) + line.lstrip(" ")
        elif kind == "delete":
            del lines[i]
        elif kind == "dup":
            lines.insert(i, line)
        elif kind == "junk":
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(junk) + line[at:]
        elif kind == "cron":
            lines[i] = " " * indent + f"match: {draw(junk)!r}"
        elif kind == "tab":
            lines[i] = "\t" + line
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


def check_report(text: str) -> None:
    report = parse_catalog(text, "catalog.yaml", read=lambda p: "{}")
    if report.catalog is None:
        assert report.errors, "a refused catalog lists at least one error"
    else:
        assert isinstance(report.catalog, Catalog)
    for problem in report.problems:
        assert isinstance(problem, Problem)
        assert problem.line >= 0 and problem.column >= 0
        assert str(problem)


@settings(settings.get_profile("fuzz"), max_examples=200)
@given(text=mutated())
def test_parse_catalog_reports_problems(text: str) -> None:
    check_report(text)


@settings(settings.get_profile("fuzz"), max_examples=150)
@given(text=st.text(st.characters(codec=None, categories=None), max_size=200))
def test_parse_catalog_on_arbitrary_text(text: str) -> None:
    check_report(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 5000,
        "a: " + "[" * 50 + "]" * 50,
        "workers:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 400)),
        "a: &a [" + ", ".join(["*a"] * 3) + "]",
        "a: &x [1]\nb: &y [*x, *x, *x, *x]\nc: [*y, *y, *y, *y, *y]\n" * 3,
        "\x00",
        "\x85\x7f",
        "\ufeffworkers: {}",
        "workers: {main: {tasks: {t: {maxAttempts: " + "9" * 5000 + "}}}}",
        "workers: {main: {tasks: {t: {priority: 1e999}}}}",
        "workers: !!set {a, b}",
        "--- a\n--- b\n",
        "%YAML 9.9\n---\na: 1",
        "!!python/name:os.system",
    ],
)
def test_parse_catalog_on_named_inputs(text: str) -> None:
    check_report(text)


@settings(settings.get_profile("fuzz"), max_examples=25)
@given(text=mutated(), raw=st.binary(max_size=8))
def test_load_catalog_and_cli_validate(
    tmp_path_factory: pytest.TempPathFactory, text: str, raw: bytes
) -> None:
    """Through a file: the text as UTF-8 (lone surrogates written as their bytes), plus raw
    bytes that may not be UTF-8 at all."""
    path = tmp_path_factory.mktemp("cat") / "catalog.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass") + raw)
    try:
        load_catalog(path)
    except CatalogError as exc:
        assert exc.problems
    result = CliRunner().invoke(main, ["catalog", "validate", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    json_result = CliRunner().invoke(main, ["catalog", "validate", "--format", "json", str(path)])
    assert json_result.exit_code == result.exit_code
    assert json.loads(json_result.stdout)["valid"] == (result.exit_code == 0)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    for target in (tmp_path / "absent.yaml", tmp_path):
        with pytest.raises(CatalogError):
            load_catalog(target)
        result = CliRunner().invoke(main, ["catalog", "validate", str(target)])
        assert isinstance(result.exception, SystemExit | None)
        assert result.exit_code != 0
