"""What every command shares: finding the database."""

from __future__ import annotations

import os
from pathlib import Path

import click

EMBEDDED_DATA_DIR = Path(".trigger-compat") / "pgdata"


def resolve_database_url(database_url: str | None) -> str:
    """The given URL, else ``DATABASE_URL``, else the embedded server (with a notice)."""
    url = database_url or os.environ.get("DATABASE_URL")
    if url:
        return url
    from ..testing.server import start_embedded_server

    data_dir = EMBEDDED_DATA_DIR.resolve()
    click.echo(f"No DATABASE_URL: using the embedded PostgreSQL, data in {data_dir}", err=True)
    return start_embedded_server(data_dir)
