"""A release that changes a SQL function also adds a migration (ARCHITECTURE.md, "Changing the
schema while old workers run"): an older version's ``migrate()`` re-applies its own function
files whenever their hashes differ, and only a migration it does not know makes it refuse.

``function_hashes.txt`` records every function file's SHA-256 and the newest migration when
they were recorded. A function changed since then fails this test until a migration newer than
that one exists; then record the new hashes with::

    TRIGGER_COMPAT_UPDATE_FUNCTION_HASHES=1 pytest tests/engine/test_function_hashes.py

(a migration may be a comment only, when nothing but functions changed).
"""

from __future__ import annotations

import os
from pathlib import Path

from trigger_compat.core.migrations import latest_version
from trigger_compat.core.sqlfiles import functions

RECORD = Path(__file__).with_name("function_hashes.txt")
UPDATE_ENV = "TRIGGER_COMPAT_UPDATE_FUNCTION_HASHES"


def read_record() -> tuple[int, dict[str, str]]:
    """(the migration the hashes were recorded at, {function name: sha256})."""
    lines = RECORD.read_text(encoding="utf-8").splitlines()
    version = int(lines[0].removeprefix("# recorded at migration "))
    hashes: dict[str, str] = {}
    for line in lines[1:]:
        if line.strip():
            digest, name = line.split()
            hashes[name] = digest
    return version, hashes


def write_record(version: int, hashes: dict[str, str]) -> None:
    body = "".join(f"{digest}  {name}\n" for name, digest in sorted(hashes.items()))
    RECORD.write_text(f"# recorded at migration {version}\n{body}", encoding="utf-8")


def test_a_changed_function_comes_with_a_migration() -> None:
    current = {f.name: f.sha256 for f in functions()}
    newest = latest_version()
    recorded_at, recorded = read_record()
    changed = sorted(
        name for name in current.keys() | recorded.keys() if current.get(name) != recorded.get(name)
    )
    if not changed:
        return
    assert newest > recorded_at, (
        f"function(s) {', '.join(changed)} changed, but no migration was added since "
        f"migration {recorded_at}: an older version's migrate() would put the old bodies back "
        "under newer workers; add sql/migrations/"
        f"{recorded_at + 1:04d}_<name>.sql (a comment alone will do), then set {UPDATE_ENV}=1 "
        "and run this test to record the hashes"
    )
    if os.environ.get(UPDATE_ENV):
        write_record(newest, current)
        return
    raise AssertionError(
        f"function(s) {', '.join(changed)} changed since migration {recorded_at}, and migration "
        f"{newest} is newer: record the hashes with {UPDATE_ENV}=1 (and review the diff)"
    )


def test_the_record_reads_back() -> None:
    version, hashes = read_record()
    assert version >= 1
    assert hashes and all(len(digest) == 64 for digest in hashes.values())
