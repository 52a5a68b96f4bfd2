"""The graphile-worker face: a schema whose functions answer graphile-worker's SQL calls with
the jobs of a trigger-compat schema.

trigger.dev v2's ZodWorker enqueues with ``select * from <WORKER_SCHEMA>.add_job(identifier =>
…, payload => …, …, job_key_mode => …)`` and dequeues with ``select * from
<WORKER_SCHEMA>.remove_job(job_key => …)``. With ``WORKER_SCHEMA`` pointed at a face, the
unmodified TypeScript producers enqueue straight into trigger-compat while Python workers run
the jobs.

The face has graphile-worker's ``add_job``, ``add_jobs`` (and its ``job_spec`` type),
``remove_job``, ``complete_jobs``, ``permanently_fail_jobs``, ``reschedule_jobs`` and
``force_unlock_workers``, with graphile's argument names, types and defaults, and a read-only
``migrations`` view reporting every migration of graphile-worker 0.16.6 as applied (so that the
webapp's start-up migration check, and graphile's ``runMigrations`` it calls, find nothing to
do and change nothing; the view takes no inserts). Each function calls the
function of the same name in the trigger-compat schema (job-key modes, wake-ups: exactly
:meth:`Client.add_job <trigger_compat.Client.add_job>`), and returns its rows in the job-row
shape of the chosen graphile-worker version, which ZodWorker's parser accepts:

``"0.13"``
    graphile-worker 0.13's ``jobs`` row: ``queue_name`` and ``task_identifier``, integer
    priority and attempts.
``"0.16"`` (default)
    graphile-worker 0.16's ``_private_jobs`` row: ``job_queue_id`` and ``task_id`` instead of
    the names (trigger-compat stores names, so these are derived from them and the same for
    every job of a queue or task: ``hashtext(name) & 2147483647``, ``job_queue_id`` null
    without a named queue), smallint priority and attempts, and ``is_available``.

``remove_job`` of an unknown key returns one row of nulls, as graphile-worker does (ZodWorker
then returns ``undefined``). The face adds no rules of its own, so where trigger-compat differs
from graphile-worker the face does too: a job locked more than 4 hours ago counts as locked
(trigger-compat rescues the jobs of dead workers by their heartbeat instead), and the checks
of bad input are trigger-compat's table constraints.

The face's functions run with the rights of the role that installed it (``SECURITY DEFINER``,
``search_path`` pinned, every name schema-qualified); EXECUTE is revoked from ``PUBLIC``;
``grant_to`` roles get usage of the face schema and EXECUTE on its functions, and nothing on
the trigger-compat schema. Install as the owner of the trigger-compat schema (the role that ran
``migrate``), and again after upgrading trigger-compat (a changed face is replaced).

The schema comment marks a face (``trigger-compat graphile face {json}``): :func:`install_face`
creates the schema or replaces a face, never another schema, and refuses a face that holds
objects it did not make (graphile-worker's tables, after its migrations were run on the face as
a role that may create there); :func:`uninstall_face` drops only a face (with whatever it
holds).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import psycopg
from psycopg import sql

from ..core.dberrors import MIGRATE_HINT, translate
from ..core.dsn import split_pooled
from ..core.sqlfiles import ADVISORY_LOCK_CLASSES, DEFAULT_SCHEMA, check_schema_name
from ..errors import ConfigurationError, SchemaNotMigratedError

Shape = Literal["0.13", "0.16"]
SHAPES: tuple[Shape, ...] = ("0.13", "0.16")
DEFAULT_SHAPE: Shape = "0.16"

#: The job row type each shape's functions return (a composite type in the face schema).
ROW_TYPES: dict[str, str] = {"0.13": "jobs", "0.16": "_private_jobs"}

#: The graphile-worker functions of a face, as ``name(argument types)``.
FUNCTIONS = (
    "add_job(text, json, text, timestamptz, integer, text, integer, text[], text)",
    "add_jobs(job_spec[], boolean)",
    "remove_job(text)",
    "complete_jobs(bigint[])",
    "permanently_fail_jobs(bigint[], text)",
    "reschedule_jobs(bigint[], timestamptz, integer, integer, integer)",
    "force_unlock_workers(text[])",
)

_MARKER = "trigger-compat graphile face "

# The trigger-compat functions a face calls: the target schema must have them (be migrated).
_TARGET_FUNCTIONS = (
    "add_job(text, jsonb, text, timestamptz, integer, text, integer, text[], text, "
    "timestamptz, boolean)",
    "add_jobs(text[], jsonb[], text[], timestamptz[], integer[], text[], integer[], jsonb[], "
    "text[], boolean, timestamptz)",
    "remove_job(text)",
    "complete_jobs(bigint[], text)",
    "permanently_fail_jobs(bigint[], text)",
    "reschedule_jobs(bigint[], timestamptz, integer, integer, integer)",
    "force_unlock_workers(text[])",
    "flags_object(text[])",
)


@dataclass(frozen=True)
class Face:
    """An installed face: its schema, the trigger-compat schema it acts on (``target``), its
    shape, and the SHA-256 of the SQL it was made from (a face made by another version of
    trigger-compat has another one)."""

    schema: str
    target: str
    shape: str
    sha256: str


@dataclass(frozen=True)
class FaceInstall:
    """What :func:`install_face` did: ``changed`` is false when the same face was there
    already (only the grants were applied); ``granted`` lists the roles that may call it."""

    face: Face
    changed: bool
    granted: tuple[str, ...]


def _text(name: str) -> str:
    folder = resources.files("trigger_compat").joinpath("sql", "cutover")
    return folder.joinpath(name).read_text(encoding="utf-8")


def _check_shape(shape: str) -> Shape:
    for known in SHAPES:
        if shape == known:
            return known
    raise ConfigurationError(
        "shape", f"must be one of {', '.join(SHAPES)} (the graphile-worker version; got {shape!r})"
    )


def _check_names(face: str, target: str) -> None:
    try:
        check_schema_name(face)
    except ConfigurationError as exc:
        raise ConfigurationError("face schema", str(exc).partition(": ")[2]) from None
    check_schema_name(target)
    if face == target:
        raise ConfigurationError(
            "face schema",
            f"must not be the trigger-compat schema {target!r}: give the face a schema of its "
            "own (for example graphile_face)",
        )


def _check_roles(grant_to: str | Iterable[str] | None) -> tuple[str, ...]:
    if grant_to is None:
        return ()
    roles = (grant_to,) if isinstance(grant_to, str) else tuple(grant_to)
    for role in roles:
        if not isinstance(role, str) or not role or "\x00" in role:
            raise ConfigurationError(
                "grant_to", f"must be role names without NUL characters (got {role!r})"
            )
    return roles


def face_sql(face: str, target: str = DEFAULT_SCHEMA, shape: str = DEFAULT_SHAPE) -> str:
    """The statements that create the face's types and functions in the (existing, empty)
    schema ``face``, acting on the trigger-compat schema ``target``."""
    _check_names(face, target)
    shape = _check_shape(shape)
    names = {
        "face": sql.Identifier(face),
        "target": sql.Identifier(target),
        "row": sql.Identifier(face, ROW_TYPES[shape]),
    }
    texts = (
        _text(f"face_row_{shape}.sql"),
        _text("face_functions.sql"),
        _text("face_migrations.sql"),
    )
    return "\n".join(sql.SQL(t).format(**names).as_string(None) for t in texts)


def grant_face_sql(face: str, role: str) -> str:
    """The statements that let ``role`` call the face ``face`` (and nothing else)."""
    check_schema_name(face)
    (role,) = _check_roles(role)
    return (
        sql.SQL(_text("face_grant.sql"))
        .format(face=sql.Identifier(face), role=sql.Identifier(role))
        .as_string(None)
    )


def _sha256() -> str:
    text = "\n".join(
        _text(n)
        for n in (
            "face_row_0.13.sql",
            "face_row_0.16.sql",
            "face_functions.sql",
            "face_migrations.sql",
            "face_grant.sql",
        )
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _marker(face: Face) -> str:
    return _MARKER + json.dumps(
        {"shape": face.shape, "target": face.target, "sha256": face.sha256}, sort_keys=True
    )


def _parse_marker(schema: str, comment: str | None) -> Face | None:
    if not comment or not comment.startswith(_MARKER):
        return None
    try:
        data = json.loads(comment[len(_MARKER) :])
        return Face(schema, str(data["target"]), str(data["shape"]), str(data["sha256"]))
    except (ValueError, KeyError, TypeError):
        return None


@contextmanager
def _connection(database: str | psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    if isinstance(database, psycopg.Connection):
        yield database
        return
    try:
        # a pooled URL's `pgbouncer=true` marker is for trigger-compat, not for libpq
        conn = psycopg.connect(
            split_pooled(database)[0],
            autocommit=True,
            connect_timeout=10,
            prepare_threshold=None,
        )
    except psycopg.Error as exc:
        mapped = translate(exc, schema="", conninfo=database)
        if mapped is None:
            raise
        raise mapped from None
    with conn:
        yield conn


def _schema_state(cur: psycopg.Cursor[Any], schema: str) -> tuple[bool, str | None, int]:
    """Whether ``schema`` exists, its comment, and how many objects it holds."""
    row = cur.execute(
        """
        select n.oid, pg_catalog.obj_description(n.oid, 'pg_namespace'),
               (select count(*) from pg_catalog.pg_depend d
                 where d.refclassid = 'pg_catalog.pg_namespace'::regclass
                   and d.refobjid = n.oid and d.deptype = 'n')
          from pg_catalog.pg_namespace n where n.nspname = %s
        """,
        (schema,),
    ).fetchone()
    if row is None:
        return False, None, 0
    return True, row[1], int(row[2])


def _face_of(cur: psycopg.Cursor[Any], schema: str) -> Face | None:
    exists, comment, _ = _schema_state(cur, schema)
    return _parse_marker(schema, comment) if exists else None


def _grantees(cur: psycopg.Cursor[Any], schema: str) -> tuple[str, ...]:
    """The roles other than the owner that may use ``schema`` (those a face was granted to)."""
    rows = cur.execute(
        """
        select distinct a.grantee::regrole::text
          from pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) as a
         where n.nspname = %s and a.privilege_type = 'USAGE' and a.grantee <> n.nspowner
           and a.grantee <> 0
         order by 1
        """,
        (schema,),
    ).fetchall()
    # regrole::text quotes a name that needs it; the grants take the bare name.
    return tuple(_unquote(r[0]) for r in rows)


def _unquote(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return name[1:-1].replace('""', '"')
    return name


def _check_target(cur: psycopg.Cursor[Any], target: str) -> None:
    missing = [
        f
        for f in _TARGET_FUNCTIONS
        if cur.execute(
            "select pg_catalog.to_regprocedure(%s) is null",
            (sql.Identifier(target).as_string(None) + "." + f,),
        ).fetchone()
        == (True,)
    ]
    if missing:
        raise SchemaNotMigratedError(
            f"schema {target!r} is not a migrated trigger-compat schema (no "
            f"{missing[0].partition('(')[0]}() there); {MIGRATE_HINT}, or name the right "
            "trigger-compat schema"
        )


def _own_functions(face: Face) -> list[str]:
    """The functions ``face`` makes, as regprocedure texts."""
    qface = sql.Identifier(face.schema).as_string(None)
    qtarget = sql.Identifier(face.target).as_string(None)
    signatures = [f.replace("job_spec[]", f"{qface}.job_spec[]") for f in FUNCTIONS]
    return [f"{qface}.{s}" for s in (*signatures, f"_job_row({qtarget}.jobs)")]


def _objects(cur: psycopg.Cursor[Any], face: Face) -> tuple[list[str], int]:
    """The objects in the schema of ``face`` that a face does not make (described), and how
    many of the face's own objects are there."""
    types = [ROW_TYPES.get(face.shape, ""), "job_spec"]
    rows = cur.execute(
        _text("face_objects.sql"),
        {"schema": face.schema, "functions": _own_functions(face), "types": types},
    ).fetchall()
    return [str(r[0]) for r in rows if not r[1]], sum(1 for r in rows if r[1])


def _check_only_the_face(cur: psycopg.Cursor[Any], face: Face) -> bool:
    """Refuse a face that holds objects the face does not make; true when one of the face's
    own objects is missing (the face must be made again)."""
    foreign, own = _objects(cur, face)
    if foreign:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        raise ConfigurationError(
            "face schema",
            f"graphile face {face.schema!r} holds {len(foreign)} object(s) the face does not "
            f"make ({shown}; graphile-worker's migrations were run on it); nothing was changed: "
            f"run `trigger-compat graphile face uninstall --schema {face.schema}` (it drops the "
            "schema with them), then install again",
        )
    # The face's functions, its two composite types and the migrations view.
    return own < len(FUNCTIONS) + 1 + 2 + 1


def face_info(database: str | psycopg.Connection[Any], schema: str) -> Face | None:
    """The face installed in ``schema``, or None when ``schema`` is not a face."""
    check_schema_name(schema)
    with _connection(database) as conn, conn.cursor() as cur:
        return _face_of(cur, schema)


def install_face(
    database: str | psycopg.Connection[Any],
    schema: str,
    *,
    target: str = DEFAULT_SCHEMA,
    shape: str = DEFAULT_SHAPE,
    grant_to: str | Iterable[str] | None = None,
) -> FaceInstall:
    """Install the face ``schema`` for the trigger-compat schema ``target`` in ``shape``
    (``"0.13"`` or ``"0.16"``), letting the ``grant_to`` role(s) call it. Idempotent: the same
    face is left as it is (grants applied); a face of another shape, target or version is
    replaced in the same transaction, keeping the roles it was granted to, as is a face missing
    one of its objects. An existing schema that is not a face is refused
    (:class:`ConfigurationError`), and so is a face that holds objects the face does not make
    (graphile-worker's, when its migrations ran on the face): install never drops what it did
    not make, so ``uninstall_face`` first (it drops them). A ``target`` that is not migrated is
    refused (:class:`SchemaNotMigratedError`). One transaction: nothing changes on error.
    """
    _check_names(schema, target)
    checked_shape = _check_shape(shape)
    roles = _check_roles(grant_to)
    wanted = Face(schema, target, checked_shape, _sha256())
    with _connection(database) as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "select pg_catalog.pg_advisory_xact_lock(%s, pg_catalog.hashtext(%s))",
            (ADVISORY_LOCK_CLASSES["migrate"], schema),
        )
        _check_target(cur, target)
        exists, comment, objects = _schema_state(cur, schema)
        current = _parse_marker(schema, comment) if exists else None
        if exists and current is None:
            # Never adopt a schema the face did not make: uninstall drops the whole schema.
            held = f"it holds {objects} object(s)" if objects else "it is empty"
            raise ConfigurationError(
                "face schema",
                f"schema {schema!r} exists and is not a graphile face ({held}); the face needs "
                "a schema of its own: choose another name (for example graphile_face), or drop "
                "that schema first (the jobs of a graphile-worker schema move with "
                "`trigger-compat graphile import`)",
            )
        schema_id = sql.Identifier(schema)
        keep: tuple[str, ...] = ()
        changed = current != wanted
        if current is not None and _check_only_the_face(cur, current):
            changed = True
        if changed:
            if current is not None:
                keep = _grantees(cur, schema)
                cur.execute(sql.SQL("drop schema {} cascade").format(schema_id))
            cur.execute(sql.SQL("create schema if not exists {}").format(schema_id))
            cur.execute(face_sql(schema, target, checked_shape))
            cur.execute(
                sql.SQL("comment on schema {} is {}").format(
                    schema_id, sql.Literal(_marker(wanted))
                )
            )
        granted = tuple(dict.fromkeys((*keep, *roles)))
        for role in granted:
            try:
                with conn.transaction():
                    cur.execute(grant_face_sql(schema, role))
            except psycopg.errors.UndefinedObject:
                raise ConfigurationError(
                    "grant_to",
                    f"role {role!r} does not exist; create it first (create role ... login) "
                    "or leave it out",
                ) from None
        return FaceInstall(wanted, changed, tuple(sorted(granted)))


def uninstall_face(database: str | psycopg.Connection[Any], schema: str) -> Face | None:
    """Drop the face ``schema`` (its types and functions, nothing of the trigger-compat schema
    it acts on). Returns the face dropped, or None when ``schema`` is not a face (nothing is
    dropped: a schema without the face marker is never touched)."""
    check_schema_name(schema)
    with _connection(database) as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "select pg_catalog.pg_advisory_xact_lock(%s, pg_catalog.hashtext(%s))",
            (ADVISORY_LOCK_CLASSES["migrate"], schema),
        )
        face = _face_of(cur, schema)
        if face is None:
            return None
        cur.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(schema)))
        return face


__all__ = [
    "DEFAULT_SHAPE",
    "FUNCTIONS",
    "ROW_TYPES",
    "SHAPES",
    "Face",
    "FaceInstall",
    "Shape",
    "face_info",
    "face_sql",
    "grant_face_sql",
    "install_face",
    "uninstall_face",
]
