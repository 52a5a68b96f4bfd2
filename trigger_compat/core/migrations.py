"""What ``migrate()`` applies to a database (pure): the pending migrations, then the SQL
functions whose file changed.

``migrate()`` takes the advisory lock ``(ADVISORY_LOCK_CLASSES["migrate"], hashtext(schema))``,
creates the bookkeeping tables if needed (``migrate_bootstrap.sql``: ``<schema>.migrations``,
one row per version applied, and ``<schema>.migration_functions``, the SHA-256 of each function
file as last applied), and applies the pending migrations, each in its own transaction
(:func:`next_step`). In the last of those transactions (or in a transaction of its own when no
migration is pending), still under the lock, it runs the function step planned by
:func:`plan_functions`. It returns the versions it applied.

The baseline. The six migrations written before the first release (which rewrote some
functions up to three times) are squashed into ``0001-0006_baseline.sql``: the tables, indexes
and types as the sixth left them. Its versions 1 to 6 stay versions of their own (so the
versions a database records, and those ``migrate()`` returns, read as before), but they form
one group, applied and recorded in one transaction:

* a fresh schema gets the baseline, recorded as versions 1 to 6;
* a schema made by the old chain has versions 1 to 6 recorded: nothing is pending, and the
  function step brings every function to its current file (all of them on that first run,
  since the old chain recorded no hashes). The tests build such a schema from a copy of the
  old chain (``tests/engine/fixtures/legacy_chain``) and check that it ends up with exactly
  the catalog of a fresh install;
* a schema with part of a group (some of versions 1 to 6, made by a development build) cannot
  be finished by the baseline: :func:`pending` refuses it with a :class:`SchemaError` that says
  to recreate the schema.

A database recording a version no migration here knows is ahead of the code
(:class:`SchemaAheadError`), as before.

The function step (:func:`plan_functions`, then :func:`after_apply` per function):

* a function whose file is gone, and which a previous run recorded, is dropped (every overload
  of that name). Functions never recorded are left alone: the schema may hold functions
  that are not the package's.
* a file whose hash differs from the recorded one (or that was never recorded) is run, in
  dependency order, in a savepoint. ``create or replace`` keeps the function's grants but
  resets SECURITY DEFINER; when PostgreSQL refuses to replace it (a changed return type or
  parameter name: SQLSTATE 42P13, see :data:`REPLACE_NEEDS_DROP`) the savepoint is rolled
  back, the overloads of that name are dropped and the file is run again. Either way the
  SECURITY DEFINER flag and EXECUTE grants that the function had before (the producer and
  worker roles set them, see ``sql/roles``) are given back to the function with the same
  argument types, and an overload the file no longer defines (its arguments changed) is
  dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from ..errors import SchemaAheadError, SchemaError
from .sqlfiles import ADVISORY_LOCK_CLASSES, Migration, SqlFunction, functions, migrations

# Both numbers of the advisory lock taken while migrating: a constant and hashtext(schema).
MIGRATION_LOCK_CLASS = ADVISORY_LOCK_CLASSES["migrate"]

# SQLSTATEs of a "create or replace function" that needs the old function dropped first.
REPLACE_NEEDS_DROP = frozenset({"42P13", "42725"})


def latest_version() -> int:
    return migrations()[-1].version


def pending(schema: str, applied: Iterable[int]) -> list[Migration]:
    """The migrations not yet applied, oldest first; refuses a database ahead of the code or
    with part of a group of squashed migrations."""
    done = set(applied)
    known = {m.version for m in migrations()}
    unknown = sorted(done - known)
    if unknown:
        raise SchemaAheadError(
            f"schema {schema!r} has migration(s) {unknown} that this version of trigger-compat "
            f"does not know (it knows up to {latest_version()}); upgrade trigger-compat, "
            "or use a different schema"
        )
    for group in sorted({m.group for m in migrations()}):
        partial = sorted(done.intersection(group))
        if partial and len(partial) < len(group):
            raise SchemaError(
                f"schema {schema!r} has migration(s) {partial} but not the rest of "
                f"{list(group)}, which this version of trigger-compat applies together: it was "
                "made by a development build and cannot be upgraded; drop the schema and "
                "migrate again"
            )
    return [m for m in migrations() if m.version not in done]


def moved_on(schema: str, applied: Iterable[int]) -> str | None:
    """Why a worker of this version must stop on ``schema`` (whose applied migration versions
    are ``applied``) once a statement of it failed because a function or table it calls is not
    there: the schema records migrations this version does not know, so a newer version
    migrated it and changed what this version calls (a contract step, see ARCHITECTURE.md,
    "Changing the schema while old workers run"). None otherwise: a schema not migrated yet,
    or behind, is fixed by running ``migrate``, and the worker waits for that."""
    unknown = sorted(set(applied) - {m.version for m in migrations()})
    if not unknown:
        return None
    return (
        f"schema {schema!r} was migrated by a newer version of trigger-compat (it has "
        f"migration(s) {unknown}; this version knows up to {latest_version()})"
    )


def next_step(todo: Sequence[Migration]) -> list[Migration]:
    """The migrations to apply in the next transaction: the first pending one, with the rest
    of its group."""
    if not todo:
        return []
    return [m for m in todo if m.group == todo[0].group]


# -- the function step ---------------------------------------------------------------------


@dataclass(frozen=True)
class Overload:
    """One function of the schema as ``migrate_functions_catalog.sql`` reads it."""

    name: str
    identity: str  # its arguments as DROP / ALTER / GRANT name them
    argtypes: str  # the argument types only: what stays when a parameter is renamed
    security_definer: bool
    owner: str
    grants: frozenset[tuple[str, bool]]  # EXECUTE: (grantee, "" for PUBLIC; with grant option)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Overload:
        name, identity, argtypes, security_definer, owner, grants = row
        return cls(
            name,
            identity,
            argtypes,
            bool(security_definer),
            owner,
            frozenset((str(g[0]), bool(g[1])) for g in grants),
        )


@dataclass(frozen=True)
class FunctionPlan:
    """What the function step does: drop ``drops`` (statements), forget ``forget`` (names
    recorded in migration_functions), then apply ``apply`` in order. ``catalog``: the
    functions of the schema before, to pass to :func:`after_apply`."""

    drops: list[sql.Composed]
    forget: list[str]
    apply: list[SqlFunction]
    catalog: list[Overload]

    def overloads(self, name: str) -> list[Overload]:
        return [o for o in self.catalog if o.name == name]


def plan_functions(
    schema: str,
    recorded: Mapping[str, str],
    catalog: Sequence[Overload],
    files: Sequence[SqlFunction] | None = None,
) -> FunctionPlan:
    """Plan the function step from the recorded hashes (name -> SHA-256) and the functions the
    schema has (``catalog``); ``files`` defaults to the files shipped (:func:`functions`)."""
    files = functions() if files is None else files
    names = {f.name for f in files}
    gone = sorted(n for n in recorded if n not in names)
    return FunctionPlan(
        drops=drop_statements(schema, [o for o in catalog if o.name in gone]),
        forget=gone,
        apply=[f for f in files if recorded.get(f.name) != f.sha256],
        catalog=list(catalog),
    )


def _signature(schema: str, o: Overload) -> sql.Composed:
    return sql.SQL("{}.{}({})").format(
        sql.Identifier(schema), sql.Identifier(o.name), sql.SQL(o.identity)
    )


def _grantee(name: str) -> sql.Composable:
    return sql.SQL("public") if name == "" else sql.Identifier(name)


def drop_statements(schema: str, overloads: Iterable[Overload]) -> list[sql.Composed]:
    return [sql.SQL("drop function {}").format(_signature(schema, o)) for o in overloads]


def after_apply(
    schema: str, before: Sequence[Overload], after: Sequence[Overload]
) -> list[sql.Composed]:
    """The statements to run once a function file was applied, given the overloads of its name
    ``before`` and ``after``: drop those the file no longer defines, and give the one it
    defines back the SECURITY DEFINER flag and EXECUTE grants it had."""
    old = {o.argtypes: o for o in before}
    created = [o for o in after if o.argtypes not in old]
    statements: list[sql.Composed] = []
    if created:
        statements += drop_statements(schema, [o for o in after if o.argtypes in old])
        return statements
    for new in after:
        was = old[new.argtypes]
        target = _signature(schema, new)
        if was.security_definer and not new.security_definer:
            statements.append(sql.SQL("alter function {} security definer").format(target))
        keep = {g for g in was.grants if g[0] != new.owner}
        have = {g for g in new.grants if g[0] != new.owner}
        for grantee, _ in sorted(have - keep):
            statements.append(
                sql.SQL("revoke execute on function {} from {}").format(target, _grantee(grantee))
            )
        for grantee, grantable in sorted(keep - have):
            statements.append(
                sql.SQL("grant execute on function {} to {}{}").format(
                    target,
                    _grantee(grantee),
                    sql.SQL(" with grant option" if grantable else ""),
                )
            )
    return statements
