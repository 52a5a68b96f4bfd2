"""``trigger-compat catalog validate | show | json-schema``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from trigger_compat.cli import main
from trigger_compat.core.catalog import catalog_json_schema

from .conftest import ROOT

FIXTURES = Path(__file__).parent / "fixtures"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_validate_shipped_catalog() -> None:
    code, out = run("catalog", "validate", str(ROOT / "catalog.yaml"))
    assert code == 0, out
    assert out.strip().splitlines() == [
        f"{ROOT / 'catalog.yaml'}: OK — 3 worker(s), 46 task(s), 5 recurring task(s), 0 queue(s)"
    ]


def test_validate_defaults_to_catalog_yaml_in_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out = run("catalog", "validate")
    assert code == 0 and out.startswith("catalog.yaml: OK")


def test_validate_lists_every_problem() -> None:
    file = FIXTURES / "many_problems.yaml"
    code, out = run("catalog", "validate", str(file))
    assert code == 1
    lines = out.strip().splitlines()
    assert lines[:5] == [
        f"{file}:2:9 queues.pool: must be ≥ 1 (got 0)",
        f"{file}:5:18 workers.main.concurrency: must be ≥ 1 (got 0)",
        f"{file}:9:22 workers.main.tasks.hello.maxAttempts: must be ≥ 1 (got 0)",
        f"{file}:10:9 workers.main.tasks.hello.prority: unknown key 'prority'; "
        "did you mean 'priority'? (accepted: queueName, jobKey, jobKeyMode, priority, "
        "maxAttempts, flags, schema, handler, timeoutInMs, retry, unique)",
        f"{file}:13:16 workers.main.recurringTasks.tick.match: invalid cron expression "
        "'* * * *': a cron expression has exactly 5 fields: minute hour day-of-month month "
        "day-of-week (got 4 in '* * * *')",
    ]
    assert lines[5] == f"{file}: 5 errors"


def test_validate_several_files() -> None:
    code, out = run(
        "catalog", "validate", str(FIXTURES / "valid.yaml"), str(FIXTURES / "range.yaml")
    )
    assert code == 1
    assert "valid.yaml: OK" in out and "range.yaml:7:22" in out


def test_validate_warnings_keep_exit_0() -> None:
    code, out = run("catalog", "validate", str(FIXTURES / "template_optional_field.yaml"))
    assert code == 0
    assert ":6:20 workers.main.tasks.hello.queueName: warning: " in out
    assert out.strip().endswith("1 warning")


def test_validate_json() -> None:
    code, out = run("catalog", "validate", "--format", "json", str(FIXTURES / "range.yaml"))
    assert code == 1
    data = json.loads(out)
    assert data["valid"] is False
    [problem] = data["files"][0]["problems"]
    assert problem == {
        "file": str(FIXTURES / "range.yaml"),
        "line": 7,
        "column": 22,
        "path": "workers.main.tasks.hello.maxAttempts",
        "message": "must be ≥ 1 (got 0)",
        "severity": "error",
    }
    code, out = run("catalog", "validate", "--format", "json", str(ROOT / "catalog.yaml"))
    assert code == 0 and json.loads(out)["valid"] is True


def test_validate_check_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    file = FIXTURES / "unresolved_handler.yaml"
    assert run("catalog", "validate", str(file))[0] == 0
    code, out = run("catalog", "validate", "--check-handlers", str(file))
    assert code == 1
    assert f"{file}:6:18 workers.main.tasks.hello.handler: handler " in out
    assert ":9:" not in out  # the resolvable handler is fine


def test_validate_yaml_syntax_and_missing_file() -> None:
    code, out = run("catalog", "validate", str(FIXTURES / "yaml_syntax.yaml"))
    assert code == 1 and ":5:12 YAML syntax error" in out
    code, out = run("catalog", "validate", str(FIXTURES / "nope.yaml"))
    assert code == 1 and "cannot read the catalog" in out


def test_show_all_and_one_task() -> None:
    code, out = run("catalog", "show", str(ROOT / "catalog.yaml"))
    assert code == 0
    assert "performRunExecutionV3  (worker executionWorker)" in out
    assert "autoIndexProductionEndpoints  (worker workerQueue, recurring)" in out
    code, out = run(
        "catalog",
        "show",
        str(ROOT / "catalogs" / "trigger-dev-2023-11.yaml"),
        "--task",
        "deliverHttpSourceRequest",
    )
    assert code == 0
    assert out.splitlines()[0] == "deliverHttpSourceRequest  (worker workerQueue)"
    assert "  queueName    sources:{id}" in out
    assert "  priority     1" in out and "  maxAttempts  14" in out
    assert "  jobKeyMode   replace" in out


def test_show_json_defaults_are_filled_in() -> None:
    code, out = run(
        "catalog", "show", str(ROOT / "catalog.yaml"), "--task", "simulate", "--format", "json"
    )
    assert code == 0
    [task] = json.loads(out)["tasks"]
    assert task["priority"] == 0 and task["maxAttempts"] == 5 and task["worker"] == "workerQueue"


def test_show_unknown_task_and_invalid_catalog() -> None:
    result = CliRunner().invoke(
        main, ["catalog", "show", str(ROOT / "catalog.yaml"), "--task", "startRn"]
    )
    assert result.exit_code == 1 and "did you mean 'startRun'" in result.output
    code, out = run("catalog", "show", str(FIXTURES / "range.yaml"))
    assert code == 2 and "range.yaml:7:22" in out  # an invalid catalog is bad input


def test_shipped_catalog_json_schema_is_current() -> None:
    shipped = json.loads((ROOT / "schemas" / "catalog.schema.json").read_text())
    assert shipped == catalog_json_schema()
    code, out = run("catalog", "json-schema")
    assert code == 0 and json.loads(out) == shipped


def test_shipped_catalog_matches_the_catalog_json_schema() -> None:
    import jsonschema
    import yaml

    shipped = json.loads((ROOT / "schemas" / "catalog.schema.json").read_text())
    jsonschema.validate(yaml.safe_load((ROOT / "catalog.yaml").read_text()), shipped)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"workers": {"w": {"tasks": {"t": {"maxAtempts": 1}}}}}, shipped)
