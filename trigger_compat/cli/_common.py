"""What every command shares: the exit codes, the one-line error, finding the database,
whether to colour the output.

Exit codes (every command; the README's "Exit codes" table):

==  ================================================================================
0   success
1   the answer is no: nothing found (``jobs show``, ``remove``, ``retry``/``fail``/
    ``reschedule`` when none of the IDS could be changed, ``catalog show --task``),
    unhealthy (``health``), problems found (``catalog validate``)
2   bad input: an option or argument, the database URL (or none given), a payload, a
    duration, a catalog file missing or invalid, ``--app`` not importable, a port taken
3   refused: no ``--yes`` without a terminal, or "no" at the prompt
4   database: unreachable, or the schema not migrated or ahead of this version
130 interrupted (Ctrl-C at a prompt)
==  ================================================================================
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from ..errors import ConfigurationError, DatabaseUnavailableError, SchemaError

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_UNHEALTHY = 1
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_DATABASE = 4
EXIT_INTERRUPTED = 130

EMBEDDED_DATA_DIR = Path(".trigger-compat") / "pgdata"

F = TypeVar("F", bound=Callable[..., Any])

_URL_EXAMPLE = "postgresql://USER:PASSWORD@HOST:5432/DATABASE"


def one_line(text: str) -> str:
    """``text`` with its line breaks and runs of whitespace folded into single spaces."""
    return " ".join(text.split())


def fail(message: str, code: int) -> NoReturn:
    """``error: message`` as one line on stderr, then exit with ``code``."""
    click.echo(f"error: {one_line(message)}", err=True)
    sys.exit(code)


def exit_code_of(exc: Exception) -> int:
    """The exit code of a trigger-compat error: 4 for the database, else 2 (bad input)."""
    return EXIT_DATABASE if isinstance(exc, (DatabaseUnavailableError, SchemaError)) else EXIT_USAGE


def check_database_url(url: str, field: str = "--database-url (or DATABASE_URL)") -> str:
    """``url`` when it is a PostgreSQL URL or key=value conninfo, else a
    :class:`ConfigurationError` that says what to write instead (never the password).
    ``?pgbouncer=true`` is allowed (and kept: the client reads it)."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    from ..core.dsn import redact_message, split_pooled

    shown = redact_message(url, url)
    scheme, sep, _ = url.partition("://")
    if sep and scheme.lower() not in ("postgres", "postgresql"):
        driver = scheme.partition("+")[2]
        advice = (
            f"drop the driver suffix '+{driver}' (postgresql://…)"
            if scheme.lower().startswith("postgres") and driver
            else f"trigger-compat needs PostgreSQL: {_URL_EXAMPLE}"
        )
        raise ConfigurationError(field, f"a {scheme}:// URL was given; {advice}")
    bare, _ = split_pooled(url, field=field)  # trigger.dev's ?pgbouncer=true is ours to read
    try:
        conninfo_to_dict(bare)
    except ProgrammingError as exc:
        reason = one_line(redact_message(str(exc), url))
        raise ConfigurationError(
            field, f"{shown!r} is not a PostgreSQL URL ({reason}); write {_URL_EXAMPLE}"
        ) from None
    return url


def _embedded_url() -> str:
    from ..testing.server import start_embedded_server

    data_dir = EMBEDDED_DATA_DIR.resolve()
    click.echo(f"using the embedded PostgreSQL, data in {data_dir}", err=True)
    return start_embedded_server(data_dir)


def resolve_database_url(database_url: str | None) -> str:
    """For ``demo`` only: the given URL (checked), else ``DATABASE_URL``, else the embedded
    server (with a notice). Every other command uses :func:`chosen_database_url`."""
    url = database_url or os.environ.get("DATABASE_URL")
    if url:
        return check_database_url(url)
    return _embedded_url()


def chosen_database_url(database_url: str | None) -> str:
    """The database named by ``--database-url``/``DATABASE_URL`` or ``--embedded`` (see
    :func:`database_options`); a :class:`ConfigurationError` (exit 2) when none is named: an
    operator command never runs against a database nobody chose."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get(_EMBEDDED_KEY):
        if database_url:
            from click.core import ParameterSource

            if ctx.get_parameter_source("database_url") == ParameterSource.COMMANDLINE:
                raise ConfigurationError(None, "give --database-url or --embedded, not both")
        return _embedded_url()
    if database_url:
        return check_database_url(database_url)
    raise ConfigurationError(
        None,
        "no database given: pass --database-url URL or set DATABASE_URL "
        f"({_URL_EXAMPLE}), or pass --embedded for a local server with its data in "
        f"./{EMBEDDED_DATA_DIR}",
    )


def database_url_option(fn: F) -> F:
    """``--database-url`` (default ``$DATABASE_URL``), for :func:`resolve_database_url`
    (``demo``, which starts the embedded server when neither is given)."""
    return click.option(
        "--database-url",
        envvar="DATABASE_URL",
        default=None,
        help="PostgreSQL URL (default: $DATABASE_URL, else an embedded server).",
    )(fn)


_EMBEDDED_KEY = "trigger_compat.embedded"


def _remember_embedded(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    ctx.meta[_EMBEDDED_KEY] = value


def database_options(fn: F) -> F:
    """``--database-url`` (default ``$DATABASE_URL``) and ``--embedded``, for
    :func:`chosen_database_url`: one of them is required."""
    fn = click.option(
        "--embedded",
        is_flag=True,
        expose_value=False,
        callback=_remember_embedded,
        help=f"Use a local embedded PostgreSQL (data in ./{EMBEDDED_DATA_DIR}; needs the "
        "'embedded' extra) instead of --database-url.",
    )(fn)
    return click.option(
        "--database-url",
        envvar="DATABASE_URL",
        default=None,
        help="PostgreSQL URL (default: $DATABASE_URL); this or --embedded is required.",
    )(fn)


def color() -> bool | None:
    """False when ``NO_COLOR`` is set; else None (click colours only a terminal)."""
    return False if os.environ.get("NO_COLOR") else None
