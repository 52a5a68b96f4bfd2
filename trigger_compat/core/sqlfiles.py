"""SQL text shipped with the package: queries and migrations, read once.

Query files use ``{schema}`` where the (quoted) schema name goes; :func:`queries_for` fills it
in with :mod:`psycopg.sql`, so a schema name can never change the meaning of a statement.
Every query is executed with a parameter dict (``{}`` when it has none).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from psycopg import sql

from ..errors import InvalidJobError

DEFAULT_SCHEMA = "trigger_compat"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def _sql_dir() -> resources.abc.Traversable:
    return resources.files("trigger_compat").joinpath("sql")


@cache
def migrations() -> tuple[Migration, ...]:
    """All migrations shipped with this version, oldest first."""
    found = []
    for entry in _sql_dir().joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    return tuple(found)


@cache
def _query_texts() -> dict[str, str]:
    texts = {}
    for entry in _sql_dir().joinpath("queries").iterdir():
        if entry.name.endswith(".sql"):
            texts[entry.name[:-4]] = entry.read_text(encoding="utf-8")
    return texts


def check_schema_name(schema: str) -> str:
    if not isinstance(schema, str) or not schema:
        raise InvalidJobError("schema", "must be a non-empty string")
    if "\x00" in schema:
        raise InvalidJobError("schema", "must not contain NUL characters")
    try:
        size = len(schema.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidJobError("schema", "must be valid Unicode text (a lone surrogate)") from None
    if size > 63:
        raise InvalidJobError("schema", "must be at most 63 bytes (a PostgreSQL identifier)")
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
        raise InvalidJobError("kind", f"must be one of {', '.join(ROLE_KINDS)} (got {kind!r})")
    if not isinstance(role, str) or not role or "\x00" in role:
        raise InvalidJobError("role", "must be a non-empty role name without NUL characters")
    text = _sql_dir().joinpath("roles", f"{kind}.sql").read_text(encoding="utf-8")
    return (
        sql.SQL(text)
        .format(schema=sql.Identifier(schema), role=sql.Identifier(role))
        .as_string(None)
    )


def notify_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel on which ``schema`` announces new jobs (see notify_channel())."""
    if len(schema.encode("utf-8")) <= 60:
        return "tc:" + schema
    return "tc:" + hashlib.md5(schema.encode("utf-8")).hexdigest()
