"""A textual snapshot of what a schema contains, for the schema-diff test."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

PLACEHOLDER = "<schema>"

_QUERIES: dict[str, str] = {
    "table": """
        select table_name, table_type
          from information_schema.tables where table_schema = %(schema)s
         order by table_name""",
    "column": """
        select table_name, column_name, data_type, is_nullable, column_default,
               is_identity, identity_generation, is_generated, generation_expression
          from information_schema.columns where table_schema = %(schema)s
         order by table_name, ordinal_position""",
    "constraint": """
        select t.relname, c.conname, c.contype, pg_get_constraintdef(c.oid)
          from pg_constraint c
          join pg_class t on t.oid = c.conrelid
          join pg_namespace n on n.oid = c.connamespace
         where n.nspname = %(schema)s and c.contype in ('c', 'f', 'p', 'u', 'x')
         order by t.relname, c.conname""",
    "index": """
        select tablename, indexname, indexdef
          from pg_indexes where schemaname = %(schema)s
         order by tablename, indexname""",
    "type": """
        select t.typname,
               string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', '
                          order by a.attnum)
          from pg_type t
          join pg_namespace n on n.oid = t.typnamespace
          join pg_class c on c.oid = t.typrelid and c.relkind = 'c'
          join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
         where n.nspname = %(schema)s
         group by t.typname
         order by t.typname""",
    "function": """
        select p.proname, pg_get_function_identity_arguments(p.oid),
               pg_get_function_result(p.oid), l.lanname, p.provolatile, p.proconfig
          from pg_proc p
          join pg_namespace n on n.oid = p.pronamespace
          join pg_language l on l.oid = p.prolang
         where n.nspname = %(schema)s
         order by p.proname, 2""",
}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def catalog_snapshot(conn: psycopg.Connection[Any], schema: str) -> str:
    """Tables, columns, constraints, indexes, composite types and functions of ``schema``,
    one per line, with the schema's name replaced by a placeholder."""
    quoted = sql.Identifier(schema).as_string(conn)
    lines: list[str] = []
    for kind, query in _QUERIES.items():
        for row in conn.execute(query, {"schema": schema}).fetchall():
            line = kind + " | " + " | ".join(_cell(v) for v in row)
            lines.append(line.replace(quoted, PLACEHOLDER).replace(schema, PLACEHOLDER))
    return "\n".join(lines) + "\n"
