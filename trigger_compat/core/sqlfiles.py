"""SQL text shipped with the package: queries and migrations, read once.

Query files use ``{schema}`` where the (quoted) schema name goes; :func:`queries_for` fills it
in with :mod:`psycopg.sql`, so a schema name can never change the meaning of a statement.
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
    ident = sql.Identifier(schema)
    return {
        name: sql.SQL(text).format(schema=ident).as_string(None)
        for name, text in _query_texts().items()
    }


def notify_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel on which ``schema`` announces new jobs (see notify_channel())."""
    if len(schema.encode("utf-8")) <= 60:
        return "tc:" + schema
    return "tc:" + hashlib.md5(schema.encode("utf-8")).hexdigest()
