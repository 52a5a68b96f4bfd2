"""Every command, given each kind of bad input, answers with one line naming the fix and the
exit code of the README's table; never a traceback.

The commands are enumerated from the click group, so a command added without cases here
fails :func:`test_every_command_is_covered`.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from trigger_compat import Client
from trigger_compat.cli import COMMANDS, main
from trigger_compat.demo.runner import default_catalog_path

OK, NOT_FOUND, USAGE, REFUSED, DATABASE = 0, 1, 2, 3, 4

DEMO_CATALOG = str(default_catalog_path())
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/nothing"
CLI = str(Path(sys.executable).parent / "trigger-compat")

#: Each command that uses a database, with the arguments it needs otherwise.
DB_COMMANDS: dict[str, list[str]] = {
    "migrate": ["migrate"],
    "status": ["status"],
    "jobs list": ["jobs", "list"],
    "jobs show": ["jobs", "show", "1"],
    "enqueue": ["enqueue", "startRun", '{"id": "run_1"}', "--catalog", DEMO_CATALOG],
    "retry": ["retry", "1", "--yes"],
    "fail": ["fail", "1", "-m", "bad data", "--yes"],
    "reschedule": ["reschedule", "1", "--run-at", "now", "--yes"],
    "remove": ["remove", "key:1", "--yes"],
    "clean": ["clean", "--failed", "--older-than", "7d", "--yes"],
    "health": ["health"],
    "worker": ["worker", "--catalog", DEMO_CATALOG, "--app", "trigger_compat.demo.handlers"],
    "jobs cancel": ["jobs", "cancel", "1", "--yes"],
    "catalog diff": ["catalog", "diff", DEMO_CATALOG],
    "catalog apply": ["catalog", "apply", DEMO_CATALOG, "--yes"],
    "dashboard": ["dashboard"],
    "pause": ["pause", "--task", "startRun"],
    "resume": ["resume", "--queue", "sources"],
    # --schema names the face; the appended --schema of "schema not migrated" replaces it.
    "graphile face install": [
        "graphile",
        "face",
        "install",
        "--schema",
        "graphile_face",
        "--trigger-compat-schema",
        "not_migrated_here",
    ],
    "graphile face uninstall": ["graphile", "face", "uninstall", "--schema", "graphile_face"],
    "graphile import": ["graphile", "import", "--from-schema", "graphile_worker", "--dry-run"],
    "graphile export": ["graphile", "export", "--to-schema", "graphile_worker", "--dry-run"],
}
#: Commands that use no database, with arguments that are valid.
OTHER_COMMANDS: dict[str, list[str]] = {
    "catalog validate": ["catalog", "validate", DEMO_CATALOG],
    "catalog show": ["catalog", "show", DEMO_CATALOG],
    "catalog json-schema": ["catalog", "json-schema"],
    "catalog from-ts": ["catalog", "from-ts", "worker.server.ts"],
    "catalog types": ["catalog", "types", DEMO_CATALOG, "--output", "-"],
    # demo starts the embedded server by itself: only its URL checks are run here.
    "demo": ["demo", "--seconds", "1"],
}


@dataclass
class Case:
    command: str
    kind: str
    argv: list[str]
    code: int
    needle: str
    #: lines printed above the error line (a catalog's problems), else none
    listing: bool = False
    env: dict[str, str | None] = field(default_factory=dict)
    #: the schema: "" none, "fresh" not migrated, "migrated"
    schema: str = ""


def _cases() -> list[Case]:
    cases: list[Case] = []
    for name, argv in {**DB_COMMANDS, **OTHER_COMMANDS}.items():
        cases.append(Case(name, "unknown option", [*argv, "--bogus"], USAGE, "--bogus"))
    no_db = {"DATABASE_URL": None}
    for name, argv in DB_COMMANDS.items():
        cases += [
            Case(name, "no database", argv, USAGE, "--database-url", env=no_db),
            Case(name, "malformed URL", [*argv, "--database-url", "notaurl"], USAGE, "notaurl"),
            Case(
                name,
                "not PostgreSQL",
                [*argv, "--database-url", "mysql://app:secret@db/app"],
                USAGE,
                "needs PostgreSQL",
            ),
            Case(name, "unreachable", [*argv, "--database-url", UNREACHABLE], DATABASE, "port 1"),
            Case(
                name,
                "URL and --embedded",
                [*argv, "--database-url", UNREACHABLE, "--embedded"],
                USAGE,
                "not both",
            ),
        ]
        # these deal with it; a face's uninstall uses no trigger-compat schema
        if name not in ("migrate", "health", "worker", "dashboard", "graphile face uninstall"):
            cases.append(
                Case(
                    name,
                    "schema not migrated",
                    argv,
                    DATABASE,
                    "trigger-compat migrate",
                    schema="fresh",
                )
            )
    w = DB_COMMANDS["worker"]
    cat = DEMO_CATALOG
    cases += [
        Case("demo", "malformed URL", ["demo", "--database-url", "notaurl"], USAGE, "notaurl"),
        Case("demo", "not PostgreSQL", ["demo", "--database-url", "mysql://h/db"], USAGE, "mysql"),
        Case("demo", "out of range", ["demo", "--seconds", "0"], USAGE, "--seconds"),
        # argument mix-ups
        Case(
            "retry",
            "a duration in two words",
            ["retry", "--failed", "--older-than", "2", "hours"],
            USAGE,
            "--older-than 2h",
        ),
        Case("pause", "nothing named", ["pause"], USAGE, "--task T"),
        Case("resume", "nothing named", ["resume"], USAGE, "--task T"),
        Case("retry", "neither ids nor --failed", ["retry", "--yes"], USAGE, "give job IDS"),
        Case("retry", "ids and --failed", ["retry", "1", "--failed"], USAGE, "not both"),
        Case("retry", "not an id", ["retry", "x1", "--yes"], USAGE, "'x1' is not a job id"),
        Case("retry", "bad duration", ["retry", "--failed", "--older-than", "soon"], USAGE, "soon"),
        Case("clean", "without --failed", ["clean", "--older-than", "7d"], USAGE, "--failed"),
        Case("fail", "without --message", ["fail", "1", "--yes"], USAGE, "--message"),
        Case("reschedule", "bad time", ["reschedule", "1", "--run-at", "later"], USAGE, "later"),
        Case("jobs show", "not an id", ["jobs", "show", "abc"], USAGE, "JOB_ID"),
        Case("jobs list", "bad state", ["jobs", "list", "--state", "lost"], USAGE, "--state"),
        Case(
            "status",
            "bad duration",
            ["status", "--stale-after", "1 fortnight"],
            USAGE,
            "--stale-after",
        ),
        Case(
            "health",
            "bad duration",
            ["health", "--max-heartbeat-age", "x"],
            USAGE,
            "--max-heartbeat-age",
        ),
        Case(
            "enqueue",
            "bad JSON",
            ["enqueue", "startRun", "{oops", "--catalog", cat],
            USAGE,
            "not valid JSON",
        ),
        Case(
            "enqueue",
            "payload against the schema",
            ["enqueue", "startRun", "{}", "--catalog", cat],
            USAGE,
            "$.id",
            schema="fresh",
        ),
        Case(
            "enqueue",
            "unknown task",
            ["enqueue", "startRn", "{}", "--catalog", cat],
            USAGE,
            "startRun",
            schema="fresh",
        ),
        # files
        Case(
            "enqueue",
            "missing catalog",
            ["enqueue", "startRun", "{}", "--catalog", "nope.yaml"],
            USAGE,
            "nope.yaml does not exist",
        ),
        Case(
            "status",
            "missing catalog",
            ["status", "--catalog", "nope.yaml"],
            USAGE,
            "nope.yaml does not exist",
        ),
        Case(
            "worker",
            "missing catalog",
            ["worker", "--catalog", "nope.yaml"],
            USAGE,
            "nope.yaml does not exist",
        ),
        Case(
            "catalog show",
            "missing catalog",
            ["catalog", "show", "nope.yaml"],
            USAGE,
            "nope.yaml does not exist",
        ),
        Case(
            "catalog show",
            "invalid catalog",
            ["catalog", "show", "bad.yaml"],
            USAGE,
            "catalog validate bad.yaml",
            listing=True,
        ),
        Case(
            "catalog validate",
            "invalid catalog",
            ["catalog", "validate", "bad.yaml"],
            NOT_FOUND,
            "bad.yaml",
            listing=True,
        ),
        Case(
            "catalog from-ts", "missing source", ["catalog", "from-ts", "nope.ts"], USAGE, "nope.ts"
        ),
        # the worker's own options
        Case(
            "worker",
            "--app not importable",
            [*w[:3], "--app", "no_such_module"],
            USAGE,
            "--app no_such_module",
        ),
        Case(
            "worker",
            "--app failing to import",
            [*w[:3], "--app", "broken_app"],
            USAGE,
            "ZeroDivisionError",
        ),
        Case("worker", "unknown log level", [*w, "--log-level", "verbose"], USAGE, "--log-level"),
        Case(
            "worker", "unknown --tasks", [*w, "--tasks", "strtRun"], USAGE, "did you mean startRun"
        ),
        Case("worker", "unknown --worker", [*w, "--worker", "nope"], USAGE, "--worker nope"),
        Case(
            "worker",
            "no handler in --app",
            [*w[:3], "--app", "empty_app"],
            USAGE,
            "--app empty_app",
            listing=True,  # the log's warnings about each worker come first
        ),
        Case(
            "worker",
            "metrics port taken",
            [*w, "--metrics-port", "{port}"],
            USAGE,
            "--metrics-port {port}",
        ),
        # answers that are no, and refusals (on a migrated, empty schema)
        Case(
            "retry",
            "no such job",
            ["retry", "424242", "--yes"],
            NOT_FOUND,
            "424242",
            schema="migrated",
        ),
        Case(
            "fail",
            "no such job",
            ["fail", "424242", "-m", "x", "--yes"],
            NOT_FOUND,
            "424242",
            schema="migrated",
        ),
        Case(
            "reschedule",
            "no such job",
            ["reschedule", "424242", "--run-at", "now", "--yes"],
            NOT_FOUND,
            "424242",
            schema="migrated",
        ),
        Case(
            "jobs cancel",
            "no such job",
            ["jobs", "cancel", "424242", "--yes"],
            NOT_FOUND,
            "424242",
            schema="migrated",
        ),
        Case(
            "jobs show",
            "no such job",
            ["jobs", "show", "424242"],
            NOT_FOUND,
            "no job 424242",
            schema="migrated",
        ),
        Case(
            "remove",
            "no such key",
            ["remove", "nokey", "--yes"],
            NOT_FOUND,
            "'nokey'",
            schema="migrated",
        ),
        Case(
            "catalog show",
            "no such task",
            ["catalog", "show", cat, "--task", "strtRun"],
            NOT_FOUND,
            "startRun",
        ),
        Case(
            "health", "no worker", ["health"], NOT_FOUND, "no worker heartbeat", schema="migrated"
        ),
        Case(
            "retry",
            "no --yes without a terminal",
            ["retry", "1"],
            REFUSED,
            "pass --yes",
            schema="migrated",
        ),
        Case(
            "remove",
            "no --yes without a terminal",
            ["remove", "k"],
            REFUSED,
            "pass --yes",
            schema="migrated",
        ),
        Case(
            "fail",
            "no --yes without a terminal",
            ["fail", "1", "-m", "x"],
            REFUSED,
            "pass --yes",
            schema="migrated",
        ),
    ]
    return cases


CASES = _cases()


def _leaf_commands() -> set[str]:
    for module in set(COMMANDS.values()):
        importlib.import_module(f"trigger_compat.cli.{module}")

    def walk(cmd: click.Command, path: tuple[str, ...]) -> Iterator[str]:
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from walk(sub, (*path, name))
        else:
            yield " ".join(path)

    return set(walk(main, ()))


def test_every_command_is_covered() -> None:
    leaves = _leaf_commands()
    assert leaves == set(DB_COMMANDS) | set(OTHER_COMMANDS), "add the new command's cases here"
    for name in leaves:
        kinds = {c.kind for c in CASES if c.command == name}
        assert "unknown option" in kinds, name
        if name in DB_COMMANDS:
            assert {"no database", "malformed URL", "not PostgreSQL", "unreachable"} <= kinds


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """``worker`` and ``demo`` configure logging for their process; run in-process here,
    they must leave the test process's logging as it was."""
    root = logging.getLogger()
    quiet = logging.getLogger("trigger_compat.worker")
    saved = (root.level, list(root.handlers), quiet.level)
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    quiet.setLevel(saved[2])


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory without catalog.yaml, with a broken catalog and two --app modules."""
    (tmp_path / "bad.yaml").write_text(
        "workers:\n  w:\n    tasks:\n      t:\n        maxAttempts: 0\n", encoding="utf-8"
    )
    (tmp_path / "broken_app.py").write_text("x = 1 / 0\n", encoding="utf-8")
    (tmp_path / "empty_app.py").write_text("handlers = {}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("broken_app", "empty_app"):
        sys.modules.pop(name, None)
    return tmp_path


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.command}: {c.kind}")
def test_bad_input(
    case: Case, workdir: Path, database_url: str, schema: str, request: pytest.FixtureRequest
) -> None:
    argv = list(case.argv)
    env: dict[str, str | None] = {"DATABASE_URL": database_url, "TRIGGER_COMPAT_SCHEMA": None}
    env.update(case.env)
    if case.schema:
        if case.schema == "migrated":
            request.getfixturevalue("client")
        argv += ["--schema", schema]
    needle = case.needle
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        argv = [a.replace("{port}", port) for a in argv]
        needle = needle.replace("{port}", port)
        result = CliRunner().invoke(main, argv, env=env)
    _assert_answer(result, case.code, needle, listing=case.listing)
    assert "secret" not in result.output


def _assert_answer(result: Result, code: int, needle: str, *, listing: bool = False) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    assert result.exit_code == code, result.output
    if code in (OK, NOT_FOUND) and not result.stderr.strip():
        assert needle in result.stdout
        return
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    if code == NOT_FOUND and not errors:  # an answer on stdout (catalog validate, health)
        assert needle in result.output
        return
    assert len(errors) == 1, result.stderr
    assert needle in errors[0], result.stderr
    if not listing:
        assert lines == errors, result.stderr


def test_json_is_printed_when_nothing_is_found(cli_db: list[str]) -> None:
    shown = CliRunner().invoke(main, ["jobs", "show", "424242", "--json", *cli_db])
    assert shown.exit_code == NOT_FOUND and json.loads(shown.stdout) is None
    removed = CliRunner().invoke(main, ["remove", "nokey", "--yes", "--json", *cli_db])
    assert removed.exit_code == NOT_FOUND
    assert json.loads(removed.stdout) == {"removed": False, "running": False, "job": None}
    retried = CliRunner().invoke(main, ["retry", "424242", "--yes", "--json", *cli_db])
    assert retried.exit_code == NOT_FOUND
    assert json.loads(retried.stdout) == {"retried": 0, "skipped": [424242], "statements": 1}
    migrated = CliRunner().invoke(main, ["migrate", "--json", *cli_db])
    assert migrated.exit_code == OK and json.loads(migrated.stdout)["applied"] == []


def test_catalog_format_json_stays_as_a_hidden_alias_of_json() -> None:
    new = CliRunner().invoke(main, ["catalog", "validate", "--json", DEMO_CATALOG])
    old = CliRunner().invoke(main, ["catalog", "validate", "--format", "json", DEMO_CATALOG])
    assert new.exit_code == old.exit_code == OK
    assert json.loads(new.stdout) == json.loads(old.stdout)
    assert json.loads(new.stdout)["valid"] is True
    assert "--format" not in CliRunner().invoke(main, ["catalog", "validate", "--help"]).stdout


@pytest.fixture()
def cli_db(database_url: str, client: Client) -> list[str]:
    return ["--database-url", database_url, "--schema", client.schema]


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["migrate"], USAGE, "no database given: pass --database-url URL or set DATABASE_URL"),
        (["health", "--database-url", "notaurl"], USAGE, "'notaurl' is not a PostgreSQL URL"),
    ],
)
def test_as_a_process(tmp_path: Path, argv: list[str], code: int, needle: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        [CLI, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert needle in result.stderr
    assert not (tmp_path / ".trigger-compat").exists()  # no embedded server was started
