"""``trigger-compat catalog from-ts``: the TypeScript fixtures of tests/catalog/fixtures/ts,
read with the TypeScript compiler API through Node, and the catalogs written from them.

These tests need Node.js (skipped, with that reason, only when ``node`` is absent) and the npm
packages of ``trigger_compat/tsconvert`` and ``tests/catalog/fixtures/ts`` (``npm ci`` in
each; ``.ci/run`` does it).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from trigger_compat.cli import main
from trigger_compat.cli.catalog_from_ts import (
    EXTRACT,
    INSTALL_HINT,
    TSCONVERT,
    ExtractError,
    run_extract,
)
from trigger_compat.core.catalog_loader import inspect_catalog
from trigger_compat.core.ts_catalog import catalog_from_extract
from trigger_compat.errors import PayloadValidationError
from trigger_compat.testing.plugin import TestQueue

FIXTURES = Path(__file__).parent / "fixtures" / "ts"
ACME = FIXTURES / "worker.server.ts"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@pytest.fixture(scope="module", autouse=True)
def _packages_installed() -> None:
    """Fail (not skip) with the command to run when the npm packages are missing."""
    for folder, package in ((TSCONVERT, "typescript"), (FIXTURES, "zod-to-json-schema")):
        if not (folder / "node_modules" / package).is_dir():
            pytest.fail(f"{package} is not installed: run `npm ci --prefix {folder}`")


def convert(tmp_path: Path, source: Path, *args: str) -> tuple[Path, str]:
    out = tmp_path / "catalog.yaml"
    result = CliRunner().invoke(
        main, ["catalog", "from-ts", str(source), "-o", str(out), *args], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("acme")
    return convert(tmp, ACME, "--schemas-dir", str(tmp / "schemas"))


def settings(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def test_settings_are_read_from_the_typescript(acme: tuple[Path, str]) -> None:
    path, _ = acme
    report = inspect_catalog(path)
    assert report.ok, [str(p) for p in report.problems]
    data = settings(path)
    assert "databaseSchema" not in data  # runnerOptions.schema is graphile's, not ours
    workers = data["workers"]
    assert list(workers) == ["workerQueue", "runWorker", "opsWorker"]
    tasks = {
        i: {k: v for k, v in t.items() if k != "schema"}
        for i, t in workers["workerQueue"]["tasks"].items()
    }
    assert tasks == {
        "syncAccount": {"priority": 1, "maxAttempts": 4},  # from `const ACME_RETRIES = 4`
        "sendMessage": {"priority": 100, "maxAttempts": 3},
        "billing.charge": {
            "priority": 0,
            "maxAttempts": 5,
            "jobKey": "charge:{accountId}",
            "jobKeyMode": "preserve_run_at",
            "flags": ["billing"],
        },
        "billing.refund": {"priority": -1, "maxAttempts": 3},
        "feeds.tick": {"maxAttempts": 8, "queueName": "feeds:{id}"},  # ({ id }) => `feeds:${id}`
        "feeds.fetch": {"maxAttempts": 14},  # its queueName function is listed instead
        "feeds.pull": {"maxAttempts": 2, "queueName": "pull:{feed.id}", "jobKey": "pull-{{once}}"},
        "notifyOwner": {"priority": 10, "maxAttempts": 3},
        "touch": {},
    }
    assert workers["workerQueue"]["recurringTasks"] == {
        "resyncAccounts": {"match": "*/30 * * * *"},
        "metrics.flush": {
            "match": "*/5 * * * *",
            "options": {"maxAttempts": 1, "backfillPeriod": 900_000, "jobKey": "metrics-flush"},
        },
        "purgeOldRows": {"match": "0 * * * *"},  # graphile 0.13's `pattern`
    }
    assert workers["workerQueue"]["cleanup"] == {
        "frequencyExpression": "13,27,43 * * * *",
        "ttl": 3 * 24 * 60 * 60 * 1000,
        "maxCount": 500,
        "taskOptions": {"maxAttempts": 2, "priority": 5},
    }
    run = {k: v for k, v in workers["runWorker"].items() if k != "tasks"}
    assert run == {"concurrency": 25, "pollInterval": 500, "shutdownTimeoutInMs": 120_000}
    assert workers["runWorker"]["tasks"]["executeRun"]["maxAttempts"] == 12
    assert workers["opsWorker"]["concurrency"] == 3
    assert "concurrency" not in workers["workerQueue"]  # env.WORKER_CONCURRENCY: listed


def test_everything_not_translated_is_listed(acme: tuple[Path, str]) -> None:
    path, output = acme
    header = path.read_text().split("\nworkers:")[0]
    for text in (
        "workers.workerQueue.runnerOptions.concurrency: `env.WORKER_CONCURRENCY` is not a literal",
        "workers.workerQueue.shutdownTimeoutInMs: `env.GRACEFUL_SHUTDOWN_TIMEOUT`",
        "workers.workerQueue.tasks.feeds.fetch.queueName: the function "
        "`(payload) => `fetch:${payload.url.toLowerCase()}`` is not a template",
        "workers.runWorker.rateLimiter: `acmeRateLimiter` (use ZodWorker(forbidden_flags=...)",
        "workers.runWorker.reporter: `(event, properties) => console.log(event, properties)`",
        "workers.workerQueue.schema.orphanSchema: in the zod catalog but not in tasks",
        "payload schema left open ({}) for 1 task(s) (sendMessage): could not be evaluated: "
        "Cannot find module '@/../../packages/messages/src'",
        "workers.workerQueue: 12 TypeScript handler(s) not translated",
    ):
        assert text in header, text
        assert text in output, text
    assert "runWorker.prisma" not in output  # not needed, not noise


def test_payload_schemas_are_evaluated_with_zod_to_json_schema(acme: tuple[Path, str]) -> None:
    path, _ = acme

    def schema(identifier: str) -> Any:
        return json.loads((path.parent / "schemas" / f"{identifier}.json").read_text())

    sync = schema("syncAccount")
    assert sync["properties"]["plan"] == {"type": "string", "enum": ["FREE", "PRO", "ENTERPRISE"]}
    assert sync["required"] == ["id", "note"]
    assert sync["properties"]["note"] == {"type": ["string", "null"]}
    assert schema("billing.charge")["properties"]["dryRun"] == {"type": "boolean", "default": False}
    refund = schema("billing.refund")
    assert [b["properties"]["kind"]["const"] for b in refund["anyOf"]] == ["a", "b"]
    tick = schema("feeds.tick")["properties"]["payload"]  # an imported schema (./shared)
    assert tick["properties"]["ts"] == {"type": "string", "format": "date-time"}
    assert schema("feeds.fetch")["properties"]["url"] == {"type": "string", "format": "uri"}
    assert len(schema("notifyOwner")["allOf"]) == 2  # .and(...)
    assert schema("sendMessage") == {}  # its module cannot be loaded: open, with a warning


@pytest.fixture()
def tc_catalog(acme: tuple[Path, str]) -> str:
    """tc_queue runs on the converted catalog."""
    return str(acme[0])


def test_the_converted_catalog_runs(tc_queue: TestQueue) -> None:
    job = tc_queue.client.enqueue("billing.charge", {"accountId": "acc_1", "amountInCents": 500})
    assert job.key == "charge:acc_1" and job.flags == {"billing": True} and job.max_attempts == 5
    with pytest.raises(PayloadValidationError):
        tc_queue.client.enqueue("billing.charge", {"accountId": "acc_1", "amountInCents": 1.5})
    tc_queue.client.enqueue("feeds.tick", {"id": "f1", "payload": {"ts": "2030-01-01T00:00:00Z"}})
    tc_queue.assert_enqueued("feeds.tick", queueName="feeds:f1", maxAttempts=8)
    tc_queue.client.enqueue("sendMessage", {"anything": True})  # its schema is open


def test_env_settings_take_the_env_files_defaults(tmp_path: Path) -> None:
    path, output = convert(tmp_path, ACME, "--env", str(FIXTURES / "env.server.ts"))
    queue = settings(path)["workers"]["workerQueue"]
    assert (queue["concurrency"], queue["pollInterval"], queue["shutdownTimeoutInMs"]) == (
        6,
        750,
        45000,
    )
    assert (
        "workers.workerQueue.runnerOptions.concurrency: `env.WORKER_CONCURRENCY` = 6, from the "
        "env file's default" in output
    )
    assert "runnerOptions.concurrency: `env.WORKER_CONCURRENCY` is not a literal" not in output


def test_inline_schemas_and_standard_output(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["catalog", "from-ts", str(ACME)])
    assert result.exit_code == 0, result.output
    assert "# Converted by `trigger-compat catalog from-ts` from" in result.stdout
    data = yaml.safe_load(result.stdout)
    schema = data["workers"]["opsWorker"]["tasks"]["performOperation"]["schema"]
    assert schema["properties"] == {"id": {"type": "string"}}
    assert "3 worker(s), 11 task(s), 3 recurring task(s)" in result.stderr


def test_without_the_teams_packages_schemas_are_left_open(tmp_path: Path) -> None:
    source = tmp_path / "worker.server.ts"
    shutil.copy(ACME, source)  # no node_modules beside it
    path, output = convert(tmp_path, source)
    data = settings(path)
    assert all(
        t["schema"] == {} for w in data["workers"].values() for t in w.get("tasks", {}).values()
    )
    assert "payload schema left open ({}) for 11 task(s)" in output
    assert "zod-to-json-schema cannot be required from" in output
    assert (
        data["workers"]["workerQueue"]["tasks"]["billing.charge"]["jobKey"] == "charge:{accountId}"
    )

    _, output = convert(tmp_path, ACME, "--no-evaluate")
    assert "not evaluated (--no-evaluate)" in output


def test_constructs_that_cannot_be_translated_are_listed(tmp_path: Path) -> None:
    path, output = convert(tmp_path, FIXTURES / "edge-cases.ts")
    data = settings(path)
    assert data["workers"]["edgeWorker"] == {
        "concurrency": 4,
        "pollInterval": 250,
    }  # `name: WORKER_NAME` resolves to its const; its tasks are not object literals
    assert data["workers"]["otherWorker"]["tasks"]["ping"]["maxAttempts"] == 2
    for text in (
        "edgeWorker.schema (line 20): computed property name: `[KEY]: z.object({})`",
        "edgeWorker.tasks (line 23): spread or accessor: `...sharedTasks`",
        "edgeWorker.tasks.ping (line 24): not an object literal: `commonTasks.ping`",
        "workers.otherWorker.runnerOptions: `buildRunnerOptions()` is not an object literal",
        "workers.otherWorker.schema: `importedCatalog` is not an object literal",
        "workers.otherWorker.recurringTasks.nightly.match: `process.env.NIGHTLY_CRON` is not a "
        "literal; left out",
    ):
        assert text in output, text


def test_a_missing_typescript_package_gives_the_install_command(tmp_path: Path) -> None:
    script = tmp_path / "extract.mjs"
    shutil.copy(EXTRACT, script)  # a copy with no node_modules beside it
    with pytest.raises(ExtractError) as caught:
        run_extract(ACME, script=script)
    assert str(caught.value) == INSTALL_HINT
    assert f"npm ci --prefix {TSCONVERT}" in INSTALL_HINT


def test_catalog_from_extract_keeps_literal_braces_and_refuses_duplicates() -> None:
    def worker(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "tasks": {"t": {"settings": {"queueName": {"value": "q{1}"}}, "handler": None}},
            "schema": {"entries": {"t": {"jsonSchema": {"type": "object"}}}},
        }

    conv = catalog_from_extract({"workers": [worker("w"), worker("w")], "problems": []})
    assert conv.catalog["workers"]["w"]["tasks"]["t"]["queueName"] == "q{{1}}"
    assert conv.schemas["t"] == {"type": "object"}
    assert conv.untranslated == ["workers.w: a second ZodWorker of that name; left out"]


def test_without_node_the_command_exits_2_and_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no `node` to be found
    result = CliRunner().invoke(main, ["catalog", "from-ts", str(ACME)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: node is not on PATH; Node.js 18 or later is needed")
    assert result.stdout == ""
