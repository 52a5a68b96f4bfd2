"""What every command shares: finding the database, whether to colour the output."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

EMBEDDED_DATA_DIR = Path(".trigger-compat") / "pgdata"

F = TypeVar("F", bound=Callable[..., Any])


def resolve_database_url(database_url: str | None) -> str:
    """The given URL, else ``DATABASE_URL``, else the embedded server (with a notice)."""
    url = database_url or os.environ.get("DATABASE_URL")
    if url:
        return url
    from ..testing.server import start_embedded_server

    data_dir = EMBEDDED_DATA_DIR.resolve()
    click.echo(f"No DATABASE_URL: using the embedded PostgreSQL, data in {data_dir}", err=True)
    return start_embedded_server(data_dir)


def database_url_option(fn: F) -> F:
    """``--database-url`` (default ``$DATABASE_URL``), for :func:`resolve_database_url`."""
    return click.option(
        "--database-url",
        envvar="DATABASE_URL",
        default=None,
        help="PostgreSQL URL (default: $DATABASE_URL, else an embedded server).",
    )(fn)


def color() -> bool | None:
    """False when ``NO_COLOR`` is set; else None (click colours only a terminal)."""
    return False if os.environ.get("NO_COLOR") else None
