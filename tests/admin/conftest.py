"""Running ``trigger-compat`` commands in-process against the test database and schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from trigger_compat.cli import main

CATALOG = """\
databaseSchema: {schema}
workers:
  main:
    tasks:
      sendEmail:
        maxAttempts: 3
        priority: 5
        schema: email.json
      deliverEvent:
        queueName: "events:{{id}}"
        jobKey: "event:{{id}}"
"""

EMAIL_SCHEMA = {
    "type": "object",
    "properties": {"to": {"type": "string"}},
    "required": ["to"],
    "additionalProperties": False,
}


@dataclass
class Run:
    result: Result

    @property
    def code(self) -> int:
        return self.result.exit_code

    @property
    def out(self) -> str:
        return self.result.stdout

    @property
    def err(self) -> str:
        return self.result.stderr

    def json(self) -> Any:
        return json.loads(self.result.stdout)


CLI = Callable[..., Run]


@pytest.fixture()
def cli(database_url: str, schema: str) -> CLI:
    """``cli("status", "--json")`` runs the command on the test schema."""

    def run(*args: str, input: str | None = None, db: bool = True) -> Run:
        extra = ["--database-url", database_url, "--schema", schema] if db else []
        result = CliRunner().invoke(main, [*args, *extra], input=input, catch_exceptions=False)
        return Run(result)

    return run


@pytest.fixture()
def catalog_file(tmp_path: Path, schema: str) -> Path:
    (tmp_path / "email.json").write_text(json.dumps(EMAIL_SCHEMA), encoding="utf-8")
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG.format(schema=schema), encoding="utf-8")
    return path
