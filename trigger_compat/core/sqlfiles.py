"""SQL text shipped with the package, read once. Four folders under ``trigger_compat/sql/``:

``migrations/NNNN_name.sql``
    Tables, indexes and types only, numbered and append-only: a shipped migration is never
    edited; a change of the schema is a new file with the next number. Each runs once, in a
    transaction of its own, with ``search_path`` set to the target schema, and is recorded in
    ``<schema>.migrations``. ``0001-0006_baseline.sql`` is the squashed pre-release chain:
    versions 1 to 6 in one file, applied and recorded together (see
    :mod:`trigger_compat.core.migrations`).

``functions/<name>.sql``
    Every SQL function, one per file, named after it and written ``create or replace
    function <name>(...)``: its one and only definition. ``migrate()`` applies, after the
    migrations and in the same transaction, every file whose text changed since it was last
    applied (a SHA-256 per function in ``<schema>.migration_functions``), and drops the
    functions whose file is gone. A ``-- depends: a, b`` line names the functions a file's
    function calls, which are created first (a ``language sql`` body is checked when it is
    created). ``{lock_class:<name>}`` stands for an advisory-lock class of
    :data:`ADVISORY_LOCK_CLASSES`. Rules shared by several statements are functions of their
    own (``job_state``, ``retry_delay``, ``job_key_modes`` and ``job_key_mode_valid``); those on
    hot paths are ``language sql immutable`` without ``set`` clauses, so PostgreSQL inlines
    them into the caller's statement and they cost nothing at run time.

``queries/<name>.sql``
    The statements the clients run, one per file. ``{schema}`` is where the quoted schema name
    goes; :func:`queries_for` fills it in with :mod:`psycopg.sql`, so a schema name can never
    change the meaning of a statement. Every value is a bound parameter: each query is executed
    with a parameter dict (``{}`` when it has none).

``roles/<kind>.sql``
    The grants of a producer or worker role (:func:`grant_sql`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from psycopg import sql

from ..errors import ConfigurationError

DEFAULT_SCHEMA = "trigger_compat"

# The package's advisory locks are (class, hashtext(schema)) pairs: the one migrate() holds,
# and the one that lets a single worker at a time run rescue_jobs.
ADVISORY_LOCK_CLASSES = {
    "migrate": 1952867692,
    "rescue_jobs": 1952867693,
    "metrics_leader": 1952867694,
}

_MIGRATION_NAME = re.compile(r"^(\d{4})(?:-(\d{4}))?_([a-z0-9_]+)\.sql$")
_FUNCTION_NAME = re.compile(r"^([a-z][a-z0-9_]*)\.sql$")
_DEPENDS = re.compile(r"^--\s*depends:(.*)$", re.MULTILINE)
_LOCK_CLASS = re.compile(r"\{lock_class:([a-z_]+)\}")


@dataclass(frozen=True)
class Migration:
    """One numbered migration. ``group``: the versions applied and recorded together with it
    (those of a squashed file, ``NNNN-MMMM_name.sql``, whose text is the first one's; the
    others only say where they went), else just its own."""

    version: int
    name: str
    sql: str
    group: tuple[int, ...]


@dataclass(frozen=True)
class SqlFunction:
    """One file of ``sql/functions``: the function ``name``, the functions it calls
    (``depends``), its text and the SHA-256 of that text, as recorded when applied."""

    name: str
    depends: tuple[str, ...]
    sql: str
    sha256: str


def _sql_dir() -> resources.abc.Traversable:
    return resources.files("trigger_compat").joinpath("sql")


@cache
def migrations() -> tuple[Migration, ...]:
    """All migrations shipped with this version, oldest first."""
    found = []
    for entry in _sql_dir().joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            first, last = int(match[1]), int(match[2] or match[1])
            group = tuple(range(first, last + 1))
            found.append(Migration(first, match[3], entry.read_text(encoding="utf-8"), group))
            found.extend(
                Migration(v, match[3], f"-- version {v}: part of {entry.name}\n", group)
                for v in group[1:]
            )
    found.sort(key=lambda m: m.version)
    return tuple(found)


def function_from_text(name: str, text: str) -> SqlFunction:
    """The function ``name`` defined by the text of its file."""
    text = _LOCK_CLASS.sub(lambda m: str(ADVISORY_LOCK_CLASSES[m[1]]), text)
    depends = tuple(
        d.strip() for line in _DEPENDS.findall(text) for d in line.split(",") if d.strip()
    )
    return SqlFunction(name, depends, text, hashlib.sha256(text.encode("utf-8")).hexdigest())


def dependency_order(found: dict[str, SqlFunction]) -> tuple[SqlFunction, ...]:
    """The functions in an order that creates each after those it depends on (by name
    otherwise); a dependency on a function that is not in ``found`` is ignored."""
    ordered: list[SqlFunction] = []
    placed: set[str] = set()

    def place(name: str, path: tuple[str, ...]) -> None:
        if name in placed or name not in found:
            return
        if name in path:
            raise ValueError(f"SQL functions depend on each other in a cycle: {(*path, name)}")
        for dep in sorted(found[name].depends):
            place(dep, (*path, name))
        placed.add(name)
        ordered.append(found[name])

    for name in sorted(found):
        place(name, ())
    return tuple(ordered)


@cache
def functions() -> tuple[SqlFunction, ...]:
    """Every SQL function shipped with this version, each after the ones it depends on."""
    found = {}
    for entry in _sql_dir().joinpath("functions").iterdir():
        match = _FUNCTION_NAME.match(entry.name)
        if match:
            found[match[1]] = function_from_text(match[1], entry.read_text(encoding="utf-8"))
    return dependency_order(found)


@cache
def _query_texts() -> dict[str, str]:
    texts = {}
    for entry in _sql_dir().joinpath("queries").iterdir():
        if entry.name.endswith(".sql"):
            texts[entry.name[:-4]] = entry.read_text(encoding="utf-8")
    return texts


def check_schema_name(schema: str) -> str:
    if not isinstance(schema, str) or not schema:
        raise ConfigurationError("schema", "must be a non-empty string")
    if "\x00" in schema:
        raise ConfigurationError("schema", "must not contain NUL characters")
    try:
        size = len(schema.encode("utf-8"))
    except UnicodeEncodeError:
        raise ConfigurationError(
            "schema", "must be valid Unicode text (a lone surrogate)"
        ) from None
    if size > 63:
        raise ConfigurationError("schema", "must be at most 63 bytes (a PostgreSQL identifier)")
    return schema


@cache
def queries_for(schema: str) -> dict[str, str]:
    """Every query with the quoted schema name filled in, keyed by file name."""
    check_schema_name(schema)
    # Every query runs with parameters, so psycopg reads "%" as a placeholder even inside the
    # quoted name: double it, or a schema named "a%s" would change the statement.
    ident = sql.SQL(sql.Identifier(schema).as_string(None).replace("%", "%%"))
    return {
        name: sql.SQL(text).format(schema=ident).as_string(None)
        for name, text in _query_texts().items()
    }


ROLE_KINDS = ("producer", "worker")


def grant_sql(schema: str, kind: str, role: str) -> str:
    """The statements that give ``role`` the rights of a producer (add jobs only) or a worker
    (run jobs, no DDL) on ``schema``; run them as the schema owner. See sql/roles/*.sql."""
    check_schema_name(schema)
    if kind not in ROLE_KINDS:
        raise ConfigurationError("kind", f"must be one of {', '.join(ROLE_KINDS)} (got {kind!r})")
    if not isinstance(role, str) or not role or "\x00" in role:
        raise ConfigurationError("role", "must be a non-empty role name without NUL characters")
    text = _sql_dir().joinpath("roles", f"{kind}.sql").read_text(encoding="utf-8")
    return (
        sql.SQL(text)
        .format(
            schema=sql.Identifier(schema),
            role=sql.Identifier(role),
            schema_literal=sql.Literal(schema),
            role_literal=sql.Literal(role),
        )
        .as_string(None)
    )


def notify_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel on which ``schema`` announces new jobs (see notify_channel())."""
    if len(schema.encode("utf-8")) <= 60:
        return "tc:" + schema
    return "tc:" + hashlib.md5(schema.encode("utf-8")).hexdigest()
