"""The admin commands with hostile arguments: exit 0, or a non-zero exit with one error line on
stderr and no traceback; a refused command writes nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from trigger_compat.cli import main

from .conftest import fingerprint

text_arg = st.one_of(
    st.text(st.characters(codec=None, categories=None), max_size=12),
    st.sampled_from(
        [
            "",
            "-",
            "--",
            "--yes",
            "-1",
            "0",
            "99999999999999999999",
            "1e3",
            "nan",
            "7d",
            "-7d",
            "+2h",
            "in 30m",
            "2024-02-30T00:00:00",
            "now",
            "{}",
            "[]",
            '{"a":',
            "null",
            "'; --",
            "%s",
            "{schema}",
            "\\",
            "$$",
            "\x00",
            "\ud800",
            "x" * 600,
        ]
    ),
)
COMMANDS: list[tuple[list[str], int]] = [
    (["status", "--stale-after"], 1),
    (["jobs", "list", "--task"], 1),
    (["jobs", "list", "--queue"], 1),
    (["jobs", "list", "--state"], 1),
    (["jobs", "list", "--limit"], 1),
    (["jobs", "show"], 1),
    (["retry"], 3),
    (["retry", "--failed", "--yes", "--task"], 1),
    (["remove"], 1),
    (["fail", "-m", "x"], 2),
    (["fail", "1", "-m"], 1),
    (["reschedule", "--yes", "--run-at"], 1),
    (["reschedule", "1", "--priority"], 1),
    (["clean", "--failed", "--yes", "--older-than"], 1),
    (["enqueue", "plain"], 1),
    (["enqueue"], 2),
    (["enqueue", "plain", "{}", "--run-at"], 1),
    (["enqueue", "plain", "{}", "--job-key"], 1),
    (["enqueue", "plain", "{}", "--queue-name"], 1),
    (["enqueue", "plain", "{}", "--priority"], 1),
    (["health", "--max-age"], 1),
]


@pytest.fixture(scope="module")
def cli_env(
    fuzz_client: Any, fuzz_schema: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """No catalog in the working directory; the fuzz schema, migrated, with a catalog."""
    from .conftest import CATALOG

    cwd = tmp_path_factory.mktemp("cli")
    catalog = Path(cwd) / "catalog.yaml"
    catalog.write_text(CATALOG.format(schema=fuzz_schema), encoding="utf-8")
    old = os.getcwd()
    os.chdir(cwd)
    try:
        yield {"DATABASE_URL": database_url, "TRIGGER_COMPAT_SCHEMA": fuzz_schema}
    finally:
        os.chdir(old)


@settings(settings.get_profile("fuzz"), max_examples=200)
@given(
    command=st.sampled_from(COMMANDS),
    args=st.lists(text_arg, min_size=3, max_size=3),
)
def test_admin_commands(
    cli_env: dict[str, str],
    fuzz_db: psycopg.Connection[Any],
    fuzz_schema: str,
    command: tuple[list[str], int],
    args: list[str],
) -> None:
    words, n = command
    argv = [*words, *args[:n]]
    before = fingerprint(fuzz_db, fuzz_schema)
    result = CliRunner().invoke(main, argv, env=cli_env)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{argv!r} raised {result.exception!r}"
    )
    assert "Traceback" not in result.output
    if result.exit_code != 0:
        last = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
        assert last.startswith(("error:", "Error:")), f"{argv!r}: {result.stderr!r}"
        # click's own usage errors add "Usage:"/"Try" lines above; ours are a single line.
        if last.startswith("error:"):
            assert result.stderr.count("\n") == 1, result.stderr
        if words[0] in ("enqueue", "retry", "fail", "reschedule", "clean", "remove"):
            assert fingerprint(fuzz_db, fuzz_schema) == before
    else:
        # What an accepted command added or changed is left for the next example to see;
        # only writes that were refused must leave the database alone.
        pass
