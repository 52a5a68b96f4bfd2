"""Which migrations a database still needs (pure)."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import SchemaAheadError
from .sqlfiles import Migration, migrations

# Both numbers of the advisory lock taken while migrating: a constant and hashtext(schema).
MIGRATION_LOCK_CLASS = 1952867692


def latest_version() -> int:
    return migrations()[-1].version


def pending(schema: str, applied: Iterable[int]) -> list[Migration]:
    """The migrations not yet applied, oldest first; refuses a database ahead of the code."""
    done = set(applied)
    known = {m.version for m in migrations()}
    unknown = sorted(done - known)
    if unknown:
        raise SchemaAheadError(
            f"schema {schema!r} has migration(s) {unknown} that this version of trigger-compat "
            f"does not know (it knows up to {latest_version()}); upgrade trigger-compat, "
            "or use a different schema"
        )
    return [m for m in migrations() if m.version not in done]
