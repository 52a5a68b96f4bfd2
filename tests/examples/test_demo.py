"""``trigger-compat demo`` as a user runs it (plain lines: stdout is not a terminal)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import psycopg


def test_demo_runs_the_mix_and_exits_0(database_url: str, db: psycopg.Connection[object]) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from trigger_compat.cli import main; main()",
            "demo",
            "--seconds",
            "8",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\x1b[" not in out  # no terminal control codes when not a TTY
    assert "✗ startRun" in out and "✓ startRun" in out  # failed, then succeeded
    assert "[queue sources:source_1]" in out
    assert "[key event:evt_1]" in out
    assert "⏰ recurring tick" in out
    assert "demo finished after" in out and " 0 left waiting" in out
    # its schema is gone
    schema = re.search(r"schema (tc_demo_[0-9a-f]+);", out)
    assert schema is not None
    found = db.execute("select 1 from pg_namespace where nspname = %s", (schema.group(1),))
    assert found.fetchall() == []
