"""``trigger-compat graphile face install|uninstall``: the graphile-worker face
(:mod:`trigger_compat.cutover.face`), a schema that unmodified graphile-worker producers
(trigger.dev v2's ZodWorker) enqueue into, with trigger-compat's jobs behind it.

Exit codes: 0 done, 1 nothing to uninstall, 2 bad input (a name, a role that does not exist, a
schema that is not a face), 4 database (unreachable, the trigger-compat schema not migrated).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
import psycopg

from ..core.dberrors import MIGRATE_HINT, translate
from ..cutover.face import DEFAULT_SHAPE, SHAPES, install_face, uninstall_face
from ..errors import DatabaseUnavailableError, SchemaError, TriggerCompatError
from ._common import (
    EXIT_DATABASE,
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    F,
    chosen_database_url,
    database_options,
    exit_code_of,
    fail,
    one_line,
)
from .graphile import graphile

_SHELL_MIGRATE_HINT = (
    "run `trigger-compat migrate` (same --database-url, --schema = the trigger-compat schema) first"
)


@graphile.group("face")
def face() -> None:
    """The graphile-worker face: a schema whose add_job/remove_job/... (graphile-worker's
    names, arguments and job rows) enqueue into trigger-compat. Point the TypeScript
    producers' WORKER_SCHEMA at it."""


def _face_schema_option(fn: F) -> F:
    return click.option(
        "--schema",
        "face_schema",
        required=True,
        metavar="NAME",
        help="The face's schema (what WORKER_SCHEMA names), not the trigger-compat schema.",
    )(fn)


@contextmanager
def _handled(target: str | None, url: str) -> Iterator[None]:
    """trigger-compat and database errors as one line and a documented exit code."""
    try:
        yield
    except (SchemaError, DatabaseUnavailableError) as exc:
        fail(str(exc).replace(MIGRATE_HINT, _SHELL_MIGRATE_HINT), EXIT_DATABASE)
    except TriggerCompatError as exc:
        fail(str(exc), EXIT_USAGE)
    except psycopg.Error as exc:
        mapped = translate(exc, schema=target or "", conninfo=url)
        if mapped is not None:
            message = str(mapped).replace(MIGRATE_HINT, _SHELL_MIGRATE_HINT)
            fail(message, exit_code_of(mapped))
        advice = (
            "; install the face as the owner of the trigger-compat schema (the role that ran "
            "`trigger-compat migrate`)"
            if isinstance(exc, psycopg.errors.InsufficientPrivilege)
            else f" (SQLSTATE {exc.sqlstate})"
            if exc.sqlstate
            else ""
        )
        fail(f"the database refused: {one_line(str(exc))}{advice}", EXIT_DATABASE)


def _url(database_url: str | None) -> str:
    try:
        return chosen_database_url(database_url)
    except TriggerCompatError as exc:
        fail(str(exc), EXIT_USAGE)


@face.command("install")
@database_options
@_face_schema_option
@click.option(
    "--trigger-compat-schema",
    "target",
    envvar="TRIGGER_COMPAT_SCHEMA",
    default=None,
    metavar="NAME",
    help="The trigger-compat schema the face enqueues into (default: the catalog's "
    "databaseSchema, else trigger_compat; $TRIGGER_COMPAT_SCHEMA).",
)
@click.option(
    "--catalog",
    "catalog_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Catalog file whose databaseSchema is the default trigger-compat schema (default: "
    "./catalog.yaml when it exists).",
)
@click.option(
    "--shape",
    type=click.Choice(SHAPES),
    default=DEFAULT_SHAPE,
    show_default=True,
    help="The graphile-worker version whose job rows the face returns (trigger.dev v2 ran 0.13 "
    "until 2024, then 0.16.6).",
)
@click.option(
    "--grant-to",
    "grant_to",
    multiple=True,
    metavar="ROLE",
    help="A role that may call the face and nothing else (repeatable).",
)
def install(
    database_url: str | None,
    face_schema: str,
    target: str | None,
    catalog_path: str | None,
    shape: str,
    grant_to: tuple[str, ...],
) -> None:
    """Create (or update) the face schema NAME for a trigger-compat schema. Safe to run
    again; an existing schema that is not a face is refused, and so is a face holding objects
    it did not make (graphile-worker's migrations ran on it: uninstall it first)."""
    url = _url(database_url)
    if target is None:
        from .admin import _schema_of_catalog_file

        target = _schema_of_catalog_file(catalog_path)
    with _handled(target, url):
        done = install_face(url, face_schema, target=target, shape=shape, grant_to=grant_to)
    what = "installed" if done.changed else "already installed (unchanged)"
    click.echo(
        f"graphile face {face_schema} (shape {done.face.shape}) {what}: enqueues into "
        f"trigger-compat schema {done.face.target}"
    )
    if done.granted:
        click.echo(f"may call it: {', '.join(done.granted)}")
    click.echo(f"point the producers' WORKER_SCHEMA at {face_schema}")


@face.command("uninstall")
@database_options
@_face_schema_option
def uninstall(database_url: str | None, face_schema: str) -> None:
    """Drop the face schema NAME (nothing of the trigger-compat schema it enqueued into)."""
    url = _url(database_url)
    with _handled(None, url):
        dropped = uninstall_face(url, face_schema)
    if dropped is None:
        fail(f"schema {face_schema!r} is not a graphile face; nothing was dropped", EXIT_NOT_FOUND)
    click.echo(
        f"graphile face {face_schema} dropped; trigger-compat schema {dropped.target} is unchanged"
    )
